"""One benchmark run: the whole system as local processes, the bench users, then the four phases."""

import asyncio
import os
import shutil
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlparse, urlunparse

import redis
from devinfra.servers import describe as describe_servers
from devinfra.servers import ensure_rabbitmq, ensure_redis
from devinfra.system import System, fresh_vhost

from bench import report as r
from bench.client import Client
from bench.config import REDIS_DB, VHOST, BenchConfig
from bench.cpu import CpuMeter, busy_with_other_work, load_average, wait_idle
from bench.limits import run_limit_check
from bench.loadgen import ensure_wrk
from bench.machine import describe
from bench.population import create_plan, open_sessions, populate, register, staff
from bench.sends import run_sends
from bench.session_list import run_session_list
from bench.ttft import run_ttft

SERVICE_ENV = {
    "EMULATOR_CHUNK_DELAY_SECONDS": "0",
    "EMULATOR_FIRST_TOKEN_DELAY_SECONDS": "0",
    "LOG_LEVEL": "WARNING",
}


class Progress:
    def __init__(self) -> None:
        self.started = time.monotonic()

    def __call__(self, message: str) -> None:
        print(f"[bench {time.monotonic() - self.started:6.1f}s] {message}", flush=True)


async def phases(config: BenchConfig, system: System, say: Progress, before: list[str]) -> r.Report:
    machine = describe(ensure_wrk())
    report = r.Report(datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"), machine, config.describe())
    report.notes += before
    report.notes.append(f"load average after start-up and setup, when the load phases began: {load_average()}")
    cpu = CpuMeter({name: proc.pid for name, proc in system.procs.items()}, report.cpu)
    admin = await staff(system.gateway_url)
    clients: list[Client] = [admin]
    try:
        plan_id = await create_plan(admin, "Bench unlimited", "BENCH_UNLIMITED")
        say(f"setup: plan {plan_id} (every limit 0 = unlimited); {config.users} users × {config.sessions} sessions…")
        users = await populate(system.gateway_url, admin, plan_id, config.users, config.sessions)
        ttft_user = await register(system.gateway_url, admin, plan_id)
        await open_sessions(ttft_user, config.ttft_sessions)
        clients += [u.client for u in (*users, ttft_user)]

        sends_cpu: dict[str, float] = {}
        sends = await run_sends(system.gateway_url, users, config.seconds, config.connections, config.threads,
                                config.drain_timeout_s, say, lambda: wait_idle(cpu.pids, config.drain_timeout_s),
                                lambda: cpu.phase("sends: load, then until the system is idle", sends_cpu))
        cpu.per_operation("admitted send (its reply and title included)", sends_cpu, sends.admitted)
        report.rows += r.sends_rows(sends)
        say(report.rows[0].figure + ": " + report.rows[0].result)

        with cpu.phase("time to first token"):
            ttft = await run_ttft(ttft_user, system.emulator_url, config.seconds, config.ttft_samples, say)
        report.rows += r.ttft_rows(ttft)
        say(f"time to first token added: {r.spread(ttft.added)}")

        list_cpu: dict[str, float] = {}
        listing = await run_session_list(system.gateway_url, users, config.seconds, config.list_connections,
                                         config.threads, say, lambda: cpu.phase("session list (platform)", list_cpu))
        cpu.per_operation("session list request", list_cpu, listing.platform.count(200))
        report.rows += r.list_rows(listing)
        say(f"session list: {report.rows[-1].result} of the bare route")

        with cpu.phase("limit accuracy"):
            limits = await run_limit_check(system.gateway_url, admin, config.limit, config.storm_sends,
                                           config.storm_sessions, config.drain_timeout_s, say)
        report.rows += r.limit_rows(limits)
        report.limits_held = limits.overshoot == 0 and limits.settled.done
        say(f"limit accuracy: {report.rows[-1].result}")
        if limits.committed != limits.settled.completed:
            report.notes.append(f"limit check: {limits.settled.completed} replies completed but billing reports "
                                f"{limits.committed} committed")
        if not sends.settled.done:
            report.notes.append(f"sends: {sends.settled.in_progress} replies were still unfinished "
                                f"{config.drain_timeout_s:.0f} s after the load")
        report.notes.append(f"load average when the phases ended: {load_average()}")
        return report
    finally:
        await asyncio.gather(*(c.aclose() for c in clients), return_exceptions=True)


def run(config: BenchConfig) -> int:
    say = Progress()
    # Taken before anything of ours runs: the load average then is other people's work.
    before = [f"load average (1 / 5 / 15 min) before the benchmark started anything: {load_average()}"]
    if busy_with_other_work():
        before.append("other work was running on the machine (load average above half the CPUs before the "
                      "benchmark started): absolute figures understate the system; the session-list ratio and "
                      "the limit check are the least affected")
    ensure_wrk()
    rabbit = ensure_rabbitmq(os.environ.get("RABBIT_URL", "amqp://guest:guest@127.0.0.1:5672/"))
    cache = ensure_redis(os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"))
    describe_servers([rabbit, cache])
    rabbit_url = fresh_vhost(rabbit.url, VHOST)
    redis_url = urlunparse(urlparse(cache.url)._replace(path=f"/{REDIS_DB}"))
    redis.Redis.from_url(redis_url).flushdb()  # our own database: nothing of an earlier run leaks in
    workdir = Path(tempfile.mkdtemp(prefix="mobix-bench-"))
    system = System(workdir, rabbit_url, redis_url, extra_env={**SERVICE_ENV, **config.service_env})
    say(f"starting the system (RabbitMQ {rabbit_url}, Redis {redis_url}, logs in {workdir})…")
    failed = True
    try:
        system.start_all()
        say(f"system ready: gateway {system.gateway_url}, emulator {system.emulator_url}")
        report = asyncio.run(phases(config, system, say, before))
        failed = False
    except Exception as error:  # noqa: BLE001 - report any failure with the services' logs, exit 1
        say(f"FAILED: {type(error).__name__}: {error}")
        for name in system.procs:
            tail = system.log_tail(name, 15)
            if tail.strip():
                print(f"--- {name} log (last lines) ---\n{tail}", flush=True)
        return 1
    finally:
        say("stopping the system…")
        system.stop_all()
        rabbit.stop()
        cache.stop()
        if not failed:
            shutil.rmtree(workdir, ignore_errors=True)
        else:
            say(f"logs kept in {workdir}")
    path = config.results or r.RESULTS
    report.write(path)
    print("\n" + report.text() + "\n", flush=True)
    say(f"results written to {path}")
    return 0 if report.limits_held else 1
