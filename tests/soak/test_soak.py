"""Soak: several users send, edit, regenerate and stop replies on several sessions at once, with SSE
streams open and resuming, upstream faults in some messages, a worker SIGKILLed and restarted three
times and chat and billing restarted, for a bounded time. Then, once every queue is empty: no reply
lost or duplicated, each reply billed once, Redis windows equal to the ledger, no open reservation,
empty dead-letter queues, each reply streamed once and whole, and a worker's memory that levelled off.

`make test` runs the short form; `--soak` runs the long one instead (`--soak-minutes`, default 10).
"""

import time
from collections import Counter, defaultdict

import pytest
import redis

from bench.population import LIMIT_FIELDS
from tests.faults.exactly_once import settle
from tests.faults.processes import start_extra_worker, start_system
from tests.faults.workload import admin_client
from tests.soak import checks
from tests.soak.runner import SessionLog, Soak
from tests.support.api import Api

SHORT_SECONDS = 50.0
USERS, SESSIONS_PER_USER = 4, 2  # on a plan without limits
LIMITED_HOURLY_MESSAGES = 8  # one more user, whose plan runs out early: 429s under load


def _plan(admin: Api, sku: str, **limits: int) -> int:
    body = {"name": sku.title(), "sku": sku, "price": "0", "duration_days": 30, "is_active": True,
            **{f: 0 for f in LIMIT_FIELDS}, **limits}  # 0: no limit
    body["max_openrouter_cost_usd"] = "0"
    created = admin.post("/api/admin/subscription-types/", json=body)
    assert created.status_code == 201, created.text
    return created.json()["id"]


def _user(system, admin: Api, plan: int, sessions: int, limited: bool) -> list[tuple[Api, SessionLog]]:
    api = Api(system.gateway_url)
    user = api.register()
    assert admin.post(f"/api/admin/users/{user['id']}/subscription/", json={"subscription_type_id": plan}).status_code == 200
    made = []
    for _ in range(sessions):
        created = api.post("/api/chat-sessions/", json={"chatbot_id": 1, "auto_generate_title": False})
        assert created.status_code == 201, created.text
        made.append((api, SessionLog(user["id"], created.json()["id"], limited)))
    return made


def _wait_streams_finished(soak: Soak, logs: list[SessionLog], timeout: float = 20) -> None:
    """Let the readers catch the last events (completions travel chat's outbox, the broker and the
    gateway's Redis stream after the queues are empty)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        views = [checks.StreamView(log) for log in logs]
        if all(set(v.queued) <= set(v.completed) | v.failed for v in views):
            break
        time.sleep(0.3)
    soak.stop_streams()


def run_soak(broker, redis_url: str, workdir, seconds: float) -> None:
    system = start_system(workdir, broker.url, redis_url, EMULATOR_CHUNK_DELAY_SECONDS="0.002")
    try:
        start_extra_worker(system, "llm-worker-2")
        admin = admin_client(system)
        unlimited = _plan(admin, "SOAK")
        limited = _plan(admin, "SOAK-LIMITED", hourly_max_messages=LIMITED_HOURLY_MESSAGES)
        sessions = [s for _ in range(USERS) for s in _user(system, admin, unlimited, SESSIONS_PER_USER, False)]
        sessions += _user(system, admin, limited, 1, True)
        logs = [log for _, log in sessions]

        soak = Soak(system, seconds)
        soak.run(sessions)
        tally = soak.tally
        print(f"[soak] load done: ops {dict(tally.ops)} statuses {dict(tally.statuses)}", flush=True)
        assert not tally.unexpected, f"{len(tally.unexpected)} unexpected answers, first ones: {tally.unexpected[:10]}"
        assert soak.faults_done == [action for _, action in soak.schedule()], soak.faults_done
        assert tally.statuses[409] and tally.statuses[429], "the workload never hit a busy session or a limit"

        settle(broker, timeout=120)
        _wait_streams_finished(soak, logs)
        problems: list[str] = []
        replies_of_user: dict[int, dict] = defaultdict(dict)
        seen: Counter = Counter()
        for log in logs:
            found, replies = checks.check_session(system, log, seen)
            problems += found
            replies_of_user[log.user_id].update(replies)
        cache = redis.Redis.from_url(redis_url, decode_responses=True)
        for api, log in {log.user_id: (api, log) for api, log in sessions}.values():
            limit = LIMITED_HOURLY_MESSAGES if log.limited else None
            problems += checks.check_billing(system, cache, log.user_id, api, replies_of_user[log.user_id], limit)
        problems += checks.check_dead_letters(broker)
        memory, summary = checks.check_memory(soak.rss.get("llm-worker-2", []), seconds)
        problems += memory
        replies = sum(len(r) for r in replies_of_user.values())
        events = sum(len(log.events) for log in logs)
        print(f"[soak] {replies} replies, {events} stream events, {dict(seen)}; {summary}", flush=True)
        assert not problems, f"{len(problems)} problems:\n" + "\n".join(problems[:40])
        # The mix reached what the checks are about: failures, edits, replies streamed whole.
        assert seen["failed"] and seen["disabled replies"] and seen["streamed whole"], seen
    finally:
        system.stop_all()


def test_soak_short(request, soak_broker, soak_redis_url, tmp_path_factory):
    if request.config.getoption("--soak"):
        pytest.skip("--soak runs the long form instead")
    run_soak(soak_broker, soak_redis_url, tmp_path_factory.mktemp("soak"), SHORT_SECONDS)


@pytest.mark.soak
def test_soak_long(request, soak_broker, soak_redis_url, tmp_path_factory):
    if not request.config.getoption("--soak"):
        pytest.skip("the long soak runs with --soak (and --soak-minutes)")
    minutes = request.config.getoption("--soak-minutes")
    run_soak(soak_broker, soak_redis_url, tmp_path_factory.mktemp("soak"), 60 * minutes)
