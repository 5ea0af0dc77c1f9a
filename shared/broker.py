"""Broker factory and topology declaration shared by every service."""

import logging

from faststream.rabbit import Channel, RabbitBroker
from faststream.rabbit.opentelemetry import RabbitTelemetryMiddleware

from shared import topology
from shared.bounded_messages import BoundedCodec, BoundedMessages
from shared.metrics import BROKER_METRICS
from shared.tracing import MessageContextMiddleware, tracing_enabled

log = logging.getLogger(__name__)


def make_broker(url: str, *, prefetch: int | None = 32, graceful_timeout: float = 30.0) -> RabbitBroker:
    """A broker whose publishes are confirmed and whose unroutable publishes raise."""
    # Outermost first: metrics time everything; the trace span is open while the message's ids are
    # set for the logs. Spans cost CPU on every message, so only when they are exported.
    telemetry = (RabbitTelemetryMiddleware(),) if tracing_enabled() else ()
    # BoundedMessages innermost: it writes the body the others have seen as the object it was.
    middlewares = (BROKER_METRICS, *telemetry, MessageContextMiddleware, BoundedMessages)
    return RabbitBroker(
        url,
        codec=BoundedCodec(),
        default_channel=Channel(
            prefetch_count=prefetch, publisher_confirms=True, on_return_raises=True
        ),
        graceful_timeout=graceful_timeout,
        middlewares=middlewares,
        logger=logging.getLogger("faststream"),
        log_level=logging.DEBUG,
    )


async def declare_topology(broker: RabbitBroker) -> None:
    """Declare every exchange, work queue, dead-letter queue and binding (idempotent).

    Every service runs this at start-up, so a publish never finds a missing binding because the
    consuming service has not started yet: its queue holds the message until it does.
    """
    for exchange in (topology.COMMANDS, topology.EVENTS, topology.DLX, topology.RPC):
        await broker.declare_exchange(exchange)
    for queue in topology.WORK_QUEUES:
        exchange = topology.COMMANDS if queue.routing_key in _COMMAND_KEYS else topology.EVENTS
        declared = await broker.declare_queue(queue)
        await declared.bind(exchange.name, routing_key=queue.routing_key)
        dlq = await broker.declare_queue(topology.dead_letter_queue(queue.name))
        await dlq.bind(topology.DLX.name, routing_key=f"{queue.name}.dlq")
        await broker.declare_queue(topology.retry_queue(queue.name))  # reached through the default exchange
    stream = await broker.declare_queue(topology.GATEWAY_STREAM)
    for key in topology.STREAM_KEYS:
        await stream.bind(topology.EVENTS.name, routing_key=key)


_COMMAND_KEYS = {topology.Keys.GENERATE_REPLY, topology.Keys.GENERATE_TITLE}
