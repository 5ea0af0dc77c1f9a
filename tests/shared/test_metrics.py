"""The metric helpers, and the queue-depth poller against the real broker (and without one)."""

import asyncio
import uuid

from faststream.rabbit import RabbitBroker, RabbitQueue
from prometheus_client import REGISTRY

from shared import metrics, topology
from shared.broker import make_broker


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


def test_each_service_polls_its_own_queues_and_their_dead_letter_queues():
    worker = metrics.queues_of("llm-worker.")
    assert "llm-worker.generate_reply" in worker and "llm-worker.generate_reply.dlq" in worker
    assert all(name.startswith("llm-worker.") for name in worker)
    assert topology.GATEWAY_STREAM.name in metrics.queues_of("gateway.")
    assert not set(metrics.queues_of("chat.")) & set(metrics.queues_of("billing."))


async def test_poller_sets_depth_and_consumers_and_skips_a_missing_queue(rabbit_url):
    name = f"test-metrics.{uuid.uuid4().hex[:8]}"
    broker = make_broker(rabbit_url)
    await broker.connect()
    queue = RabbitQueue(name, auto_delete=False)
    try:
        await broker.declare_queue(queue)
        for i in range(3):
            await broker.publish({"n": i}, queue=queue)
        poller = metrics.QueueDepthPoller(broker, [f"{name}.missing", name])
        await poller.poll_once()
        assert sample("mobix_queue_messages", queue=name) == 3
        assert sample("mobix_queue_consumers", queue=name) == 0
        assert REGISTRY.get_sample_value("mobix_queue_messages", {"queue": f"{name}.missing"}) is None
    finally:
        channel = await broker._connection.channel()
        await channel.queue_delete(name)
        await channel.close()
        await broker.stop()


async def test_poller_survives_a_broker_that_is_away():
    broker = RabbitBroker("amqp://guest:guest@127.0.0.1:1/")  # never connected
    poller = metrics.QueueDepthPoller(broker, ["chat.reply_completed"], interval=0.01)
    calls = 0
    poll = poller.poll_once

    async def counted() -> None:
        nonlocal calls
        calls += 1
        await poll()

    poller.poll_once = counted
    poller.start()
    await asyncio.sleep(0.2)
    assert not poller._task.done()  # still polling after every failure
    await poller.stop()
    assert calls > 3
