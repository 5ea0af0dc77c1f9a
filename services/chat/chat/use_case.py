"""The base of chat's use-case classes that write through the outbox: what each one is built with."""

from collections.abc import Callable

from chat.settings import ChatSettings
from shared.clock import Clock
from shared.db import SessionFactory


class UseCase:
    def __init__(self, factory: SessionFactory, settings: ChatSettings, clock: Clock,
                 on_outbox: Callable[[], None]) -> None:
        self.factory = factory
        self.settings = settings
        self.clock = clock
        self._on_outbox = on_outbox  # wakes the outbox relay after a commit
