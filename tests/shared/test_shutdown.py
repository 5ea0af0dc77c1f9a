"""A shutdown step past its deadline is cancelled and logged with what the tasks wait on; one that fails
is logged; neither stops the steps after it."""

import asyncio
import logging

from shared import shutdown


async def test_a_step_past_its_deadline_is_cancelled_and_logged_with_the_stacks(caplog):
    cancelled = asyncio.Event()

    async def hangs() -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise

    with caplog.at_level(logging.ERROR, logger="shared.shutdown"):
        await shutdown.step("relay", hangs(), 0.05)
    assert cancelled.is_set()
    [record] = caplog.records
    assert "'relay' still waiting" in record.getMessage() and "in hangs" in record.getMessage()


async def test_a_failing_step_is_logged_not_raised(caplog):
    async def fails() -> None:
        raise ConnectionError("broker gone")

    with caplog.at_level(logging.ERROR, logger="shared.shutdown"):
        await shutdown.step("broker", fails(), 1)
    [record] = caplog.records
    assert "'broker' failed" in record.getMessage() and record.exc_info[0] is ConnectionError


async def test_a_step_in_time_returns_quietly(caplog):
    with caplog.at_level(logging.ERROR, logger="shared.shutdown"):
        await shutdown.step("redis", asyncio.sleep(0), 1)
    assert caplog.records == []
