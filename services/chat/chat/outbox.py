"""Publishes outbox rows: a stored state change is announced even if the process dies right after
committing it (the next relay run, in any replica, publishes what is left)."""

import asyncio
import json
import logging

from faststream.rabbit import RabbitBroker

from chat.history import PromptPlan
from chat.repository import ChatRepository
from shared import metrics, topology
from shared.db import SessionFactory, transaction
from shared.prompt_refs import PromptStore
from shared.tracing import continued_from

log = logging.getLogger(__name__)
EXCHANGES = {topology.COMMANDS.name: topology.COMMANDS, topology.EVENTS.name: topology.EVENTS}


class OutboxRelay:
    def __init__(self, factory: SessionFactory, broker: RabbitBroker, poll_seconds: float = 1.0,
                 prompts: PromptStore | None = None) -> None:
        self.factory = factory
        self.broker = broker
        self.prompts = prompts  # where a big prompt goes instead of the broker (shared.prompt_refs)
        self.poll_seconds = poll_seconds
        self._wake = asyncio.Event()
        self._lock = asyncio.Lock()
        self._task: asyncio.Task | None = None

    def kick(self) -> None:
        self._wake.set()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="outbox-relay")

    async def stop(self) -> None:
        if self._task is not None:
            # Under the lock the task is idle, never mid-batch: a publish cancelled before its
            # confirmation would leave its row behind, to be published a second time.
            async with self._lock:
                self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await self.flush()  # publish what the last requests stored

    async def _run(self) -> None:
        while True:
            # asyncio.timeout, not wait_for: on Python 3.11 a wait_for whose event is set just as the task
            # is cancelled returns instead of raising, and stop() then waited forever for this loop.
            try:
                async with asyncio.timeout(self.poll_seconds):
                    await self._wake.wait()
            except TimeoutError:
                pass
            self._wake.clear()
            try:
                await self.flush()
            except Exception:  # the broker may be reconnecting: rows stay and are retried
                log.warning("outbox relay could not publish; will retry", exc_info=True)
                await asyncio.sleep(self.poll_seconds)

    async def _with_prompt(self, body: dict, payload: str) -> dict:
        """A `GenerateReply` as it is published: its turns built from the plan the send left in
        their place (chat.history.PromptPlan), then moved to Redis if big (shared.prompt_refs).
        Built again from the same rows if this row is published again: the exchange's claim keeps
        the conversation as it was until its reply ends."""
        size = len(payload.encode())
        if (plan := body.pop(PromptPlan.KEY, None)) is not None:
            async with self.factory() as s:
                turns = await PromptPlan(**plan).turns(ChatRepository(s))
            body = {**body, "messages": turns}
            size = len(json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode())
        return body if self.prompts is None else await self.prompts.offload(body, size)

    async def flush(self, batch: int = 200) -> int:
        published = 0
        async with self._lock:
            while True:
                async with self.factory() as s:
                    rows = await ChatRepository(s).pending_outbox(batch)
                # Set from the read the relay makes anyway: no extra query for the gauge.
                metrics.OUTBOX_PENDING.set(len(rows))
                if not rows:
                    return published
                sent: list[int] = []
                try:
                    for row in rows:
                        body = json.loads(row.payload)
                        if row.routing_key == topology.Keys.GENERATE_REPLY:
                            body = await self._with_prompt(body, row.payload)
                        headers = json.loads(row.headers) if row.headers else {}
                        # Confirmed and mandatory: publish raises unless the broker stored it.
                        with continued_from(headers):
                            await self.broker.publish(
                                body,
                                exchange=EXCHANGES[row.exchange],
                                routing_key=row.routing_key,
                                persist=True,
                                message_id=body.get("message_id"),
                                headers=headers,
                            )
                        sent.append(row.id)
                finally:
                    # Rows the broker confirmed are done even when a later one fails: kept, they
                    # would be published twice (a duplicate command generates a reply twice).
                    if sent:
                        async with transaction(self.factory) as s:
                            await ChatRepository(s).delete_outbox(sent)
                published += len(rows)
                if len(rows) < batch:  # that was all; rows stored meanwhile come with their own kick
                    metrics.OUTBOX_PENDING.set(0)
                    return published
