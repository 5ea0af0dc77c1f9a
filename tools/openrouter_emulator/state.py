"""The emulator's memory: past generations, queued faults, retry counters and request stats."""

import time
from collections import Counter, OrderedDict, deque
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from typing import Any

from openrouter_emulator.directives import Fault


@dataclass
class Generation:
    id: str
    model: str
    tokens_prompt: int
    tokens_completion: int
    total_cost: Decimal
    streamed: bool
    finish_reason: str | None
    cancelled: bool = False
    created_at: float = field(default_factory=time.time)
    lookups_to_fail: int = 0  # `[[fault:no_usage lag=N]]`: stats "not yet available" N times

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("lookups_to_fail")
        data["total_cost"] = float(self.total_cost)
        data["native_tokens_prompt"] = self.tokens_prompt
        data["native_tokens_completion"] = self.tokens_completion
        data["provider_name"] = "Emulator"
        return data


@dataclass
class Stats:
    requests: int = 0
    streams_started: int = 0
    streams_completed: int = 0
    streams_cut: int = 0
    streams_disconnected: int = 0  # the client went away mid-stream (a stop)
    streams_active: int = 0
    streams_active_peak: int = 0  # most streams open at once (shows client concurrency)
    generation_lookups: int = 0
    # Distinct client connections completions came over: fewer than requests means keep-alive works.
    client_connections: set[str] = field(default_factory=set)
    by_status: Counter = field(default_factory=Counter)
    by_model: Counter = field(default_factory=Counter)
    last_headers: dict[str, str] = field(default_factory=dict)
    last_body: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["client_connections"] = len(self.client_connections)
        data["by_status"] = {str(k): v for k, v in self.by_status.items()}
        data["by_model"] = dict(self.by_model)
        return data


class EmulatorState:
    def __init__(self, generation_memory: int) -> None:
        self._generations: OrderedDict[str, Generation] = OrderedDict()
        self._memory = generation_memory
        self.queued_faults: deque[list[Fault]] = deque()
        self.fail_counts: Counter[str] = Counter()
        self.stats = Stats()

    def remember(self, generation: Generation) -> None:
        self._generations[generation.id] = generation
        while len(self._generations) > self._memory:
            self._generations.popitem(last=False)

    def lookup(self, generation_id: str) -> Generation | None:
        self.stats.generation_lookups += 1
        generation = self._generations.get(generation_id)
        if generation is None:
            return None
        if generation.lookups_to_fail > 0:
            generation.lookups_to_fail -= 1
            return None
        return generation

    def next_queued_faults(self) -> list[Fault]:
        return self.queued_faults.popleft() if self.queued_faults else []

    def clear_faults(self) -> None:
        self.queued_faults.clear()
        self.fail_counts.clear()

    def reset_stats(self) -> None:
        self.stats = Stats()
