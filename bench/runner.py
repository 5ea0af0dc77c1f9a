"""One benchmark run: the whole system as local processes on PostgreSQL (the headline: sends, time to
first token, session list, limit accuracy, the realistic mode and, with BENCH_PEERS=1, LiteLLM beside
it), then again on the SQLite default (sends and time to first token)."""

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
from devinfra.system import System, free_port, fresh_vhost

from bench import lag, peers, realistic
from bench import report as r
from bench.client import Client
from bench.config import REDIS_DB, VHOST, BenchConfig
from bench.cpu import CpuMeter, busy_with_other_work, load_average, wait_idle
from bench.limits import run_limit_check
from bench.loadgen import ensure_wrk
from bench.machine import describe
from bench.peers import LiteLLM
from bench.population import BenchUser, create_plan, open_sessions, populate, register, staff
from bench.procs import pid_listening, postgres_backends
from bench.sends import run_sends
from bench.session_list import run_session_list
from bench.ttft import TtftResult, run_ttft

DATABASE_NAMES = {"postgresql": "PostgreSQL", "sqlite": "SQLite"}
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


def _lag_rows(report: r.Report, label: str, lags: dict) -> None:
    report.rows += r.lag_rows(label, lags)


async def phases(config: BenchConfig, system: System, say: Progress, report: r.Report, headline: bool,
                 servers: dict[str, int], peer: LiteLLM | None) -> None:
    """The phases of one database: all of them for the headline, sends and time to first token beside."""
    name = DATABASE_NAMES[system.database]
    report.rows.append(r.section(f"{name}{' (headline)' if headline else ' (the default, beside)'}"))
    first = len(report.rows)
    cpu = CpuMeter({n: proc.pid for n, proc in system.procs.items()}, report.cpu, prefix=f"{name}: ")
    metrics = {n: system.metrics_url(n) for n in system.metrics_ports if n in system.procs}
    admin = await staff(system.gateway_url)
    clients: list[Client] = [admin]
    try:
        plan_id = await create_plan(admin, "Bench unlimited", "BENCH_UNLIMITED")
        say(f"{name}: setup: plan {plan_id}; {config.users} users × {config.sessions} sessions…")
        users = await populate(system.gateway_url, admin, plan_id, config.users, config.sessions)
        ttft_user = await register(system.gateway_url, admin, plan_id)
        await open_sessions(ttft_user, config.ttft_sessions)
        clients += [u.client for u in (*users, ttft_user)]

        sends_cpu: dict[str, float] = {}
        with lag.measured(metrics) as lags:
            sends = await run_sends(system.gateway_url, users, config.seconds, config.connections, config.threads,
                                    config.drain_timeout_s, say, lambda: wait_idle(cpu.pids, config.drain_timeout_s),
                                    lambda: cpu.phase("sends: load, then until the system is idle", sends_cpu))
        cpu.per_operation("admitted send (its reply and title included)", sends_cpu, sends.admitted)
        report.rows += r.sends_rows(sends)
        say(f"{name}: " + report.rows[first].figure + ": " + report.rows[first].result)
        _lag_rows(report, "under the send load", lags)
        if not sends.settled.done:
            report.notes.append(f"{name}: sends: {sends.settled.in_progress} replies were still unfinished "
                                f"{config.drain_timeout_s:.0f} s after the load")

        with cpu.phase("time to first token"):
            ttft = await run_ttft(ttft_user, system.emulator_url, config.seconds, config.ttft_samples, say)
        report.rows += r.ttft_rows(ttft)
        say(f"{name}: time to first token added: {r.spread(ttft.added)}")
        if not headline:
            return

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

        await realistic_phase(config, system, say, report, users, servers, peer, ttft)
    finally:
        await asyncio.gather(*(c.aclose() for c in clients), return_exceptions=True)


async def realistic_phase(config: BenchConfig, system: System, say: Progress, report: r.Report,
                          users: list[BenchUser], servers: dict[str, int], peer: LiteLLM | None,
                          ttft: TtftResult) -> None:
    conversations = min(config.realistic_conversations, sum(len(u.sessions) for u in users))
    say(f"realistic: {conversations} conversations, {realistic.WORDS} chunks {realistic.CHUNK_DELAY_S * 1000:g} ms "
        f"apart, an SSE reader on each, for {config.seconds:.0f} s")
    pids = {**{n: proc.pid for n, proc in system.procs.items()}, **servers}
    meter = CpuMeter(pids, report.cpu)
    ours = realistic.PlatformConversations(users, conversations)
    await ours.open()
    metrics = {n: system.metrics_url(n) for n in system.metrics_ports if n in system.procs}
    try:
        await realistic.closed_loop(ours.reply, conversations, min(2.0, config.seconds))  # warm the streams
        if system.database == "postgresql" and config.postgres_url:  # the pools are open by now
            names = [urlparse(url).path.lstrip("/") for url in system.database_urls.values()]
            meter.pids.update(await postgres_backends(config.postgres_url, names))
        await wait_idle(meter.pids, config.drain_timeout_s)
        spent: dict[str, float] = {}
        with lag.measured(metrics) as lags, meter.phase("realistic: MobixAI, until idle again", spent):
            measured = await realistic.closed_loop(ours.reply, conversations, config.seconds)
            await wait_idle(meter.pids, config.drain_timeout_s)
    finally:
        await ours.close()
    meter.per_operation("streamed reply, realistic (MobixAI)", spent, measured.replies)
    mobix = r.Side("MobixAI", measured, spent, exclude=("emulator", "sms", "zibal"))  # the model; idle emulators
    report.rows += r.realistic_rows(mobix)
    _lag_rows(report, "realistic mode", lags)
    say(f"realistic: MobixAI {measured.per_second:.1f} replies/s, {r.per_reply_ms(mobix):.1f} ms CPU per reply")
    if peer is None:
        return
    peer_pids = {**peer.pids, "redis": servers["redis"]} if "redis" in servers else dict(peer.pids)
    peer_meter = CpuMeter(peer_pids, report.cpu)
    theirs = realistic.PeerConversations(peer.url, peers.MASTER_KEY, peers.MODEL, conversations)
    try:
        await realistic.closed_loop(theirs.reply, conversations, min(2.0, config.seconds))
        await wait_idle(peer_meter.pids, config.drain_timeout_s)
        peer_spent: dict[str, float] = {}
        with peer_meter.phase("realistic: LiteLLM, until idle again", peer_spent):
            peer_measured = await realistic.closed_loop(theirs.reply, conversations, config.seconds)
            await wait_idle(peer_meter.pids, config.drain_timeout_s)
    finally:
        await theirs.close()
    peer_meter.per_operation("streamed reply, realistic (LiteLLM)", peer_spent, peer_measured.replies)
    litellm = r.Side("LiteLLM", peer_measured, peer_spent)
    with peer_meter.phase("time to first token (LiteLLM)"):
        through, direct = await realistic.peer_ttft(peer.url, peers.MASTER_KEY, peers.MODEL, system.emulator_url,
                                                    min(config.ttft_samples, len(ttft.platform_ms) or 1), say)
    report.rows += r.peer_rows(mobix, litellm, ttft, through, direct)
    say("peers: " + "; ".join(f"{row.figure}: {row.result}" for row in report.rows[-4:]))


