"""Consumer helpers for work queues."""

import contextvars
import errno
import functools
import logging
import socket
import sqlite3
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import aiormq
import httpx
import pamqp.commands
import redis.exceptions
import sqlalchemy.exc
from aio_pika.abc import AbstractIncomingMessage
from faststream.exceptions import HandlerException, RejectMessage

from shared import metrics

log = logging.getLogger(__name__)

# The delivery being handled, set by shared.tracing.MessageContextMiddleware. Handlers read it here
# instead of asking FastStream for a `RabbitMessage` argument: FastStream resolves such context
# arguments in a thread pool, a thread hop on every message.
delivery_var: contextvars.ContextVar[AbstractIncomingMessage | None] = contextvars.ContextVar(
    "delivery", default=None
)


def current_delivery() -> AbstractIncomingMessage:
    delivery = delivery_var.get()
    if delivery is None:
        raise RuntimeError("no message is being handled (is MessageContextMiddleware on the broker?)")
    return delivery


@dataclass(frozen=True)
class RetryPolicy:
    """How long transient failures are retried (architecture §4): capped exponential backoff for as
    long as an outage can last, then the message gives up into its `.dlq` like poison."""

    base_seconds: float = 1.0
    cap_seconds: float = 60.0
    max_seconds: float = 1800.0

    def delay(self, attempt: int) -> float:
        return min(self.base_seconds * 2 ** max(0, attempt - 1), self.cap_seconds)


_policy = RetryPolicy()


def configure_retries(policy: RetryPolicy) -> None:
    """Set at start-up from the service's settings (RETRY_* variables)."""
    global _policy
    _policy = policy


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    todo: list[BaseException | None] = [exc]
    while todo:
        current = todo.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        todo += [current.__cause__, current.__context__, getattr(current, "orig", None)]


# SQLSTATEs of failures that pass by themselves: connection exceptions (class 08), serialization
# failure, deadlock, lock not available, query cancelled (a statement timeout), the server shutting
# down or starting, too many connections.
_TRANSIENT_SQLSTATES = {"40001", "40P01", "55P03", "57014", "57P01", "57P02", "57P03", "53300"}
_TRANSIENT_STATUSES = {502, 503, 504}


def is_transient(exc: BaseException) -> bool:
    """A failure of a dependency that is down or slow (database, Redis, broker, a peer), which a
    later attempt may not meet; anything else is the message's own fault (poison)."""
    from shared.errors import Unavailable  # noqa: PLC0415 - shared.errors is light; avoids a cycle

    for err in _chain(exc):
        if isinstance(err, ConnectionError | TimeoutError | socket.gaierror | Unavailable):
            return True
        if isinstance(err, OSError) and err.errno in (errno.ETIMEDOUT, errno.EHOSTUNREACH, errno.ENETUNREACH):
            return True
        if isinstance(err, sqlalchemy.exc.DBAPIError) and err.connection_invalidated:
            return True
        if isinstance(err, sqlalchemy.exc.TimeoutError | sqlalchemy.exc.InterfaceError):
            return True  # no pooled connection in time; a connection that broke under us
        if isinstance(err, sqlite3.OperationalError) and "locked" in str(err):
            return True
        state = getattr(err, "sqlstate", None) or getattr(err, "pgcode", None)
        if isinstance(state, str) and (state.startswith("08") or state in _TRANSIENT_SQLSTATES):
            return True
        if isinstance(err, redis.exceptions.ConnectionError | redis.exceptions.TimeoutError):
            return True  # includes BusyLoadingError (a restarted Redis loading its data)
        if isinstance(err, httpx.TransportError):
            return True
        if isinstance(err, httpx.HTTPStatusError) and err.response.status_code in _TRANSIENT_STATUSES:
            return True
        if isinstance(err, aiormq.exceptions.AMQPConnectionError | aiormq.exceptions.ChannelInvalidStateError):
            return True
    return False


RETRY_ATTEMPT = "x-retry-attempt"
# When the message first failed, in whole milliseconds since the epoch. An integer on purpose: pamqp
# writes a Python float into an AMQP table as a 32-bit float, which holds today's epoch seconds only
# to the nearest 128 s, so the retry budget came out up to two minutes long or short.
RETRY_SINCE = "x-retry-since-ms"


