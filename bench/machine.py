"""What the figures were measured on: CPUs, memory, CPU model, OS, Python and wrk versions."""

import os
import platform
import subprocess
from pathlib import Path


def _first(path: str, prefix: str) -> str | None:
    try:
        for line in Path(path).read_text().splitlines():
            if line.startswith(prefix):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def memory_gib() -> float | None:
    total = _first("/proc/meminfo", "MemTotal")
    return int(total.split()[0]) / 1024 / 1024 if total else None


def wrk_version(wrk: str) -> str:
    try:
        out = subprocess.run([wrk, "-v"], check=False, capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    words = out.split()
    return words[1] if len(words) > 1 else "unknown"


def describe(wrk: str) -> str:
    memory = memory_gib()
    cpu = _first("/proc/cpuinfo", "model name") or platform.processor() or "unknown CPU"
    parts = [f"{cpu_count()} CPUs ({cpu})", f"{memory:.1f} GiB memory" if memory else "memory unknown",
             f"{platform.system()} {platform.release()}", f"Python {platform.python_version()}",
             f"wrk {wrk_version(wrk)}"]
    return ", ".join(parts)
