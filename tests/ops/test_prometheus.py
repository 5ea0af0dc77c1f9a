"""deploy/prometheus: queue depths come from RabbitMQ's own Prometheus plugin, scraped once per broker
(no service polls them), and the alerts read metrics that something really exports."""

import re

import yaml
from prometheus_client import REGISTRY

from shared import metrics, topology
from tests.ops.deployables import ROOT

PROMETHEUS = ROOT / "deploy" / "prometheus"
# What the plugin's /metrics/detailed answers for these families (checked against RabbitMQ 3.10-3.13).
RABBIT_FAMILIES = {
    "queue_coarse_metrics": {"rabbitmq_detailed_queue_messages_ready", "rabbitmq_detailed_queue_messages_unacked",
                             "rabbitmq_detailed_queue_messages", "rabbitmq_detailed_queue_process_reductions_total"},
    "queue_consumer_count": {"rabbitmq_detailed_queue_consumers"},
}


def load(name: str) -> dict:
    return yaml.safe_load((PROMETHEUS / name).read_text())


def rules() -> list[dict]:
    return [rule for group in load("alerts.yml")["groups"] for rule in group["rules"]]


def scraped_rabbit_metrics() -> set[str]:
    (job,) = [j for j in load("prometheus.yml")["scrape_configs"] if j["job_name"] == "rabbitmq-queues"]
    assert job["metrics_path"] == "/metrics/detailed"
    assert job["static_configs"][0]["targets"] == ["rabbitmq:15692"]
    return set().union(*(RABBIT_FAMILIES[family] for family in job["params"]["family"]))


def service_metrics() -> set[str]:
    names = set()
    for family in REGISTRY.collect():  # a counter's family is named without its _total suffix
        names |= {family.name, f"{family.name}_total"} | {sample.name for sample in family.samples}
    return names


def test_the_alerts_read_metrics_that_are_scraped():
    known = scraped_rabbit_metrics() | service_metrics()
    for rule in rules():
        used = set(re.findall(r"\b(?:rabbitmq|mobix|faststream|gateway)_[a-z_]+\b", rule["expr"]))
        assert used and used <= known, f"{rule['alert']}: {used - known} is exported by nothing scraped"


def test_no_service_polls_queue_depths_any_more():
    assert not {"mobix_queue_messages", "mobix_queue_consumers"} & service_metrics()
    assert not hasattr(metrics, "QueueDepthPoller")


def test_the_queue_alerts_match_every_work_queue_and_its_dead_letters():
    by_name = {rule["alert"]: rule["expr"] for rule in rules()}

    def matchers(expr: str) -> list[tuple[str, str]]:
        return re.findall(r'queue(=~|!~)"((?:[^"\\]|\\.)*)"', expr)

    def selects(expr: str, queue: str) -> bool:
        for op, pattern in matchers(expr):
            found = re.fullmatch(pattern.replace("\\\\", "\\"), queue) is not None
            if found != (op == "=~"):
                return False
        return True

    for queue in topology.WORK_QUEUES:
        dead = topology.dead_letter_queue(queue.name).name
        assert selects(by_name["MobixDeadLetters"], dead), dead
        assert not selects(by_name["MobixDeadLetters"], queue.name), queue.name
        assert selects(by_name["MobixQueueWithoutConsumers"], queue.name), queue.name
        assert not selects(by_name["MobixQueueWithoutConsumers"], dead), dead
