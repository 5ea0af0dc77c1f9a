"""Event-loop lag: how late the loop runs a timer, that is how long everything waiting on it (a stream's
next delta, a heartbeat, a consumer's ack) could not be served. Each service samples it and exports a
histogram on its metrics port; the benchmark reads its p99 under load (architecture.md §7: ≤ 5 ms).
"""

import asyncio
import contextlib

from prometheus_client import Histogram

INTERVAL_SECONDS = 0.025  # 40 samples a second: a few microseconds of work each
# Fine below 10 ms, where the target is; coarse above, where any figure is already a problem.
BUCKETS = (0.0005, 0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0)
LOOP_LAG = Histogram("mobix_event_loop_lag_seconds",
                     "How late the event loop ran a timer, sampled every 25 ms", buckets=BUCKETS)


class LoopLagMonitor:
    """Sleeps `interval` again and again and records how much later than asked it woke up."""

    def __init__(self, histogram: Histogram = LOOP_LAG, interval: float = INTERVAL_SECONDS) -> None:
        self.histogram = histogram
        self.interval = interval
        self._task: asyncio.Task | None = None

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            asked = loop.time() + self.interval
            await asyncio.sleep(self.interval)
            self.histogram.observe(max(0.0, loop.time() - asked))

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="loop-lag-monitor")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