def run_database(config: BenchConfig, database: str, headline: bool, rabbit_url: str, redis_url: str,
                 say: Progress, report: r.Report, servers: dict[str, int], with_peer: Path | None) -> bool:
    """One system on `database`: started, measured, stopped. False when it failed (logs kept)."""
    rabbit_url = fresh_vhost(rabbit_url, VHOST)
    redis.Redis.from_url(redis_url).flushdb()  # our own database: nothing of an earlier run leaks in
    workdir = Path(tempfile.mkdtemp(prefix=f"mobix-bench-{database}-"))
    system = System(workdir, rabbit_url, redis_url, extra_env={**SERVICE_ENV, **config.service_env},
                    database=database, postgres_url=config.postgres_url if database == "postgresql" else None)
    peer = LiteLLM(workdir, system.emulator_url, redis_url.rsplit("/", 1)[0] + "/0", free_port()) if with_peer else None
    say(f"{DATABASE_NAMES[database]}: starting the system (logs in {workdir})…")
    failed = True
    try:
        system.start_all()
        if peer is not None and with_peer is not None:
            say("peers: starting LiteLLM (2 workers)…")
            peer.start(with_peer)
        say(f"system ready: gateway {system.gateway_url}, emulator {system.emulator_url}")
        asyncio.run(phases(config, system, say, report, headline, servers, peer))
        failed = False
    except Exception as error:  # noqa: BLE001 - report any failure with the services' logs
        say(f"FAILED ({database}): {type(error).__name__}: {error}")
        for name in system.procs:
            tail = system.log_tail(name, 15)
            if tail.strip():
                print(f"--- {name} log (last lines) ---\n{tail}", flush=True)
        if peer is not None:
            print(f"--- litellm log (last lines) ---\n{peer.log_tail()}", flush=True)
    finally:
        say(f"{DATABASE_NAMES[database]}: stopping the system…")
        if peer is not None:
            peer.stop()
        system.stop_all()
        system.drop_databases()
        if not failed:
            shutil.rmtree(workdir, ignore_errors=True)
        else:
            say(f"logs kept in {workdir}")
    return not failed


def run(config: BenchConfig) -> int:
    say = Progress()
    # Taken before anything of ours runs: the load average then is other people's work.
    before = [f"load average (1 / 5 / 15 min) before the benchmark started anything: {load_average()}"]
    if busy_with_other_work():
        before.append("other work was running on the machine (load average above half the CPUs before the "
                      "benchmark started): absolute figures understate the system; ratios within one run, "
                      "the session-list ratio and the limit check are the least affected")
    wrk = ensure_wrk()
    litellm = peers.ensure_installed(say) if config.peers else None
    rabbit = ensure_rabbitmq(os.environ.get("RABBIT_URL", "amqp://guest:guest@127.0.0.1:5672/"))
    cache = ensure_redis(os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"))
    describe_servers([rabbit, cache])
    redis_url = urlunparse(urlparse(cache.url)._replace(path=f"/{REDIS_DB}"))
    servers = {name: pid for name, pid in (("rabbitmq", pid_listening(urlparse(rabbit.url).port or 5672)),
                                           ("redis", pid_listening(urlparse(cache.url).port or 6379))) if pid}
    report = r.Report(datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"), describe(wrk), config.describe())
    report.notes += before
    if len(servers) < 2:
        report.notes.append("RabbitMQ's or Redis's process could not be found (not ours?): its CPU is not counted")
    ok = True
    try:
        for n, database in enumerate(config.databases):
            ok = run_database(config, database, n == 0, rabbit.url, redis_url, say, report, servers,
                              litellm if n == 0 else None) and ok
    finally:
        rabbit.stop()
        cache.stop()
    report.notes.append(f"load average when the phases ended: {load_average()}")
    path = config.results or r.RESULTS
    report.write(path)
    print("\n" + report.text() + "\n", flush=True)
    say(f"results written to {path}")
    return 0 if ok and report.limits_held else 1
