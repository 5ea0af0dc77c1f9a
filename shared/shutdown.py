"""Shutdown steps with a deadline each: a service asked to stop must exit, also when one of its steps
waits on something that never comes. A step past its deadline is cancelled and logged with the stack
of every task still running, so the log says what it waited on."""

import asyncio
import io
import logging
import time
from collections.abc import Awaitable

log = logging.getLogger(__name__)


def _task_stacks() -> str:
    out = io.StringIO()
    for task in asyncio.all_tasks():
        if task is not asyncio.current_task():
            task.print_stack(limit=12, file=out)
    return out.getvalue()


async def step(name: str, awaitable: Awaitable[object], seconds: float) -> None:
    """Await one shutdown step for at most `seconds`; an error of the step is logged, not raised, so
    the steps after it (closing connections) still run."""
    started = time.monotonic()
    task = asyncio.ensure_future(awaitable)
    done, _ = await asyncio.wait({task}, timeout=seconds)
    if not done:  # the stacks first: cancelled, the step would no longer show where it waited
        log.error("shutdown step %r still waiting after %.0f s; cancelled. Tasks:\n%s", name, seconds, _task_stacks())
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    elif (error := task.exception()) is not None:
        log.error("shutdown step %r failed: %r", name, error, exc_info=error)
    else:
        log.debug("shutdown step %r took %.3f s", name, time.monotonic() - started)
