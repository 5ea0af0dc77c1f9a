"""The metric helpers. Queue depths are RabbitMQ's own (tests/ops/test_prometheus.py)."""

import uuid

from prometheus_client import REGISTRY

from shared import metrics


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_record_denial_counts_a_denied_admission_under_its_limit():
    denied = sample("mobix_admissions_total", outcome="denied")
    daily = sample("mobix_denials_total", limit="daily_messages")
    hourly = sample("mobix_denials_total", limit="hourly_messages")
    metrics.record_denial("daily_messages")
    assert sample("mobix_admissions_total", outcome="denied") == denied + 1
    assert sample("mobix_denials_total", limit="daily_messages") == daily + 1
    assert sample("mobix_denials_total", limit="hourly_messages") == hourly


def test_record_generation_counts_the_outcome_and_tokens_by_kind_and_model():
    model = f"test/{uuid.uuid4().hex[:8]}"
    stopped = sample("mobix_generations_total", outcome="stopped")
    metrics.record_generation("stopped", model, prompt_tokens=120, completion_tokens=7)
    metrics.record_generation("stopped", model, prompt_tokens=30, completion_tokens=0)
    assert sample("mobix_generations_total", outcome="stopped") == stopped + 2
    assert sample("mobix_tokens_total", kind="prompt", model=model) == 150
    assert sample("mobix_tokens_total", kind="completion", model=model) == 7


def test_upstream_error_labels_stay_bounded():
    code = f"code_{uuid.uuid4().hex[:8]}"
    metrics.record_upstream_error(code, 429)
    metrics.record_upstream_error(code, None)
    metrics.record_upstream_error(code, 123456)  # a provider's own number inside a stream error
    metrics.record_upstream_error(None, 502)
    assert sample("mobix_upstream_errors_total", code=code, status="429") == 1
    assert sample("mobix_upstream_errors_total", code=code, status="none") == 2
    assert sample("mobix_upstream_errors_total", code="unknown", status="502") >= 1
