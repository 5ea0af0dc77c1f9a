"""Trace context and request ids in AMQP headers, and the log filter that prints them."""

import json
import logging

from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider

from shared.logs import ContextLogFilter, JsonFormatter, message_id_var, request_id_var
from shared.tracing import REQUEST_ID_HEADER, continued_from, inject_headers

tracer = TracerProvider().get_tracer("tests")


def _log_line(message: str = "hello") -> dict:
    record = logging.LogRecord("t", logging.INFO, __file__, 1, message, None, None)
    ContextLogFilter().filter(record)
    return json.loads(JsonFormatter("chat").format(record))


def test_headers_carry_the_current_trace_and_request_id():
    token = request_id_var.set("req-1")
    try:
        with tracer.start_as_current_span("send") as span:
            headers = inject_headers({"other": "kept"})
            trace_id = format(span.get_span_context().trace_id, "032x")
    finally:
        request_id_var.reset(token)
    assert headers["other"] == "kept" and headers[REQUEST_ID_HEADER] == "req-1"
    assert headers["traceparent"].split("-")[1] == trace_id


def test_no_context_adds_nothing():
    assert inject_headers() == {}


def test_continued_from_restores_trace_and_request_id():
    with tracer.start_as_current_span("stored"):
        token = request_id_var.set("req-2")
        headers = inject_headers()
        request_id_var.reset(token)
    assert trace.get_current_span().get_span_context().is_valid is False
    with continued_from(headers):
        assert request_id_var.get() == "req-2"
        carried = trace.get_current_span().get_span_context()
        assert format(carried.trace_id, "032x") == headers["traceparent"].split("-")[1]
    assert request_id_var.get() is None


def test_json_log_lines_carry_request_message_and_trace_ids():
    request_token, message_token = request_id_var.set("req-3"), message_id_var.set("msg-3")
    try:
        with tracer.start_as_current_span("handle") as span:
            line = _log_line()
            context = span.get_span_context()
    finally:
        message_id_var.reset(message_token)
        request_id_var.reset(request_token)
    assert line["request_id"] == "req-3" and line["message_id"] == "msg-3" and line["service"] == "chat"
    assert line["trace_id"] == format(context.trace_id, "032x") and line["span_id"] == format(context.span_id, "016x")


def test_json_log_lines_without_context_have_no_ids():
    line = _log_line()
    assert not {"request_id", "message_id", "trace_id", "span_id"} & set(line)
