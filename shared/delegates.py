"""Broker handlers that only hand the message to a use case, declared as a table of query (or queue)
to method instead of one three-line function each. A handler with any logic of its own stays a function.

The method is looked up on its owner when a message comes, not when the router is built: the AsyncAPI
document (tools/devinfra/asyncapi.py) builds the routers with no service behind them. FastStream decodes
the message as the method's own parameter annotation, and `responder` records its return annotation.
"""

import inspect
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from faststream.rabbit import RabbitQueue, RabbitRouter

from shared import topology
from shared.consumers import redeliver_on_error
from shared.rpc import responder

UseCase = Callable[[Any, Any], Awaitable[Any]]  # an unbound method: (owner, message) -> result


def answer_with(router: RabbitRouter, owner: Callable[[], Any], use_cases: Mapping[str, UseCase], *,
                then: Callable[[], None] | None = None) -> None:
    """Answer each RPC query with `use_case(owner(), query)`, calling `then()` after each success."""
    for query, use_case in use_cases.items():
        responder(router, query)(_handler(owner, use_case, f"answer_{query.rsplit('.', 1)[-1]}", then))


def consume_with(router: RabbitRouter, owner: Callable[[], Any], use_cases: Mapping[RabbitQueue, UseCase]) -> None:
    """Consume each event queue (bound to the events exchange) with `use_case(owner(), event)`; a
    transient failure is redelivered, as for every consumer."""
    for queue, use_case in use_cases.items():
        handler = redeliver_on_error(queue.name)(_handler(owner, use_case, use_case.__name__))
        router.subscriber(queue, exchange=topology.EVENTS)(handler)


def _handler(owner: Callable[[], Any], use_case: UseCase, name: str,
             then: Callable[[], None] | None = None) -> Callable[[Any], Awaitable[Any]]:
    async def handle(*args: Any, **kwargs: Any) -> Any:  # FastStream passes the message by its parameter's name
        result = await use_case(owner(), *args, **kwargs)
        if then is not None:
            then()
        return result

    # The method's signature without `self`: FastStream decodes the body by it.
    signature = inspect.signature(use_case)
    handle.__signature__ = signature.replace(parameters=list(signature.parameters.values())[1:])  # type: ignore[attr-defined]
    handle.__annotations__ = {k: v for k, v in inspect.get_annotations(use_case).items()}
    # FastStream names the channel in the AsyncAPI document after the handler.
    handle.__name__ = handle.__qualname__ = name
    return handle
