"""Looks behind the API for the fault tests: the services' SQLite databases, RabbitMQ queues, and raw
publishes (what a buggy or duplicating producer would send)."""

import asyncio
import sqlite3
import subprocess
from collections.abc import Sequence
from contextlib import closing
from pathlib import Path
from uuid import UUID

import aio_pika
from devinfra.system import System


def as_uuid(value: object) -> UUID:
    # SQLite stores UUID columns as 32 hex digits; the API and events use the dashed form.
    return UUID(str(value))


def _query(path: Path, sql: str, params: Sequence = ()) -> list[sqlite3.Row]:
    with closing(sqlite3.connect(path, timeout=30)) as conn:
        conn.row_factory = sqlite3.Row
        return conn.execute(sql, params).fetchall()


def _service_query(system: System, service: str, sql: str, params: Sequence = ()) -> list:
    """Rows of a service's database: its SQLite file, or the PostgreSQL database the System was
    given (the outage tests run on a private cluster)."""
    url = system.extra_env.get(f"{service.upper()}_DATABASE_URL", "")
    if not url.startswith("postgresql"):
        return _query(system.workdir / f"{service}.db", sql, params)
    parts = sql.split("?")
    numbered = parts[0] + "".join(f"${i}{part}" for i, part in enumerate(parts[1:], start=1))
    dsn = url.replace("postgresql+asyncpg://", "postgresql://")

    async def fetch() -> list:
        import asyncpg  # noqa: PLC0415 - only the PostgreSQL runs need it

        conn = await asyncpg.connect(dsn)
        try:
            return await conn.fetch(numbered, *params)
        finally:
            await conn.close()

    return _run(fetch())


def chat_messages(system: System, session_id: int) -> list[sqlite3.Row]:
    """Every message row of a session, disabled ones too, oldest first."""
    return _service_query(
        system, "chat",
        "SELECT message_id, message_type, exchange_id, reply_to_exchange_id, reply_status, disabled, content "
        "FROM message WHERE session_id = ? ORDER BY id",
        (session_id,),
    )


def outbox_rows(system: System) -> list[sqlite3.Row]:
    return _service_query(system, "chat", "SELECT exchange, routing_key, payload FROM outbox ORDER BY id")


def ledger_rows(system: System, user_id: int) -> list[sqlite3.Row]:
    """The user's billed exchanges (titles are billed too, but count against no limit)."""
    return _service_query(
        system, "billing",
        "SELECT exchange_id, session_id, effective_tokens, cost_nano, is_free_model FROM usage_ledger "
        "WHERE user_id = ? AND kind = 'exchange' ORDER BY id",
        (user_id,),
    )


def queue_depths(vhost: str, ctl: Sequence[str] = ("rabbitmqctl",)) -> dict[str, tuple[int, int]]:
    """{queue: (ready, unacknowledged)} as the broker itself counts them."""
    out = subprocess.run(
        [*ctl, "-q", "list_queues", "-p", vhost, "--no-table-headers", "name", "messages_ready",
         "messages_unacknowledged"],
        capture_output=True, text=True, timeout=60, check=True,
    ).stdout
    depths = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[1].isdigit():
            depths[parts[0]] = (int(parts[1]), int(parts[2]))
    return depths


def _run(coro):
    return asyncio.run(coro)


async def _publish(url: str, exchange: str, routing_key: str, bodies: Sequence[bytes], message_id: str | None) -> None:
    async with await aio_pika.connect(url) as conn:
        channel = await conn.channel(publisher_confirms=True)
        target = await channel.get_exchange(exchange, ensure=False)
        for body in bodies:
            await target.publish(
                aio_pika.Message(body, content_type="application/json", message_id=message_id,
                                 delivery_mode=aio_pika.DeliveryMode.PERSISTENT),
                routing_key=routing_key, mandatory=True,
            )


def publish_raw(url: str, exchange: str, routing_key: str, *bodies: bytes, message_id: str | None = None) -> None:
    """Publish bodies as they are (confirmed, mandatory): what no contract would let us send."""
    _run(_publish(url, exchange, routing_key, bodies, message_id))


async def _take_all(url: str, queue: str) -> list[aio_pika.IncomingMessage]:
    taken = []
    async with await aio_pika.connect(url) as conn:
        channel = await conn.channel()
        declared = await channel.declare_queue(queue, passive=True)
        while (message := await declared.get(fail=False)) is not None:
            await message.ack()
            taken.append(message)
    return taken


def take_all(url: str, queue: str) -> list[aio_pika.IncomingMessage]:
    """Consume (and ack) whatever a queue holds right now: dead-letter queues in the poison tests."""
    return _run(_take_all(url, queue))


async def _rebind(url: str, queue: str, exchange: str, routing_key: str, bind: bool) -> None:
    async with await aio_pika.connect(url) as conn:
        channel = await conn.channel()
        declared = await channel.declare_queue(queue, passive=True)
        if bind:
            await declared.bind(exchange, routing_key)
        else:
            await declared.unbind(exchange, routing_key)


def unbind(url: str, queue: str, exchange: str, routing_key: str) -> None:
    _run(_rebind(url, queue, exchange, routing_key, bind=False))


def bind(url: str, queue: str, exchange: str, routing_key: str) -> None:
    _run(_rebind(url, queue, exchange, routing_key, bind=True))
