"""One send followed through every service: a single OpenTelemetry trace from the gateway's HTTP
span through chat, billing and the llm-worker back to the gateway's stream consumer, and JSON log
lines that carry the request id and that trace."""

import json
import time
import uuid

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.support.api import Api

SERVICES = {"gateway", "chat", "billing", "llm-worker"}


def _send_and_wait(premium: Api, request_id: str) -> None:
    session = premium.post("/api/chat-sessions/", json={"chatbot_id": 1, "auto_generate_title": False})
    assert session.status_code == 201, session.text
    url = f"/api/chat-sessions/{session.json()['id']}"
    sent = premium.post(f"{url}/send/", json={"message": "Trace me"}, headers={"X-Request-ID": request_id})
    assert sent.status_code == 201, sent.text
    assert sent.headers["X-Request-ID"] == request_id
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        listed = premium.get(f"{url}/messages/")
        assert listed.status_code == 200, (listed.status_code, listed.text)
        if listed.json()["messages"][0]["reply_status"] == "completed":
            return
        time.sleep(0.2)
    raise AssertionError("the reply did not complete")


def _send_trace_id(otlp, request_id: str) -> str:
    """The trace of the gateway's HTTP span tagged with this request id."""
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        for span in list(otlp.spans):
            if span.service == "gateway" and span.attributes.get("mobix.request_id") == request_id:
                assert "/send/" in str(span.attributes.get("http.route", "")), span
                return span.trace_id
        time.sleep(0.2)
    raise AssertionError(f"no gateway span for the send; services seen: {sorted({s.service for s in otlp.spans})}")


def test_one_trace_follows_a_send_through_every_service(premium, otlp, system):
    request_id = f"trace-{uuid.uuid4().hex}"
    _send_and_wait(premium, request_id)
    trace_id = _send_trace_id(otlp, request_id)
    deadline = time.monotonic() + 20
    while True:
        spans = otlp.trace(trace_id)
        services = {s.service for s in spans}
        stream_consumed = any(s.service == "gateway" and s.name.endswith("reply_stored process") for s in spans)
        completed = any(s.service == "chat" and s.name.endswith("reply_completed process") for s in spans)
        if (SERVICES <= services and stream_consumed and completed) or time.monotonic() > deadline:
            break
        time.sleep(0.3)
    names = sorted({f"{s.service}: {s.name}" for s in spans})
    assert SERVICES <= services, names
    assert stream_consumed and completed, "\n".join(names)
    assert [s.name for s in spans if not s.parent_id] == ["POST /api/chat-sessions/{session_id}/send/"], names

    # JSON logs: every line this request caused carries its id and its trace.
    tagged = []
    for name in SERVICES:
        for line in (system.workdir / f"{name}.log").read_text(errors="replace").splitlines():
            if request_id in line:
                record = json.loads(line)
                tagged.append((name, record))
    assert tagged, "no log line carries the request id"
    assert all(r["request_id"] == request_id and r.get("trace_id") == trace_id for _, r in tagged), (trace_id, tagged)


def _metric(system, service: str, name: str, **labels: str) -> float:
    """A sample of a service's `/metrics`, on its metrics port (0 when absent)."""
    text = httpx.get(system.metrics_url(service), timeout=5).text
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return sample.value
    return 0.0


def test_metrics_count_generations_admissions_denials_and_queues(api, system):
    api.register()
    sessions = [api.post("/api/chat-sessions/", json={"chatbot_id": 1}).json()["id"] for _ in range(3)]
    before = {
        "generations": _metric(system, "llm-worker", "mobix_generations_total", outcome="completed"),
        "admitted": _metric(system, "billing", "mobix_admissions_total", outcome="admitted"),
        "denied": _metric(system, "billing", "mobix_denials_total", limit="hourly_messages"),
        "sends": _metric(system, "chat", "mobix_exchanges_total", kind="send"),
        "committed": _metric(system, "billing", "mobix_reservations_total", outcome="committed"),
    }
    answers = [api.post(f"/api/chat-sessions/{sid}/send/", json={"message": "count me"}) for sid in sessions]
    assert [a.status_code for a in answers] == [201, 201, 429], [a.text for a in answers]  # Free: 2 an hour
    deadline = time.monotonic() + 30
    while _metric(system, "llm-worker", "mobix_generations_total", outcome="completed") < before["generations"] + 2:
        assert time.monotonic() < deadline, "the worker did not count its generations"
        time.sleep(0.2)
    assert _metric(system, "billing", "mobix_admissions_total", outcome="admitted") == before["admitted"] + 2
    assert _metric(system, "billing", "mobix_denials_total", limit="hourly_messages") == before["denied"] + 1
    assert _metric(system, "chat", "mobix_exchanges_total", kind="send") == before["sends"] + 2
    assert _metric(system, "llm-worker", "mobix_tokens_total", kind="completion") > 0
    while _metric(system, "billing", "mobix_reservations_total", outcome="committed") < before["committed"] + 2:
        assert time.monotonic() < deadline, "billing did not count its commits"
        time.sleep(0.2)
    assert "mobix_outbox_pending " in httpx.get(system.metrics_url("chat")).text
    # FastStream's message metrics, on the services that consume them (queue depths are RabbitMQ's own).
    assert _metric(system, "chat", "faststream_received_messages_total", handler="events.llm.reply_completed") >= 2
    assert _metric(system, "billing", "faststream_received_messages_total", handler="rpc.billing.admit") >= 3
    assert _metric(system, "gateway", "gateway_http_requests_total", method="POST", status="429") >= 1


def test_metrics_are_on_the_metrics_port_only(system):
    for service in SERVICES:
        assert "process_cpu_seconds_total" in httpx.get(system.metrics_url(service), timeout=5).text, service
        public = httpx.get(system.health_url(service).replace("/readyz", "/metrics"), timeout=5)
        assert public.status_code == 404, service
