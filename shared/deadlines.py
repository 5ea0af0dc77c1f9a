"""The deadline of the request being served (architecture §4: an RPC carries its deadline and the
callee does not commit past it).

The caller stamps each request with the wall-clock instant it stops waiting (`x-deadline`, epoch
seconds); the responder sets it here for the handler; `shared.db.transaction` bounds its statements
by it (PostgreSQL `statement_timeout`; SQLite's lock wait) and refuses to commit once too little of
it is left for the answer to reach a caller still waiting. Clocks of one deployment are NTP-synced;
a skew of a few hundred milliseconds is inside the margin.
"""

import contextlib
import contextvars
import time
from collections.abc import Iterator

from shared.errors import Timeout

HEADER = "x-deadline"
# The answer still has to travel back: a commit with less than this left could be answered after
# the caller gave up (it then asks chat, which finds the stored work: gateway.chat_exchanges).
COMMIT_MARGIN_SECONDS = 0.5

deadline_var: contextvars.ContextVar[float | None] = contextvars.ContextVar("deadline", default=None)


def stamp(timeout: float) -> str:
    return f"{time.time() + timeout:.3f}"


def parse(value: object) -> float | None:
    try:
        return float(value) if value is not None else None  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None


def remaining() -> float | None:
    """Seconds left before the current request's deadline (may be negative); None without one."""
    deadline = deadline_var.get()
    return None if deadline is None else deadline - time.time()


def check_can_commit() -> None:
    """Raise Timeout (the transaction rolls back) if the caller may no longer hear the commit."""
    left = remaining()
    if left is not None and left < COMMIT_MARGIN_SECONDS:
        raise Timeout("the request's deadline passed before its commit; nothing was stored")


@contextlib.contextmanager
def lifted() -> Iterator[None]:
    """No deadline inside: for what must be written even after the caller gave up (freeing a claim,
    queuing a release), never for the work whose answer the caller waits on."""
    token = deadline_var.set(None)
    try:
        yield
    finally:
        deadline_var.reset(token)
