"""The base of chat's use-case classes that write through the outbox: what each one is built with, and
the steps more than one of them takes."""

from collections.abc import Callable

from sqlmodel.ext.asyncio.session import AsyncSession

from chat.models import Message
from chat.repository import ChatRepository
from chat.settings import ChatSettings
from shared.clock import Clock
from shared.contracts import chat as c
from shared.db import SessionFactory
from shared.topology import EVENTS, Keys

# Called after each commit that may have stored outbox rows, with its session: the relay publishes the
# rows that session stored (chat.outbox). None: rows of a commit this process cannot see.
OnOutbox = Callable[[AsyncSession | None], None]


class UseCase:
    def __init__(self, factory: SessionFactory, settings: ChatSettings, clock: Clock,
                 on_outbox: OnOutbox) -> None:
        self.factory = factory
        self.settings = settings
        self.clock = clock
        self._on_outbox = on_outbox


async def fail_reply(repo: ChatRepository, message: Message, error: str) -> None:
    """Record that the reply to `message` failed and queue the stream's `reply.failed` with it, in the
    same transaction (`ReplyFailureStored`); a failure recorded again is not announced again."""
    if message.reply_status != "failed":
        await repo.enqueue(EVENTS.name, Keys.REPLY_FAILURE_STORED, c.ReplyFailureStored(
            exchange_id=message.exchange_id, session_id=message.session_id, user_id=message.user_id, error=error,
        ))
    message.reply_status, message.reply_error = "failed", error
    repo.add(message)