def retry_queue_name(queue: str) -> str:
    return f"{queue}.retry"


async def _retry_later(delivery: AbstractIncomingMessage, queue: str, attempt: int, since_ms: int, delay: float) -> None:
    """Park a copy in the queue's delay queue; its TTL dead-letters it back to `queue` (confirmed
    before the original is acked: a crash in between only delivers it twice, which every consumer
    tolerates)."""
    props = delivery.properties
    headers = {**(props.headers or {}), RETRY_ATTEMPT: attempt, RETRY_SINCE: since_ms}
    headers.pop("x-death", None)  # the retry queue's own dead-lettering adds its own
    properties = pamqp.commands.Basic.Properties(
        content_type=props.content_type, content_encoding=props.content_encoding, headers=headers,
        delivery_mode=2, correlation_id=props.correlation_id, message_id=props.message_id,
        timestamp=props.timestamp, message_type=props.message_type, app_id=props.app_id,
        expiration=str(max(1, int(delay * 1000))),
    )
    confirmation = await delivery.channel.basic_publish(
        delivery.body, exchange="", routing_key=retry_queue_name(queue), properties=properties, mandatory=True,
    )
    if confirmation is not None and not isinstance(confirmation, pamqp.commands.Basic.Ack):
        raise ConnectionError(f"the broker did not take the retry of a {queue} message: {confirmation!r}")


def redeliver_on_error(queue: str) -> Callable[[Callable[..., Awaitable[Any]]], Callable[..., Awaitable[Any]]]:
    """Handle a message of work queue `queue` that fails.

    A transient failure (`is_transient`: a database, Redis, broker or peer down or slow) is retried
    after a capped exponential backoff through `<queue>.retry`, a queue nobody consumes whose
    per-message TTL dead-letters the copy back into `queue`; meanwhile the consumer takes other
    messages. Past `RetryPolicy.max_seconds` of failing it gives up into the `.dlq` (rejected).

    Anything else is poison: rejected *with requeue*, which counts toward the quorum queue's delivery
    limit on every RabbitMQ version (a plain nack stops counting from 4.3), so it ends in the
    queue's `.dlq` instead of looping. A body that does not even decode never reaches this wrapper:
    FastStream rejects it straight to the dead letters.
    """

    def decorator(fn: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
        @functools.wraps(fn)
        async def wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                return await fn(*args, **kwargs)
            except HandlerException:
                raise
            except Exception as exc:
                if not is_transient(exc):
                    metrics.CONSUMER_FAILURES.labels(queue, "poison").inc()
                    log.exception("handler %s failed; message goes back for redelivery", fn.__name__)
                    raise RejectMessage(requeue=True) from exc
                delivery = current_delivery()
                headers = delivery.headers or {}
                attempt = int(headers.get(RETRY_ATTEMPT, 0) or 0) + 1
                now_ms = int(time.time() * 1000)
                since_ms = int(headers.get(RETRY_SINCE, 0) or 0) or now_ms
                if now_ms - since_ms >= _policy.max_seconds * 1000:
                    metrics.CONSUMER_FAILURES.labels(queue, "gave_up").inc()
                    log.error("handler %s still failing after %.1f s (%r); message dead-lettered",
                              fn.__name__, (now_ms - since_ms) / 1000, exc)
                    raise RejectMessage(requeue=False) from exc
                delay = _policy.delay(attempt)
                try:
                    await _retry_later(delivery, queue, attempt, since_ms, delay)
                except Exception as parked:  # noqa: BLE001 - the broker is the trouble: plain redelivery
                    log.warning("could not park a retry of %s (%r); redelivering", queue, parked)
                    raise RejectMessage(requeue=True) from exc
                metrics.CONSUMER_FAILURES.labels(queue, "transient").inc()
                log.warning("handler %s failed transiently (%r); retry %d in %.1f s", fn.__name__, exc, attempt, delay)
                return None  # acked: its copy waits in the retry queue

        return wrapper

    return decorator
