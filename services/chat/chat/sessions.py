"""A user's chat sessions: create, list, read, update (model, title), delete."""

from chat.checks import (
    chatbot_denied,
    chatbot_usable,
    checked_text,
    invalid,
    model_denied,
    model_usable,
    owned_session,
)
from chat.models import AiModel, Chatbot, ChatSession
from chat.repository import ChatRepository
from chat.settings import ChatSettings
from chat.views import session_out
from shared.bounds import MAX_TITLE_CHARS
from shared.clock import Clock
from shared.contracts import chat as c
from shared.db import SessionFactory, transaction


class Sessions:
    """Session CRUD; a session's model and chatbot are checked against the caller's plan."""

    def __init__(self, factory: SessionFactory, settings: ChatSettings, clock: Clock) -> None:
        self.factory = factory
        self.settings = settings
        self.clock = clock

    async def _pick_model(self, repo: ChatRepository, bot: Chatbot, slug: str | None, plan_id: int) -> AiModel:
        if slug is not None:
            model = await repo.model_by_slug(slug)
            if model is None or not model.is_active:
                raise invalid("ai_model_id", f"Unknown or inactive AI model: {slug}")
            if not await model_usable(repo, model, plan_id):
                raise model_denied()
        else:
            model = await repo.model(bot.default_model_id) if bot.default_model_id else None
            if model is None or not await model_usable(repo, model, plan_id) or model.model_type != bot.chatbot_type:
                candidates = [m for m in await repo.usable_models(plan_id) if m.model_type == bot.chatbot_type]
                if not candidates:
                    raise model_denied()
                model = candidates[0]
        if model.model_type != bot.chatbot_type:
            raise invalid(
                "ai_model_id", f"A {bot.chatbot_type} chatbot needs a {bot.chatbot_type} model; {model.model_id} is {model.model_type}."
            )
        return model

    async def create_session(self, q: c.CreateSession) -> c.SessionOut:
        async with transaction(self.factory) as s:
            repo = ChatRepository(s)
            bot = await repo.chatbot(q.chatbot_id)
            if bot is None or not bot.is_active:
                raise invalid("chatbot_id", f"Unknown or inactive chatbot: {q.chatbot_id}")
            if not await chatbot_usable(repo, bot, q.plan_id):
                raise chatbot_denied()
            model = await self._pick_model(repo, bot, q.ai_model_id, q.plan_id)
            if q.title is not None:
                checked_text("title", q.title, MAX_TITLE_CHARS, "Title must be 1 to 200 characters.")
            now = self.clock.now()
            session = ChatSession(
                user_id=q.user_id, chatbot_id=bot.id, ai_model_id=model.id,
                title=q.title or self.settings.default_title, auto_generate_title=q.auto_generate_title,
                created_at=now, updated_at=now,
            )
            repo.add(session)
            await repo.flush()
            return session_out(session, bot, model)

    async def _session_view(self, repo: ChatRepository, session: ChatSession) -> c.SessionOut:
        return session_out(session, await repo.chatbot(session.chatbot_id), await repo.model(session.ai_model_id))

    async def list_sessions(self, q: c.ListSessions) -> c.SessionPage:
        async with self.factory() as s:
            before = None
            if q.before_updated_at is not None and q.before_id is not None:
                before = (q.before_updated_at, q.before_id)
            count, rows = await ChatRepository(s).list_sessions(q.user_id, q.offset, q.limit, before)
            return c.SessionPage(count=count, items=[session_out(row, bot, model) for row, bot, model in rows])

    async def get_session(self, q: c.SessionQuery) -> c.SessionOut:
        async with self.factory() as s:
            repo = ChatRepository(s)
            return await self._session_view(repo, await owned_session(repo, q))

    async def update_session(self, q: c.UpdateSession) -> c.SessionOut:
        async with transaction(self.factory) as s:
            repo = ChatRepository(s)
            session = await owned_session(repo, q)
            if q.ai_model_id is not None:
                bot = await repo.chatbot(session.chatbot_id)
                session.ai_model_id = (await self._pick_model(repo, bot, q.ai_model_id, q.plan_id)).id
            if q.title is not None:
                session.title = checked_text("title", q.title, MAX_TITLE_CHARS, "Title must be 1 to 200 characters.")
                session.auto_generate_title = False  # a chosen title is never overwritten
            if q.auto_generate_title is not None:
                session.auto_generate_title = q.auto_generate_title
            session.updated_at = self.clock.now()
            repo.add(session)
            return await self._session_view(repo, session)

    async def delete_session(self, q: c.SessionQuery) -> None:
        async with transaction(self.factory) as s:
            repo = ChatRepository(s)
            session = await owned_session(repo, q)
            session.is_active = False
            repo.add(session)

