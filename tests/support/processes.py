"""A helper process a test module serves from (localstripe, devinfra.stripe_local): started, waited
for until it answers, stopped afterwards."""

import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx


@contextmanager
def serving(argv: list[str], log_path: Path, ready: Callable[[], bool], *, timeout: float = 30,
            **popen: Any) -> Iterator[None]:
    """Run `argv` (its output in `log_path`) until `ready()` is true; a refused or failed connection
    counts as not yet. It is stopped on leaving, and at once when it did not start in `timeout`."""
    with log_path.open("w") as log:
        process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, **popen)
        try:
            deadline = time.monotonic() + timeout
            while not _answers(ready):
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"{argv[-1]} did not start: see {log_path}")
                time.sleep(0.2)
            yield
        finally:
            process.terminate()
            process.wait(timeout=10)


def _answers(ready: Callable[[], bool]) -> bool:
    try:
        return ready()
    except httpx.HTTPError:
        return False
