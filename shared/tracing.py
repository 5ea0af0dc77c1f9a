"""OpenTelemetry tracing and the ids that follow one request through every service.

Tracing is configured with the standard OpenTelemetry variables: spans are exported (OTLP over
HTTP) only when `OTEL_EXPORTER_OTLP_ENDPOINT` or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` is set and
`OTEL_SDK_DISABLED` is not true; otherwise the API's no-op tracer costs next to nothing, while trace
context still passes through from the messages a service receives to those it sends.

The trace context (W3C `traceparent`) and the gateway's request id (`x-request-id`) travel in AMQP
headers: FastStream's telemetry middleware reads and writes `traceparent` on the brokers,
`inject_headers` adds both to the project's own RPC calls and to outbox rows, and
`MessageContextMiddleware` puts the request id and message id of the message being handled where the
log filter (`shared.logs`) finds them.
"""

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from faststream import BaseMiddleware
from opentelemetry import context, trace
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from shared.consumers import delivery_var
from shared.logs import message_id_var, request_id_var

REQUEST_ID_HEADER = "x-request-id"
_PROPAGATOR = TraceContextTextMapPropagator()
_TRACE_ENDPOINTS = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")


def tracing_enabled() -> bool:
    if os.environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    return any(os.environ.get(name) for name in _TRACE_ENDPOINTS)


def setup_tracing(service: str) -> bool:
    """Install an exporting tracer provider for `service` when an OTLP endpoint is configured."""
    if not tracing_enabled():
        return False
    # Imported here: the SDK and exporter are only loaded where spans are actually exported.
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    # The provider exports what is still buffered when the process exits (shutdown_on_exit).
    provider = TracerProvider(resource=Resource.create({SERVICE_NAME: service}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))  # endpoint etc. from OTEL_* env
    trace.set_tracer_provider(provider)
    instrument_clients()
    return True


def instrument_clients(tracer_provider: Any = None) -> list[Any]:
    """Client spans for every HTTP call (the OpenRouter request above all), Redis command and SQL
    statement, from OpenTelemetry's standard instrumentations; answers the instrumentors (a test
    uninstruments them). Called before the clients and engines are made: the SQLAlchemy one wraps
    `create_async_engine`, which `shared.db` looks up at call time for that reason."""
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
    from opentelemetry.instrumentation.redis import RedisInstrumentor
    from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor

    HTTPXClientInstrumentor().instrument(tracer_provider=tracer_provider)
    RedisInstrumentor().instrument(tracer_provider=tracer_provider)
    # Its declared range stops below SQLAlchemy 2.1, which the project runs; it only listens to the
    # engine's public events, and tests/llm_worker/test_client_tracing.py checks the spans still come.
    SQLAlchemyInstrumentor().instrument(tracer_provider=tracer_provider, skip_dep_check=True)
    return [HTTPXClientInstrumentor(), RedisInstrumentor(), SQLAlchemyInstrumentor()]


def inject_headers(headers: dict[str, Any] | None = None) -> dict[str, Any]:
    """`headers` plus the current trace context and request id, for a message about to be sent."""
    headers = dict(headers or {})
    _PROPAGATOR.inject(headers)
    request_id = request_id_var.get()
    if request_id is not None:
        headers.setdefault(REQUEST_ID_HEADER, request_id)
    return headers


@contextmanager
def continued_from(headers: dict[str, Any] | None) -> Iterator[None]:
    """Run the block inside the trace and request that `headers` were written in (the outbox relay
    publishes long after the request that stored the row)."""
    headers = headers or {}
    token = context.attach(_PROPAGATOR.extract(headers))
    request_token = request_id_var.set(headers.get(REQUEST_ID_HEADER))
    try:
        yield
    finally:
        request_id_var.reset(request_token)
        context.detach(token)


class MessageContextMiddleware(BaseMiddleware):
    """Sets the request id, message id and delivery of the message being handled, and carries the
    request id on to every message published while handling it."""

    async def consume_scope(self, call_next, msg):
        headers = msg.headers or {}
        request_token = request_id_var.set(headers.get(REQUEST_ID_HEADER))
        message_token = message_id_var.set(msg.message_id)
        delivery_token = delivery_var.set(msg.raw_message)
        try:
            return await call_next(msg)
        finally:
            delivery_var.reset(delivery_token)
            message_id_var.reset(message_token)
            request_id_var.reset(request_token)

    async def publish_scope(self, call_next, cmd):
        request_id = request_id_var.get()
        if request_id is not None:
            cmd.headers.setdefault(REQUEST_ID_HEADER, request_id)
        return await call_next(cmd)
