"""bench.trace: the OTLP receiver keeps what an exporter sends, times included, and a send's trace becomes
milestones."""

import httpx
from devinfra.otlp import OtlpReceiver, Span
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
from opentelemetry.proto.common.v1 import common_pb2
from opentelemetry.proto.resource.v1 import resource_pb2
from opentelemetry.proto.trace.v1 import trace_pb2

from bench.trace import FIRST_ON_STREAM, SEND_SPAN, SSE_WRITE_SPAN, milestones, table

MS = 1_000_000  # nanoseconds


def _export(service: str, spans: list[tuple[str, bytes, int, int]]) -> bytes:
    resource = resource_pb2.Resource(attributes=[
        common_pb2.KeyValue(key="service.name", value=common_pb2.AnyValue(string_value=service))])
    scope = trace_pb2.ScopeSpans(spans=[
        trace_pb2.Span(name=name, trace_id=trace, span_id=bytes(8), start_time_unix_nano=start * MS,
                       end_time_unix_nano=end * MS)
        for name, trace, start, end in spans])
    request = trace_service_pb2.ExportTraceServiceRequest(
        resource_spans=[trace_pb2.ResourceSpans(resource=resource, scope_spans=[scope])])
    return request.SerializeToString()


def test_the_receiver_keeps_the_spans_an_exporter_posts() -> None:
    receiver = OtlpReceiver()
    try:
        body = _export("chat", [("rpc.chat.run_exchange process", b"\x01" * 16, 10, 25)])
        response = httpx.post(receiver.endpoint, content=body, headers={"content-type": "application/x-protobuf"})
        assert response.status_code == 200
    finally:
        receiver.close()
    assert receiver.spans == [Span("chat", "rpc.chat.run_exchange process", "01" * 16, "00" * 8, "", {}, 10.0, 25.0)]


def _span(service: str, name: str, trace: str, start_ms: float, end_ms: float) -> Span:
    return Span(service, name, trace, "", "", {}, start_ms, end_ms)


def _send(trace: str, at: float) -> list[Span]:
    """One send's spans, `at` ms in, with the milestones 1 ms apart."""
    return [
        _span("gateway", SEND_SPAN, trace, at, at + 9),
        _span("chat", "rpc.chat.run_exchange process", trace, at + 1, at + 8),
        _span("billing", "rpc.billing.admit process", trace, at + 2, at + 3),
        _span("chat", "default.amq.rabbitmq.reply-to.x publish", trace, at + 4, at + 4.5),
        _span("chat", "commands.llm.generate_reply publish", trace, at + 5, at + 6),
        _span("llm-worker", "commands.llm.generate_reply process", trace, at + 6, at + 20),
        _span("llm-worker", "POST", trace, at + 7, at + 10),
        _span("llm-worker", "XADD EXPIRE", trace, at + 11, at + 11.5),
        _span("llm-worker", "XADD EXPIRE", trace, at + 15, at + 15.5),
    ]


def test_each_milestone_is_read_off_its_own_send_and_the_stream_write_after_its_first_delta() -> None:
    spans = _send("a", 0) + _send("b", 100)
    spans += [_span("gateway", SSE_WRITE_SPAN, "s", 12, 12.1), _span("gateway", SSE_WRITE_SPAN, "s", 113, 113.1),
              _span("gateway", SSE_WRITE_SPAN, "s", 116, 116.1)]
    offsets = milestones(spans)
    assert offsets["chat gets the send (RPC)"] == [1, 1]
    assert offsets["billing answers"] == [3, 3]
    assert offsets["chat answers the gateway"] == [4, 4]
    assert offsets["the model's response headers"] == [10, 10]
    assert offsets["the first delta written (XADD)"] == [11, 11]  # the first of the two writes
    assert offsets["the gateway answers 201"] == [9, 9]
    assert offsets[FIRST_ON_STREAM] == [12, 13]
    lines = table(offsets).splitlines()
    assert lines[2].startswith("| chat gets the send (RPC) | 1.00 | +1.00 | 2 |")
    assert lines[-1].startswith(f"| {FIRST_ON_STREAM} | 12.50 | +1.50 | 2 |")


def test_a_trace_without_a_send_is_not_counted() -> None:
    offsets = milestones([_span("chat", "rpc.chat.run_exchange process", "t", 1, 2)])
    assert not any(offsets.values())
