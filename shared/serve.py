"""`python -m <service>`: how a back-end service starts its process — logs, tracing, the metrics port,
then the app under uvicorn — so every service starts the same way and differs only in its server options."""

import gc
from collections.abc import Callable
from typing import Any, Protocol, TypeVar

import uvicorn

from shared.logs import setup_logging
from shared.metrics import serve_metrics
from shared.tracing import setup_tracing


class Served(Protocol):
    log_level: str
    log_json: bool
    metrics_port: int
    http_host: str
    http_port: int


S = TypeVar("S", bound=Served)


def serve(name: str, settings: S, create_app: Callable[[S], Any], **uvicorn_options: Any) -> None:
    """Run `create_app(settings)` until the process is stopped. `uvicorn_options` are the service's own
    (the gateway's header guards, the worker's quiet access log); uvicorn's log config stays off, since
    `setup_logging` has set the format every service logs in."""
    setup_logging(name, settings.log_level, as_json=settings.log_json)
    setup_tracing(name)
    serve_metrics(settings.metrics_port, settings.http_host)
    app = create_app(settings)
    settle_heap()
    uvicorn.run(app, host=settings.http_host, port=settings.http_port, log_config=None,
                **uvicorn_options)


def settle_heap() -> None:
    """Takes every object alive now out of the garbage collector's reach: modules, classes and the app
    just built, hundreds of thousands of objects that live as long as the process. Otherwise every full
    collection walks them all again. Measured, that was a sixth of the gateway's CPU on the session list
    and 5 % of a streamed reply's CPU (docs/performance.md, "The garbage collector")."""
    gc.collect()
    gc.freeze()
