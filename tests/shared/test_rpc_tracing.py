"""An RPC call over the real broker continues the caller's trace and request id in the responder."""

import functools

from faststream.rabbit import RabbitRouter
from faststream.rabbit.opentelemetry import RabbitTelemetryMiddleware
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from pydantic import BaseModel

import shared.broker
from shared.logs import message_id_var, request_id_var
from shared.rpc import responder
from tests.support.rpc import caller, responding


class Echo(BaseModel):
    value: int


async def test_rpc_call_inside_a_span_yields_a_consumer_span_in_the_same_trace(rabbit_url, monkeypatch):
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    # make_broker's own wiring, with spans going to this test's provider instead of an OTLP endpoint.
    monkeypatch.setattr(shared.broker, "tracing_enabled", lambda: True)
    monkeypatch.setattr(shared.broker, "RabbitTelemetryMiddleware",
                        functools.partial(RabbitTelemetryMiddleware, tracer_provider=provider))
    seen: dict = {}
    router = RabbitRouter()

    @responder(router, "testsvc.traced")
    async def answer(query: Echo) -> Echo:
        seen["trace_id"] = trace.get_current_span().get_span_context().trace_id
        seen["request_id"] = request_id_var.get()
        seen["message_id"] = message_id_var.get()
        return query

    token = request_id_var.set("req-rpc-1")
    try:
        async with responding(rabbit_url, router), caller(rabbit_url) as client:
            with provider.get_tracer("tests").start_as_current_span("caller") as calling:
                assert await client.call("testsvc.traced", Echo(value=7), Echo) == Echo(value=7)
    finally:
        request_id_var.reset(token)

    trace_id = calling.get_span_context().trace_id
    consumers = [s for s in exporter.get_finished_spans() if s.kind == SpanKind.CONSUMER]
    assert consumers, [s.name for s in exporter.get_finished_spans()]
    assert all(s.context.trace_id == trace_id for s in consumers)
    assert consumers[0].parent.span_id == calling.get_span_context().span_id
    assert seen["trace_id"] == trace_id
    assert seen["request_id"] == "req-rpc-1"
    assert seen["message_id"]
