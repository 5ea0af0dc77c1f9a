"""The RabbitMQ topology, declared once: exchanges, routing keys and queues.

Routing keys are `<owner>.<snake_name>`; queues `<consumer>.<purpose>`; every work queue is a
durable quorum queue with a delivery limit whose poison messages dead-letter to `<queue>.dlq`.
"""

from faststream.rabbit import ExchangeType, QueueType, RabbitExchange, RabbitQueue

DELIVERY_LIMIT = 5

COMMANDS = RabbitExchange("commands", type=ExchangeType.DIRECT, durable=True)
EVENTS = RabbitExchange("events", type=ExchangeType.TOPIC, durable=True)
DLX = RabbitExchange("dlx", type=ExchangeType.DIRECT, durable=True)
RPC = RabbitExchange("rpc", type=ExchangeType.DIRECT, durable=True)


class Keys:
    """Routing keys, by owning service."""

    # gateway events
    USER_REGISTERED = "gateway.user_registered"
    # llm-worker commands (consumed by the worker) and events (published by it)
    GENERATE_REPLY = "llm.generate_reply"
    GENERATE_TITLE = "llm.generate_title"
    REPLY_COMPLETED = "llm.reply_completed"
    REPLY_FAILED = "llm.reply_failed"
    TITLE_GENERATED = "llm.title_generated"
    # billing events
    SUBSCRIPTION_STARTED = "billing.subscription_started"
    # chat events
    REPLY_QUEUED = "chat.reply_queued"
    REPLY_STORED = "chat.reply_stored"
    REPLY_FAILURE_STORED = "chat.reply_failure_stored"
    REPLY_STOP_REQUESTED = "chat.reply_stop_requested"
    SESSION_TITLED = "chat.session_titled"
    EXCHANGE_ABANDONED = "chat.exchange_abandoned"


def dead_letter_queue(name: str) -> RabbitQueue:
    return RabbitQueue(
        f"{name}.dlq",
        durable=True,
        queue_type=QueueType.QUORUM,
        routing_key=f"{name}.dlq",
    )


def retry_queue(name: str) -> RabbitQueue:
    """Where a transiently failing message of work queue `name` waits out its backoff
    (shared.consumers): nobody consumes it; each message's TTL dead-letters it back into `name`
    through the default exchange. Classic, as a delay queue holds nothing worth replicating twice
    over: the original is acked only once its copy here is confirmed."""
    return RabbitQueue(
        f"{name}.retry",
        durable=True,
        routing_key=f"{name}.retry",
        arguments={"x-dead-letter-exchange": "", "x-dead-letter-routing-key": name},
    )


def work_queue(name: str, routing_key: str, *, single_active: bool = False) -> RabbitQueue:
    """A durable quorum queue with a delivery limit and a dead-letter queue."""
    arguments: dict = {
        "x-delivery-limit": DELIVERY_LIMIT,
        "x-dead-letter-exchange": DLX.name,
        "x-dead-letter-routing-key": f"{name}.dlq",
    }
    if single_active:
        arguments["x-single-active-consumer"] = True
    return RabbitQueue(
        name,
        durable=True,
        queue_type=QueueType.QUORUM,
        routing_key=routing_key,
        arguments=arguments,
    )


# Work queues, by consumer.
LLM_GENERATE_REPLY = work_queue("llm-worker.generate_reply", Keys.GENERATE_REPLY)
LLM_GENERATE_TITLE = work_queue("llm-worker.generate_title", Keys.GENERATE_TITLE)
CHAT_REPLY_COMPLETED = work_queue("chat.reply_completed", Keys.REPLY_COMPLETED)
CHAT_REPLY_FAILED = work_queue("chat.reply_failed", Keys.REPLY_FAILED)
CHAT_TITLE_GENERATED = work_queue("chat.title_generated", Keys.TITLE_GENERATED)
BILLING_REPLY_COMPLETED = work_queue("billing.reply_completed", Keys.REPLY_COMPLETED)
BILLING_REPLY_FAILED = work_queue("billing.reply_failed", Keys.REPLY_FAILED)
BILLING_TITLE_GENERATED = work_queue("billing.title_generated", Keys.TITLE_GENERATED)
BILLING_EXCHANGE_ABANDONED = work_queue("billing.exchange_abandoned", Keys.EXCHANGE_ABANDONED)
BILLING_USER_REGISTERED = work_queue("billing.user_registered", Keys.USER_REGISTERED)
GATEWAY_SUBSCRIPTION_STARTED = work_queue("gateway.subscription_started", Keys.SUBSCRIPTION_STARTED)

WORK_QUEUES: tuple[RabbitQueue, ...] = (
    LLM_GENERATE_REPLY,
    LLM_GENERATE_TITLE,
    CHAT_REPLY_COMPLETED,
    CHAT_REPLY_FAILED,
    CHAT_TITLE_GENERATED,
    BILLING_REPLY_COMPLETED,
    BILLING_REPLY_FAILED,
    BILLING_TITLE_GENERATED,
    BILLING_EXCHANGE_ABANDONED,
    BILLING_USER_REGISTERED,
    GATEWAY_SUBSCRIPTION_STARTED,
)

# Routing keys the gateway's stream fan-out listens to (status and titles; the worker writes a reply's
# deltas to the session's Redis stream itself, shared.reply_stream).
STREAM_KEYS: tuple[str, ...] = (
    Keys.REPLY_QUEUED,
    Keys.REPLY_STORED,
    Keys.REPLY_FAILURE_STORED,
    Keys.SESSION_TITLED,
)

# One consumer at a time keeps a session's events in order while any gateway replica may hold it.
GATEWAY_STREAM = RabbitQueue(
    "gateway.stream_events",
    durable=True,
    arguments={"x-single-active-consumer": True, "x-message-ttl": 60_000},
)


def rpc_queue(query: str) -> RabbitQueue:
    """Request queue of one RPC query (`<service>.<query>` → queue `<service>.rpc.<query>`).

    Requests expire after a minute: a caller has given up long before, so a stale request is
    never processed after a restart.
    """
    service, _, name = query.partition(".")
    return RabbitQueue(
        f"{service}.rpc.{name}",
        durable=True,
        routing_key=query,
        arguments={"x-message-ttl": 60_000},
    )


def worker_control_queue(instance: str) -> RabbitQueue:
    """Per-worker broadcast queue (stop requests reach every worker)."""
    return RabbitQueue(
        f"llm-worker.control.{instance}",
        exclusive=True,
        auto_delete=True,
        routing_key=Keys.REPLY_STOP_REQUESTED,
    )
