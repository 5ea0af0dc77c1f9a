"""CPU time each process of the system used during a phase (from /proc), to show where the time goes: the
services, and in the realistic mode RabbitMQ and Redis too (bench.procs finds them)."""

import asyncio
import os
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from bench.report import Row, cpu_row

TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds of a live process, or None when it cannot be read."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may contain spaces; the fields after its ")" are fixed.
    fields = stat[stat.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def snapshot(pids: Mapping[str, int]) -> dict[str, float]:
    taken = {name: cpu_seconds(pid) for name, pid in pids.items()}
    return {name: seconds for name, seconds in taken.items() if seconds is not None}


def used(before: Mapping[str, float], after: Mapping[str, float]) -> dict[str, float]:
    return {name: after[name] - before[name] for name in before if name in after}


def fold(spent: Mapping[str, float]) -> dict[str, float]:
    """Processes named "group#n" (say, PostgreSQL's backends) summed under "group"."""
    folded: dict[str, float] = {}
    for name, seconds in spent.items():
        group = name.split("#", 1)[0]
        folded[group] = folded.get(group, 0.0) + seconds
    return folded


async def wait_idle(pids: Mapping[str, int], timeout_s: float, window_s: float = 0.5, cores: float = 0.1,
                    calm_windows: int = 2) -> bool:
    """Wait until the processes together use under `cores` CPUs for `calm_windows` windows in a row: the
    work in flight is done. Cheaper than asking the system, which would itself be work."""
    deadline = time.monotonic() + timeout_s
    calm = 0
    while time.monotonic() < deadline:
        before = snapshot(pids)
        await asyncio.sleep(window_s)
        calm = calm + 1 if sum(used(before, snapshot(pids)).values()) < cores * window_s else 0
        if calm >= calm_windows:
            return True
    return False


def busy_with_other_work() -> bool:
    """The 1-minute load average before our own load: above half the CPUs means someone else is busy."""
    try:
        return os.getloadavg()[0] > len(os.sched_getaffinity(0)) / 2
    except (OSError, AttributeError):
        return False


def load_average() -> str:
    try:
        one, five, fifteen = os.getloadavg()
    except OSError:
        return "unknown"
    return f"{one:.2f} / {five:.2f} / {fifteen:.2f}"


class CpuMeter:
    """CPU seconds each service process spends during a phase."""

    def __init__(self, pids: Mapping[str, int], rows: list[Row], prefix: str = "") -> None:
        self.pids = dict(pids)
        self.rows = rows
        self.prefix = prefix  # which run the rows belong to (e.g. the database)

    @contextmanager
    def phase(self, name: str, spent: dict[str, float] | None = None) -> Iterator[dict[str, float]]:
        """Yields `spent` (or a new dict): the CPU seconds by process, filled in once the phase is over."""
        spent = {} if spent is None else spent
        before, started = snapshot(self.pids), time.monotonic()
        yield spent
        spent.update(fold(used(before, snapshot(self.pids))))
        self.rows.append(cpu_row(self.prefix + name, time.monotonic() - started, spent))

    def per_operation(self, what: str, spent: dict[str, float], operations: int) -> None:
        if operations:
            self.rows.append(Row(f"{self.prefix}CPU ms per {what}", ", ".join(
                f"{name} {1000 * seconds / operations:.1f}"
                for name, seconds in sorted(spent.items(), key=lambda item: -item[1]))
                + f"; total {1000 * sum(spent.values()) / operations:.1f}"))
