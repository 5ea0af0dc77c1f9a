"""The base of chat's use-case classes that write through the outbox: what each one is built with."""

from collections.abc import Callable

from sqlmodel.ext.asyncio.session import AsyncSession

from chat.settings import ChatSettings
from shared.clock import Clock
from shared.db import SessionFactory

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
