"""What a user's plan offers of the catalog (chatbots, AI models), read for the API; staff editing is
`chat.admin`."""

from collections.abc import Awaitable, Callable
from typing import TypeVar

from chat.checks import chatbot_usable, model_usable
from chat.repository import ChatRepository
from chat.views import chatbot_out, model_out
from shared.contracts import chat as c
from shared.db import SessionFactory
from shared.errors import NotFound

Row = TypeVar("Row")
Out = TypeVar("Out")


class CatalogReads:
    """The chatbots and models a plan may use, listed or one by one."""

    def __init__(self, factory: SessionFactory) -> None:
        self.factory = factory

    async def list_chatbots(self, q: c.CatalogQuery) -> list[c.ChatbotOut]:
        async with self.factory() as s:
            return [chatbot_out(b) for b in await ChatRepository(s).usable_chatbots(q.plan_id)]

    async def get_chatbot(self, q: c.CatalogItemQuery) -> c.ChatbotOut:
        return await self._usable_one(q, ChatRepository.chatbot, chatbot_usable, chatbot_out)

    async def list_models(self, q: c.CatalogQuery) -> list[c.AiModelOut]:
        async with self.factory() as s:
            return [model_out(m) for m in await ChatRepository(s).usable_models(q.plan_id)]

    async def get_model(self, q: c.CatalogItemQuery) -> c.AiModelOut:
        return await self._usable_one(q, ChatRepository.model, model_usable, model_out)

    async def _usable_one(self, q: c.CatalogItemQuery, row: Callable[[ChatRepository, int], Awaitable[Row | None]],
                          usable: Callable[[ChatRepository, Row, int], Awaitable[bool]],
                          out: Callable[[Row], Out]) -> Out:
        """The item `q` names, if its plan may use it; else NotFound, the same as for an id that names
        nothing (a user cannot tell another plan's items from missing ones)."""
        async with self.factory() as s:
            repo = ChatRepository(s)
            item = await row(repo, q.item_id)
            if item is None or not await usable(repo, item, q.plan_id):
                raise NotFound()
            return out(item)
