"""Which exchanges the user has stopped: live generations are signalled, early stops remembered."""

import asyncio
import contextlib
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from uuid import UUID


class StopRegistry:
    def __init__(self, remember_seconds: float = 900.0, capacity: int = 10_000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._live: dict[UUID, set[asyncio.Event]] = {}
        # A stop can arrive before any worker took the command (it waited for capacity); every
        # worker hears it, so whichever takes the command later still honours it.
        self._early: OrderedDict[UUID, float] = OrderedDict()
        self._remember = remember_seconds
        self._capacity = capacity
        self._clock = clock

    def request(self, exchange_id: UUID) -> bool:
        """Stop the exchange; True when a generation in this process was signalled."""
        events = self._live.get(exchange_id)
        if events:
            for event in events:
                event.set()
            return True
        self._early[exchange_id] = self._clock() + self._remember
        self._early.move_to_end(exchange_id)
        while len(self._early) > self._capacity:
            self._early.popitem(last=False)
        return False

    def stopped_early(self, exchange_id: UUID) -> bool:
        deadline = self._early.pop(exchange_id, None)
        return deadline is not None and deadline > self._clock()

    @contextlib.contextmanager
    def watch(self, exchange_id: UUID) -> Iterator[asyncio.Event]:
        """An event set when the exchange is stopped while the block runs."""
        event = asyncio.Event()
        self._live.setdefault(exchange_id, set()).add(event)
        try:
            yield event
        finally:
            events = self._live.get(exchange_id)
            if events is not None:
                events.discard(event)
                if not events:
                    del self._live[exchange_id]

    @property
    def live_count(self) -> int:
        return len(self._live)
