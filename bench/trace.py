"""`python -m bench.trace [--sends N] [--database sqlite|postgresql]`: where a send's time to first token
goes, read off the services' own OpenTelemetry spans.

The system runs with tracing on, exporting (OTLP over HTTP) to a small receiver in this process; the
time-to-first-token phase sends one message at a time with an SSE reader on its session. Each send's
trace is reduced to milestones (chat gets the RPC, billing admits, the command reaches the worker, the
model answers, the first delta is written and sent on the stream …), and the table gives each
milestone's median offset from the moment the gateway got the request. Tracing costs time of its own
(every span is recorded and exported), so the offsets are a little later than in an untraced run:
read the steps between milestones, not the totals (the totals are `make bench`'s).
"""

import argparse
import asyncio
import os
import shutil
import statistics
import tempfile
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

from devinfra.otlp import OtlpReceiver, Span
from devinfra.system import System

from bench.config import BenchConfig
from bench.population import create_plan, open_sessions, register, staff
from bench.runner import SERVICE_ENV, Progress
from bench.servers import bench_servers
from bench.ttft import run_ttft

SEND_SPAN = "POST /api/chat-sessions/{session_id}/send/"
SSE_WRITE_SPAN = "GET /api/chat-sessions/{session_id}/stream/ http send"


Pick = Callable[[list[Span]], float | None]


def _first(service: str, match: Callable[[str], bool], edge: str = "start", after: Pick | None = None) -> Pick:
    """The start (or end) of the earliest span of `service` whose name matches, optionally only among
    spans starting after another milestone."""

    def pick(spans: list[Span]) -> float | None:
        floor = after(spans) if after else None
        if after and floor is None:
            return None
        found = [s for s in spans if s.service == service and match(s.name) and (floor is None or s.start_ms >= floor)]
        if not found:
            return None
        span = min(found, key=lambda s: s.start_ms)
        return span.start_ms if edge == "start" else span.end_ms

    return pick


_billing_answers = _first("billing", lambda n: n == "rpc.billing.admit process", "end")
_first_delta = _first("llm-worker", lambda n: n.startswith("XADD"))
MILESTONES: list[tuple[str, Pick]] = [
    ("chat gets the send (RPC)", _first("chat", lambda n: n == "rpc.chat.run_exchange process")),
    ("billing gets the admission (RPC)", _first("billing", lambda n: n == "rpc.billing.admit process")),
    ("billing answers", _billing_answers),
    ("chat answers the gateway", _first("chat", lambda n: n.startswith("default.amq.rabbitmq.reply-to"),
                                        after=_billing_answers)),
    ("chat publishes the command", _first("chat", lambda n: n == "commands.llm.generate_reply publish")),
    ("the worker gets the command", _first("llm-worker", lambda n: n == "commands.llm.generate_reply process")),
    ("the worker calls the model", _first("llm-worker", lambda n: n == "POST")),
    ("the model's response headers", _first("llm-worker", lambda n: n == "POST", "end")),
    ("the first delta written (XADD)", _first_delta),
    ("the gateway answers 201", _first("gateway", lambda n: n == SEND_SPAN, "end")),
]
FIRST_ON_STREAM = "the first delta sent on the stream"


def milestones(spans: list[Span]) -> dict[str, list[float]]:
    """Each milestone's offsets (ms from the gateway receiving the send), one per send trace."""
    by_trace: dict[str, list[Span]] = defaultdict(list)
    for span in spans:
        by_trace[span.trace_id].append(span)
    stream_writes = sorted(s.start_ms for s in spans if s.service == "gateway" and s.name == SSE_WRITE_SPAN)
    offsets: dict[str, list[float]] = defaultdict(list)
    for trace in by_trace.values():
        root = next((s for s in trace if s.service == "gateway" and s.name == SEND_SPAN), None)
        if root is None:
            continue
        for label, pick in MILESTONES:
            at = pick(trace)
            if at is not None:
                offsets[label].append(at - root.start_ms)
        # The stream is another request's trace: its first write after this send's first delta.
        delta = _first_delta(trace)
        sent = next((t for t in stream_writes if delta is not None and t >= delta), None)
        if sent is not None:
            offsets[FIRST_ON_STREAM].append(sent - root.start_ms)
    return offsets


def table(offsets: dict[str, list[float]]) -> str:
    rows = sorted(((statistics.median(v), label, len(v)) for label, v in offsets.items() if v))
    lines = ["| milestone | median ms after the gateway got the send | step | sends |", "|---|---|---|---|"]
    previous = 0.0
    for median, label, count in rows:
        lines.append(f"| {label} | {median:.2f} | +{median - previous:.2f} | {count} |")
        previous = median
    return "\n".join(lines)


async def _sends(system: System, sends: int, say: Progress) -> None:
    admin = await staff(system.gateway_url)
    plan_id = await create_plan(admin, "Trace unlimited", "TRACE_UNLIMITED")
    user = await register(system.gateway_url, admin, plan_id)
    await open_sessions(user, 5)
    await run_ttft(user, system.emulator_url, 120, sends, say)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.trace", description=__doc__.splitlines()[0])
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="postgresql")
    parser.add_argument("--sends", type=int, default=100)
    args = parser.parse_args(argv)
    say = Progress()
    receiver = OtlpReceiver()
    postgres = os.environ.get("BENCH_POSTGRES_URL", BenchConfig.postgres_url) if args.database == "postgresql" else None
    env = {**SERVICE_ENV, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": receiver.endpoint, "OTEL_BSP_SCHEDULE_DELAY": "200"}
    workdir = Path(tempfile.mkdtemp(prefix="mobix-trace-"))
    try:
        with bench_servers() as servers:
            system = System(workdir, servers.rabbit_url, servers.redis_url, extra_env=env, database=args.database,
                            postgres_url=postgres)
            say("starting the system with tracing on…")
            with system.running():
                asyncio.run(_sends(system, args.sends, say))
                say("stopping the services (they export their last spans)…")
    finally:
        receiver.close()
        shutil.rmtree(workdir, ignore_errors=True)
    print(table(milestones(receiver.spans)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
