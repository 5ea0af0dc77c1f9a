"""Publishes outbox rows: a stored state change is announced even if the process dies right after
committing it (the next relay run, in any replica, publishes what is left).

After a commit the use case hands the relay the rows its session stored (`committed`): they are
published as they are, without reading them back, and deleted with one statement. What no process
handed over (its process died, its publish failed) is found by a poll every `poll_seconds`, which takes
only rows older than `LEFT_BEHIND`: rows a live process is about to publish are not published
twice by another replica."""

import asyncio
import json
import logging
from collections import OrderedDict
from datetime import datetime, timedelta

from faststream.rabbit import RabbitBroker
from sqlmodel.ext.asyncio.session import AsyncSession

from chat.history import PromptPlan
from chat.models import Outbox
from chat.repository import ChatRepository, delete_outbox, stored_outbox
from shared import metrics, topology
from shared.clock import utcnow
from shared.db import SessionFactory, execute_alone
from shared.prompt_refs import PromptStore
from shared.tracing import continued_from

log = logging.getLogger(__name__)
EXCHANGES = {topology.COMMANDS.name: topology.COMMANDS, topology.EVENTS.name: topology.EVENTS}
# A row older than this that is still in the table was left behind: the poll publishes it.
LEFT_BEHIND = timedelta(seconds=5)
# Rows published lately, by id and payload (SQLite reuses the id of a deleted last row; every payload
# carries its message's own id): a row read from the table and also handed over goes out once.
REMEMBERED_ROWS = 4096


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
        self._handed: list[Outbox] = []  # committed rows handed over, not yet published
        self._flush_all = False  # a commit this process cannot see stored rows: read them all
        self._published: OrderedDict[tuple[int, int], None] = OrderedDict()
        # Rows stored before this relay existed were left by a predecessor. Taken here, not when the
        # task starts: the consumers start first, and a row they store must not count as left behind.
        self._created = utcnow()

    def committed(self, session: AsyncSession | None) -> None:
        """After a commit: publish the rows that session stored (None: a commit this process did not
        make, whose rows only the table knows)."""
        if session is None:
            self.kick()
        elif rows := stored_outbox(session):
            self._handed.extend(rows)
            self._wake.set()

    def kick(self) -> None:
        """Publish every row the table holds, however new."""
        self._flush_all = True
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
        await self.publish_handed()  # what the last requests stored,
        await self.flush()  # and whatever else is left

    async def _run(self) -> None:
        # Rows left by a predecessor go out at once, not after LEFT_BEHIND (a restarted chat publishes
        # what the one before it could not).
        try:
            await self.flush(before=self._created)
        except Exception:
            log.warning("outbox relay could not publish; will retry", exc_info=True)
        while True:
            # asyncio.timeout, not wait_for: on Python 3.11 a wait_for whose event is set just as the task
            # is cancelled returns instead of raising, and stop() then waited forever for this loop.
            polled = False
            try:
                async with asyncio.timeout(self.poll_seconds):
                    await self._wake.wait()
            except TimeoutError:
                polled = True
            self._wake.clear()
            try:
                await self.publish_handed()
                if self._flush_all or polled:
                    flush_all, self._flush_all = self._flush_all, False
                    await self.flush(before=None if flush_all else utcnow() - LEFT_BEHIND)
            except Exception:  # the broker may be reconnecting: rows stay and are retried
                log.warning("outbox relay could not publish; will retry", exc_info=True)
                await asyncio.sleep(self.poll_seconds)

    async def publish_handed(self) -> int:
        """Publish the rows handed over since the last call. If the broker fails, the rows not
        published stay in the table, where the poll finds them."""
        async with self._lock:
            rows, self._handed = self._handed, []
            if rows:
                await self._publish(rows)
            return len(rows)

    async def flush(self, batch: int = 200, *, before: datetime | None = None) -> int:
        """Publish the rows in the table (with `before`: those stored before it)."""
        published = 0
        async with self._lock:
            while True:
                async with self.factory() as s:
                    rows = await ChatRepository(s).pending_outbox(batch, before)
                # Set from the read the relay makes anyway: no extra query for the gauge.
                metrics.OUTBOX_PENDING.set(len(rows))
                if not rows:
                    return published
                await self._publish(rows)
                published += len(rows)
                if len(rows) < batch:  # that was all; rows stored meanwhile are handed over
                    metrics.OUTBOX_PENDING.set(0)
                    return published

    async def _publish(self, rows: list[Outbox]) -> None:
        sent: list[int] = []
        try:
            for row in rows:
                key = (row.id, hash(row.payload))
                if key not in self._published:
                    await self._publish_row(row)
                sent.append(row.id)
                self._published[key] = None
                if len(self._published) > REMEMBERED_ROWS:
                    self._published.popitem(last=False)
        finally:
            # Rows the broker confirmed are done even when a later one fails: kept, they would be
            # published twice (a duplicate command generates a reply twice). One statement.
            if sent:
                await execute_alone(self.factory, delete_outbox(sent))

    async def _publish_row(self, row: Outbox) -> None:
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
