"""A session's messages, read by pages for the API (the list is read, never changed here)."""

from chat.checks import invalid, owned_session
from chat.repository import ChatRepository
from chat.views import message_wire
from shared.contracts import chat as c
from shared.db import SessionFactory


class MessagePages:
    """The enabled messages of a caller's session, oldest first, by pages."""

    def __init__(self, factory: SessionFactory) -> None:
        self.factory = factory

    async def list_messages(self, q: c.SessionQuery) -> list[c.MessageOut]:
        """Every enabled message of the session, oldest first."""
        return (await self.page_messages(c.ListMessages(user_id=q.user_id, session_id=q.session_id))).messages

    async def page_messages(self, q: c.ListMessages) -> c.MessagePage:
        return c.MessagePage.model_validate(await self.message_page_wire(q))

    async def message_page_wire(self, q: c.ListMessages) -> dict:
        """The messages after / before a message of the session, or the newest `limit` of them, as
        the JSON of a MessagePage: rows go straight to wire dicts (the list is read, not changed)."""
        if q.limit is not None and not 1 <= q.limit <= c.MAX_MESSAGE_PAGE:
            raise invalid("limit", f"Must be from 1 to {c.MAX_MESSAGE_PAGE}.")
        async with self.factory() as s:
            repo = ChatRepository(s)
            await owned_session(repo, q)
            bounds = {}
            for name in ("after", "before"):
                message_id = getattr(q, name)
                if message_id is not None:
                    bounds[name] = await repo.message_position(q.session_id, message_id)
                    if bounds[name] is None:
                        raise invalid(name, "Not a message of this session.")
            rows, has_more = await repo.message_page(q.session_id, bounds.get("after"), bounds.get("before"), q.limit)
            return {"messages": [message_wire(row) for row in rows], "has_more": has_more}

