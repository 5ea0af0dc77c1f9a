"""Operator command: move the messages of a dead-letter queue back into their work queue.

    python -m shared.redrive chat.reply_completed            # every message of chat.reply_completed.dlq
    python -m shared.redrive chat.reply_completed.dlq --limit 10

Run it once the cause is fixed (a bug deployed away, a dependency back). Each message is published to
the work queue (persistent, confirmed) before it is acked in the `.dlq`, so a crash half-way only
delivers one twice, which every consumer tolerates (they are idempotent). At most the messages present
at the start are moved: one that fails again and dead-letters anew is not looped over. Its retry and
death history is dropped, so it gets a full delivery limit and retry budget again.
"""

import argparse
import asyncio
import os
import sys

import aio_pika

from shared.consumers import RETRY_ATTEMPT, RETRY_SINCE
from shared.topology import WORK_QUEUES

_DROPPED = {"x-death", "x-first-death-exchange", "x-first-death-queue", "x-first-death-reason",
            "x-last-death-exchange", "x-last-death-queue", "x-last-death-reason", "x-delivery-count",
            RETRY_ATTEMPT, RETRY_SINCE, "x-retry-since"}  # the last: the header's name before it held ms


async def redrive(rabbit_url: str, queue: str, limit: int | None = None) -> int:
    """Move up to `limit` messages from `<queue>.dlq` back to `queue`; answers how many moved."""
    queue = queue.removesuffix(".dlq")
    connection = await aio_pika.connect(rabbit_url)
    try:
        channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
        await channel.declare_queue(queue, passive=True)  # the work queue must exist
        dlq = await channel.declare_queue(f"{queue}.dlq", passive=True)
        budget = dlq.declaration_result.message_count
        if limit is not None:
            budget = min(budget, limit)
        moved = 0
        while moved < budget:
            message = await dlq.get(no_ack=False, fail=False)
            if message is None:
                break
            headers = {k: v for k, v in (message.headers or {}).items() if k not in _DROPPED}
            await channel.default_exchange.publish(
                aio_pika.Message(
                    message.body, headers=headers, content_type=message.content_type,
                    content_encoding=message.content_encoding, message_id=message.message_id,
                    correlation_id=message.correlation_id, timestamp=message.timestamp, type=message.type,
                    app_id=message.app_id, delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                ),
                routing_key=queue, mandatory=True,
            )
            await message.ack()
            moved += 1
        return moved
    finally:
        await connection.close()


def main(argv: list[str] | None = None) -> int:
    known = sorted(q.name for q in WORK_QUEUES)
    parser = argparse.ArgumentParser(prog="python -m shared.redrive", description=__doc__.split("\n\n")[0])
    parser.add_argument("queue", help=f"a work queue or its .dlq: one of {', '.join(known)}")
    parser.add_argument("--limit", type=int, default=None, help="move at most this many")
    parser.add_argument("--rabbit-url", default=os.environ.get("RABBIT_URL", "amqp://guest:guest@127.0.0.1:5672/"))
    args = parser.parse_args(argv)
    if args.queue.removesuffix(".dlq") not in known:
        parser.error(f"unknown work queue {args.queue!r}; one of {', '.join(known)}")
    moved = asyncio.run(redrive(args.rabbit_url, args.queue, args.limit))
    print(f"moved {moved} message(s) from {args.queue.removesuffix('.dlq')}.dlq back to {args.queue.removesuffix('.dlq')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
