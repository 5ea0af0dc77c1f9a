"""What a user's plan offers of the catalog (chatbots, AI models), read for the API; staff editing is
`chat.admin`."""

from chat.checks import chatbot_usable, model_usable
from chat.repository import ChatRepository
from chat.views import chatbot_out, model_out
from shared.contracts import chat as c
from shared.db import SessionFactory
from shared.errors import NotFound


class CatalogReads:
    """The chatbots and models a plan may use, listed or one by one."""

    def __init__(self, factory: SessionFactory) -> None:
        self.factory = factory

    async def list_chatbots(self, q: c.CatalogQuery) -> list[c.ChatbotOut]:
        async with self.factory() as s:
            return [chatbot_out(b) for b in await ChatRepository(s).usable_chatbots(q.plan_id)]

    async def get_chatbot(self, q: c.CatalogItemQuery) -> c.ChatbotOut:
        async with self.factory() as s:
            repo = ChatRepository(s)
            bot = await repo.chatbot(q.item_id)
            if bot is None or not await chatbot_usable(repo, bot, q.plan_id):
                raise NotFound()
            return chatbot_out(bot)

    async def list_models(self, q: c.CatalogQuery) -> list[c.AiModelOut]:
        async with self.factory() as s:
            return [model_out(m) for m in await ChatRepository(s).usable_models(q.plan_id)]

    async def get_model(self, q: c.CatalogItemQuery) -> c.AiModelOut:
        async with self.factory() as s:
            repo = ChatRepository(s)
            model = await repo.model(q.item_id)
            if model is None or not await model_usable(repo, model, q.plan_id):
                raise NotFound()
            return model_out(model)

