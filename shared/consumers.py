"""Consumer helpers for work queues."""

import contextvars
import functools
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aio_pika.abc import AbstractIncomingMessage
from faststream.exceptions import HandlerException, RejectMessage

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


def redeliver_on_error(fn: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
    """Reject an unexpectedly failing message *with requeue*.

    A requeueing reject counts toward the quorum queue's delivery limit on every RabbitMQ
    version (a plain nack stops counting from 4.3), so a transient failure is retried and a
    poison message ends in the queue's `.dlq` instead of looping. A body that does not even
    decode never reaches this wrapper: FastStream rejects it straight to the dead letters.
    """

    @functools.wraps(fn)
    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return await fn(*args, **kwargs)
        except HandlerException:
            raise
        except Exception as exc:
            log.exception("handler %s failed; message goes back for redelivery", fn.__name__)
            raise RejectMessage(requeue=True) from exc

    return wrapper
