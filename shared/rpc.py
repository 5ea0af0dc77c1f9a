"""Request/reply over RabbitMQ.

FastStream's own `broker.request` serialises calls behind one lock, which a gateway serving many
requests at once cannot afford. `RpcClient` keeps one direct reply-to consumer and matches answers
to any number of calls in flight by correlation id. `responder` wraps a FastStream handler so it
always answers: `{"ok": true, "result": ...}` or `{"ok": false, "error": {...}}`.
"""

import asyncio
import functools
import inspect
import json
import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import aio_pika
from aio_pika.abc import AbstractIncomingMessage
from faststream.rabbit import RabbitResponse, RabbitRouter
from pydantic import BaseModel, TypeAdapter

from shared import deadlines
from shared.bounded_messages import decoded
from shared.consumers import delivery_var
from shared.errors import DomainError, Timeout, Unavailable, from_wire
from shared.topology import RPC, rpc_queue
from shared.tracing import inject_headers

log = logging.getLogger(__name__)
T = TypeVar("T")
REPLY_TO = "amq.rabbitmq.reply-to"
# What each query's responder returns (its handler's return annotation), by query: the AsyncAPI
# document (tools/devinfra/asyncapi.py) describes the replies with it. `responder` hides the annotation
# from FastStream, which has no public accessor for the handler function anyway.
RESULT_TYPES: dict[str, Any] = {}


def to_jsonable(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, list | tuple):
        return [to_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {k: to_jsonable(v) for k, v in value.items()}
    return value


class RpcClient:
    """Concurrent RPC caller: `await rpc.call("chat.get_session", payload, Result)`."""

    def __init__(self, url: str, *, timeout: float = 10.0) -> None:
        self._url = url
        self._timeout = timeout
        self._pending: dict[str, asyncio.Future[dict]] = {}
        self._connection: aio_pika.abc.AbstractRobustConnection | None = None
        self._channel: aio_pika.abc.AbstractChannel | None = None
        self._exchange: aio_pika.abc.AbstractExchange | None = None

    async def connect(self) -> None:
        self._connection = await aio_pika.connect_robust(self._url)
        # Confirms + mandatory: a request to a queue nobody declared fails at once (503)
        # instead of waiting for the timeout.
        self._channel = await self._connection.channel(publisher_confirms=True, on_return_raises=True)
        self._exchange = await self._channel.declare_exchange(
            RPC.name, type=aio_pika.ExchangeType.DIRECT, durable=True
        )
        reply_queue = await self._channel.declare_queue(REPLY_TO, passive=True)
        await reply_queue.consume(self._on_reply, no_ack=True)

    async def close(self) -> None:
        for fut in self._pending.values():
            if not fut.done():
                fut.set_exception(Unavailable("RPC client closed"))
        if self._connection is not None:
            await self._connection.close()

    @property
    def connected(self) -> bool:
        return self._connection is not None and not self._connection.is_closed

    async def _on_reply(self, message: AbstractIncomingMessage) -> None:
        fut = self._pending.pop(message.correlation_id or "", None)
        if fut is None or fut.done():
            return
        try:
            fut.set_result(json.loads(decoded(message.body, message.content_type)))
        except ValueError as exc:
            fut.set_exception(Unavailable(f"malformed RPC reply: {exc}"))

    async def call(
        self,
        query: str,
        payload: BaseModel | dict[str, Any],
        result_type: type[T] | Any = None,
        *,
        timeout: float | None = None,
    ) -> T:
        if self._exchange is None:
            raise Unavailable("message broker not connected")
        correlation_id = uuid.uuid4().hex
        timeout = timeout or self._timeout
        fut: asyncio.Future[dict] = asyncio.get_running_loop().create_future()
        self._pending[correlation_id] = fut
        body = json.dumps(to_jsonable(payload), separators=(",", ":")).encode()
        try:
            await self._exchange.publish(
                aio_pika.Message(
                    body,
                    content_type="application/json",
                    correlation_id=correlation_id,
                    reply_to=REPLY_TO,
                    delivery_mode=aio_pika.DeliveryMode.NOT_PERSISTENT,
                    # Nobody waits for the answer after the timeout: the broker drops the request
                    # rather than have a restarted responder act on it.
                    expiration=timeout,
                    # the responder's span joins the caller's trace; it commits nothing past the deadline
                    headers={**inject_headers(), deadlines.HEADER: deadlines.stamp(timeout)},
                ),
                routing_key=query,
                mandatory=True,
            )
            async with asyncio.timeout(timeout):  # not wait_for, which can lose a cancel on Python 3.11
                answer = await fut
        except TimeoutError as exc:
            raise Timeout(f"{query} did not answer in time") from exc
        except aio_pika.exceptions.DeliveryError as exc:
            raise Unavailable(f"no service answers {query}") from exc
        except (aio_pika.exceptions.AMQPError, ConnectionError, RuntimeError) as exc:
            raise Unavailable(f"message broker unavailable: {exc}") from exc
        finally:
            self._pending.pop(correlation_id, None)
        if not answer.get("ok"):
            raise from_wire(answer.get("error") or {})
        result = answer.get("result")
        if result_type is None:
            return result  # type: ignore[return-value]
        return TypeAdapter(result_type).validate_python(result)


def responder(router: RabbitRouter, query: str, *, result: Any = None) -> Callable[[Callable[..., Awaitable[Any]]], Any]:
    """Register `fn` as the answer to `query`; errors become error replies, never silence. `result`
    names the reply's contract when `fn` returns that contract's JSON directly (built from rows)."""

    def decorator(fn: Callable[..., Awaitable[Any]]) -> Any:
        @functools.wraps(fn)
        async def answer(*args: Any, **kwargs: Any) -> RabbitResponse:
            delivery = delivery_var.get()
            deadline = deadlines.parse((delivery.headers or {}).get(deadlines.HEADER)) if delivery else None
            token = deadlines.deadline_var.set(deadline)
            try:
                envelope = {"ok": True, "result": to_jsonable(await fn(*args, **kwargs))}
            except DomainError as exc:
                envelope = {"ok": False, "error": exc.to_wire()}
            except Exception:  # an RPC must always answer; the bug is logged here
                log.exception("RPC %s failed", query)
                envelope = {"ok": False, "error": Unavailable(f"{query} failed").to_wire()}
            finally:
                deadlines.deadline_var.reset(token)
            # Not mandatory: RabbitMQ reports direct reply-to publishes as unroutable even when it
            # delivers them, and a caller that gave up has nobody to route to anyway.
            return RabbitResponse(envelope, mandatory=False)

        # FastStream decodes arguments from the signature; the answer is an envelope, not the
        # handler's own return type, so the return annotation must not be used to cast it.
        answer.__signature__ = inspect.signature(fn).replace(return_annotation=RabbitResponse)  # type: ignore[attr-defined]
        del answer.__wrapped__  # type: ignore[attr-defined]
        annotations = inspect.get_annotations(fn)
        if result is not None:
            RESULT_TYPES[query] = result
        elif "return" in annotations:
            RESULT_TYPES[query] = annotations["return"]
        return router.subscriber(rpc_queue(query), exchange=RPC)(answer)

    return decorator
