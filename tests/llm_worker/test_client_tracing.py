"""OpenTelemetry's standard client instrumentations (shared.tracing.instrument_clients): the OpenRouter
call, the worker's largest latency, and SQL statements leave client spans."""

import pytest
from llm_worker.client import OpenRouterClient
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from sqlalchemy import text

from shared import tracing
from shared.db import make_engine
from tests.llm_worker.conftest import worker_settings
from tests.llm_worker.test_client import request


@pytest.fixture
def spans():
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    instrumentors = tracing.instrument_clients(provider)
    try:
        yield exporter
    finally:
        for instrumentor in instrumentors:
            instrumentor.uninstrument()


def attribute(span, name: str, older_name: str):
    return span.attributes.get(name, span.attributes.get(older_name))


def client_spans(exporter: InMemorySpanExporter) -> list:
    return [span for span in exporter.get_finished_spans() if span.kind is SpanKind.CLIENT]


async def test_the_openrouter_call_makes_a_client_span(spans, emulator, emulator_admin):
    client = OpenRouterClient(worker_settings(emulator))
    try:
        await client.complete(request("a title, traced"))
    finally:
        await client.aclose()
    # The attribute names follow OTEL_SEMCONV_STABILITY_OPT_IN: the stable ones, or the older ones.
    (span,) = [s for s in client_spans(spans)
               if str(attribute(s, "url.full", "http.url")).endswith("/chat/completions")]
    assert attribute(span, "http.request.method", "http.method") == "POST"
    assert attribute(span, "http.response.status_code", "http.status_code") == 200


async def test_sql_statements_make_client_spans(spans, tmp_path):
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'traced.db'}")
    try:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
    finally:
        await engine.dispose()
    assert any(attribute(span, "db.query.text", "db.statement") == "SELECT 1" for span in client_spans(spans))
