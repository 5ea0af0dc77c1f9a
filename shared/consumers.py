"""Consumer helpers for work queues."""

import functools
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from faststream.exceptions import HandlerException, RejectMessage

log = logging.getLogger(__name__)


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
