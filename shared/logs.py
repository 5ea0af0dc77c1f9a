"""Logging set-up: readable lines prefixed with the service name, or JSON lines in production.

Every record carries what identifies the work it belongs to, when known: `request_id` (the
gateway's `X-Request-ID`, passed on to the other services in the `x-request-id` header of RPC calls
and messages), `message_id` (the broker message being handled) and the OpenTelemetry `trace_id` /
`span_id`, so one request can be followed through every service's logs.
"""

import contextvars
import json
import logging
import sys
import time

from opentelemetry import trace

request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)
message_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("message_id", default=None)
CONTEXT_FIELDS = ("request_id", "message_id", "trace_id", "span_id", "session_id", "exchange_id")


class ContextLogFilter(logging.Filter):
    """Adds the request id, message id and trace ids of the current context to each record."""

    def filter(self, record: logging.LogRecord) -> bool:
        for name, var in (("request_id", request_id_var), ("message_id", message_id_var)):
            value = var.get()
            if value is not None and not hasattr(record, name):
                setattr(record, name, value)
        span = trace.get_current_span().get_span_context()
        if span.is_valid and not hasattr(record, "trace_id"):
            record.trace_id = format(span.trace_id, "032x")
            record.span_id = format(span.span_id, "016x")
        return True


class JsonFormatter(logging.Formatter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        payload = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + "Z",
            "service": self.service,
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key in CONTEXT_FIELDS:
            if hasattr(record, key):
                payload[key] = getattr(record, key)
        if record.exc_info:
            payload["exc"] = self.formatException(record.exc_info)
        return json.dumps(payload, ensure_ascii=False)


def setup_logging(service: str, level: str = "INFO", *, as_json: bool = False) -> None:
    handler = logging.StreamHandler(sys.stdout)
    if as_json:
        handler.setFormatter(JsonFormatter(service))
    else:
        handler.setFormatter(
            logging.Formatter(f"%(asctime)s {service:<10} %(levelname)-5s %(name)s: %(message)s", "%H:%M:%S")
        )
    handler.addFilter(ContextLogFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("faststream", "aiormq", "aio_pika", "httpx", "uvicorn.access", "sqlalchemy"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
