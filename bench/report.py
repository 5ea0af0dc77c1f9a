"""The results table: figures beside the targets of architecture.md §7, printed and written as Markdown."""

import math
from dataclasses import dataclass, field
from pathlib import Path

from bench import lag
from bench.limits import LimitResult
from bench.loadgen import WrkResult
from bench.realistic import Conversations
from bench.sends import SendsResult
from bench.session_list import ListResult
from bench.stats import Spread, paired_differences
from bench.ttft import TtftResult

RESULTS = Path(__file__).with_name("RESULTS.md")
TARGET_SENDS_PER_S = 300
TARGET_TTFT_P50_MS = 10
TARGET_TTFT_P99_MS = 30
TARGET_LIST_RATIO = 0.5
TARGET_LAG_P99_MS = 5
# Against LiteLLM (issue 12), each a ratio read off one run.
TARGET_CPU_RATIO = 0.5  # CPU per streamed reply, realistic mode, at most
TARGET_RATE_RATIO = 2.0  # replies per second, realistic mode, at least
TARGET_TTFT_P50_RATIO = 1.0  # time to first token added, p50, at most LiteLLM's

HOW = """\
- **Sends**: wrk (one connection per in-flight request, closed loop) posts `POST /api/chat-sessions/{id}/send/`
  round-robin over every session of every bench user (a session allows one reply in progress, so the
  load is spread; 409s are counted apart). After the load the harness waits until the services' processes
  are idle (CPU time from /proc, so the waiting adds no work), then reads every session's messages, again
  for any reply still queued or streaming; *end to end* = stored user messages ÷ (last assistant message's
  `created_at` − load start). The 201 latency comes from `bench/load.lua`, which matches each response to
  its request by `X-Request-ID` and keeps the timings of 201s only.
- **Time to first token**: sequential sends on sessions whose SSE stream is open; each sample is
  (POST send → first `reply.delta`) minus (request → first content chunk) calling the emulator's
  `/api/v1/chat/completions` directly with the same conversation just before; p50/p99 of the per-sample
  differences. The raw figures of both are shown.
- **Session list**: wrk `GET /api/chat-sessions/` rotating over the bench users' cookies, then the same
  wrk settings against `bench/bare_app.py` (a bare FastAPI route returning the same JSON bytes from memory,
  uvicorn configured like the gateway); latencies are wrk's histogram (with its coordinated-omission
  correction).
- **Limit accuracy**: a plan with only `hourly_max_messages` set; one new user fires all sends at once, one
  wrk connection each, over several sessions; once every reply has finished, `used` of
  `hourly_messages` from `GET /api/users/usage/` is the committed usage. Overshoot = committed (or 201s)
  beyond the limit.
- **Databases**: the headline runs every service on PostgreSQL (asyncpg), a fresh database each, on the
  server at `--postgres-url`; the SQLite default (each connection's statements on a thread of its own)
  runs the sends and the time to first token beside it.
- **Event-loop lag**: every service samples how late its event loop runs a 25 ms timer
  (`mobix_event_loop_lag_seconds` on its metrics port); the harness scrapes the histogram before and
  after a phase. The p99 shown is the upper bound of the bucket holding it.
- **Realistic mode**: the emulator paced like a real model (`[[reply:words=40 delay=0.012]]` in each
  prompt) and a closed loop of C conversations for the phase's duration, each sending its next message
  once the last reply completed. MobixAI: POST send, then the session's SSE stream (one reader on every
  sending session) until `reply.completed`. LiteLLM (`BENCH_PEERS=1`; pinned, its own virtual environment
  in var/bench-peers, 2 gunicorn workers, the router's rpm/tpm limits kept in Redis): one streamed
  `/v1/chat/completions` per reply. CPU per reply = every involved process's CPU from the start of the
  loop until the system is idle again ÷ replies completed; the emulator (the model) is shown but not
  counted. Replies/s = replies completed ÷ the loop's duration. The time-to-first-token comparison uses
  the sequential, unpaced measurement above for both (LiteLLM's paired with direct emulator calls too).
- Everything runs on the same machine at once: the four services, the emulator, RabbitMQ, Redis and wrk
  share its CPUs."""

CPU_NOTE = ("CPU time (user + system, from /proc) each process used: seconds per phase, and milliseconds per "
            "operation. The realistic mode counts RabbitMQ and Redis too (and, for LiteLLM, its processes and "
            "Redis); the other phases count the services and the emulator only; wrk and the harness never.")


@dataclass
class Row:
    figure: str
    result: str
    target: str = ""
    met: bool | None = None

    @property
    def verdict(self) -> str:
        return {True: "met", False: "MISSED", None: ""}[self.met]


@dataclass
class Report:
    date: str
    machine: str
    settings: str
    rows: list[Row] = field(default_factory=list)
    cpu: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    limits_held: bool = False  # the correctness check: exit status 1 when it fails

    def markdown(self) -> str:
        lines = [
            "# Benchmark results",
            "",
            "The latest run of `make bench` (`python -m bench`); every run overwrites this file.",
            "",
            f"- Date: {self.date}",
            f"- Machine: {self.machine}",
            f"- Run: {self.settings}",
            "",
            "| Figure | Result | Target (architecture.md §7) | |",
            "|---|---|---|---|",
            *(f"| {r.figure} | {r.result} | {r.target} | {r.verdict} |" for r in self.rows),
            "",
        ]
        if self.cpu:
            lines += ["## Where the CPU went", "", CPU_NOTE, "", "| Phase | CPU |", "|---|---|",
                      *(f"| {r.figure} | {r.result} |" for r in self.cpu), ""]
        if self.notes:
            lines += ["## Notes on this run", "", *(f"- {n}" for n in self.notes), ""]
        lines += ["## How the figures are measured", "", HOW, ""]
        return "\n".join(lines)

    def text(self) -> str:
        widths = [max(len(getattr(r, a)) for r in self.rows) for a in ("figure", "result", "target")]
        out = [f"Benchmark — {self.date}", self.machine, self.settings, ""]
        for r in self.rows:
            out.append(f"{r.figure:<{widths[0]}}  {r.result:<{widths[1]}}  {r.target:<{widths[2]}}  {r.verdict}".rstrip())
        if self.cpu:
            out += ["", "CPU by process:", *(f"  {r.figure}: {r.result}" for r in self.cpu)]
        out += [f"note: {n}" for n in self.notes]
        return "\n".join(out)

    def write(self, path: Path = RESULTS) -> None:
        path.write_text(self.markdown())


def cpu_row(phase: str, wall_s: float, spent: dict[str, float]) -> Row:
    ranked = sorted(spent.items(), key=lambda item: -item[1])
    return Row(f"{phase} ({wall_s:.0f} s wall)", ", ".join(f"{name} {seconds:.1f}" for name, seconds in ranked))


def ms(value: float) -> str:
    return f"{value:.1f}" if value < 100 else f"{value:.0f}"


def spread(s: Spread | None) -> str:
    return f"{ms(s.p50)} / {ms(s.p99)} ms (n={s.count})" if s else "no samples"


def statuses(result: WrkResult) -> str:
    parts = [f"{n}×{status}" for status, n in sorted(result.statuses.items())]
    if result.socket_errors:
        parts.append(f"{result.socket_errors} socket errors")
    return ", ".join(parts) or "no responses"


def sends_rows(r: SendsResult) -> list[Row]:
    rate = r.per_second
    drain = f"; replies all stored {r.drain_s:.1f} s after the load stopped" if r.drain_s is not None else ""
    unfinished = "" if r.settled.done else f"; {r.settled.in_progress} replies unfinished at the deadline"
    return [
        Row("Sends admitted/s end to end (201 → reply stored)",
            f"{rate:.0f}/s" if rate is not None else "not measured (replies unfinished)",
            f"≥ {TARGET_SENDS_PER_S}/s", rate is not None and rate >= TARGET_SENDS_PER_S),
        Row("Send: 201 latency p50 / p99", spread(r.latency)),
        Row("Send: responses during the load", f"{statuses(r.wrk)} in {r.wrk.duration_s:.1f} s "
            f"({r.wrk.rate(201):.0f} 201/s while loading){drain}{unfinished}"),
        Row("Send: replies", f"{r.settled.completed} completed, {r.settled.failed} failed"),
    ]


def ttft_rows(r: TtftResult) -> list[Row]:
    added = r.added
    met = added is not None and added.p50 <= TARGET_TTFT_P50_MS and added.p99 <= TARGET_TTFT_P99_MS
    return [
        Row("Time to first token added by the platform p50 / p99", spread(added),
            f"≤ {TARGET_TTFT_P50_MS} / ≤ {TARGET_TTFT_P99_MS} ms", met),
        Row("TTFT: via the platform (send → first reply.delta)", spread(r.platform)),
        Row("TTFT: of which the send's own 201 (no other load)", spread(r.answered)),
        Row("TTFT: emulator called directly (→ first chunk)", spread(r.direct)),
    ]


def list_rows(r: ListResult) -> list[Row]:
    ratio = r.ratio
    def one(w: WrkResult) -> str:
        return f"{w.rate(200):.0f} req/s, p50 / p99 {ms(w.histogram_ms[50])} / {ms(w.histogram_ms[99])} ms"
    other = {**r.platform.others(200), **r.bare.others(200)}
    return [
        Row(f"GET /api/chat-sessions/ ({r.sessions_per_list} sessions, {r.body_bytes} B)", one(r.platform)),
        Row("Bare FastAPI route, same JSON from memory", one(r.bare)),
        Row("Session list ÷ bare route", f"{ratio:.2f}×" if ratio is not None else "n/a",
            f"≥ {TARGET_LIST_RATIO}×", ratio is not None and ratio >= TARGET_LIST_RATIO and not other),
    ]


def limit_rows(r: LimitResult) -> list[Row]:
    return [
        Row(f"Limit accuracy: {r.sends} concurrent sends, limit {r.limit}/hour, {r.sessions} sessions",
            f"{r.admitted} admitted, {r.committed} committed, overshoot {r.overshoot} ({statuses(r.wrk)})",
            "overshoot 0", r.overshoot == 0 and r.settled.done),
    ]


def section(title: str) -> Row:
    return Row(f"**{title}**", "")


def lag_rows(when: str, lags: dict[str, lag.Buckets]) -> list[Row]:
    rows = []
    for name, buckets in sorted(lags.items()):
        bound = lag.quantile_bound(buckets, 0.99)
        rows.append(Row(f"Event-loop lag p99, {name}, {when}", lag.describe(bound, lag.samples(buckets)),
                        f"≤ {TARGET_LAG_P99_MS} ms", None if bound is None else bound * 1000 <= TARGET_LAG_P99_MS))
    return rows


@dataclass
class Side:
    """One side of the realistic comparison: what its loop measured and the CPU of its processes."""

    name: str
    measured: Conversations
    spent: dict[str, float]
    exclude: tuple[str, ...] = ()  # shown, not counted (the emulator stands for the model)

    @property
    def counted(self) -> dict[str, float]:
        return {n: s for n, s in self.spent.items() if n not in self.exclude}


def per_reply_ms(side: Side) -> float:
    replies = side.measured.replies
    return 1000 * sum(side.counted.values()) / replies if replies else float("nan")


def ratio(ours: float, theirs: float) -> float | None:
    """ours ÷ theirs, None when either is not a number or theirs is zero."""
    return ours / theirs if theirs and not math.isnan(theirs) and not math.isnan(ours) else None


def realistic_rows(side: Side) -> list[Row]:
    m = side.measured
    failed = f", {m.failed} failed" if m.failed else ""
    return [
        Row(f"Realistic: {side.name} replies/s (streamed, 40 chunks × 12 ms)",
            f"{m.per_second:.1f}/s ({m.replies} in {m.seconds:.1f} s{failed})"),
        Row(f"Realistic: {side.name} CPU per streamed reply (all counted processes)",
            f"{per_reply_ms(side):.1f} ms ({', '.join(sorted(side.counted))})"),
        Row(f"Realistic: {side.name} time to first token under that load", spread(m.first_token)),
    ]


def _x(value: float | None) -> str:
    return f"{value:.2f}×" if value is not None else "n/a"


def peer_rows(ours: Side, theirs: Side, ttft: TtftResult, through: list[float], direct: list[float]) -> list[Row]:
    cpu = ratio(per_reply_ms(ours), per_reply_ms(theirs))
    rate = ratio(ours.measured.per_second, theirs.measured.per_second)
    their_added = Spread.of(paired_differences(through, direct)) if through else None
    our_added = ttft.added
    p50 = ratio(our_added.p50, their_added.p50) if our_added and their_added and their_added.p50 > 0 else None
    return [
        *realistic_rows(theirs),
        Row("LiteLLM: time to first token added p50 / p99 (sequential, unpaced)", spread(their_added)),
        Row("MobixAI ÷ LiteLLM: CPU per streamed reply, realistic", _x(cpu), f"≤ {TARGET_CPU_RATIO}×",
            cpu is not None and cpu <= TARGET_CPU_RATIO),
        Row("MobixAI ÷ LiteLLM: replies per second, realistic", _x(rate), f"≥ {TARGET_RATE_RATIO}×",
            rate is not None and rate >= TARGET_RATE_RATIO),
        Row("MobixAI ÷ LiteLLM: time to first token added, p50", _x(p50)
            + (f" ({ms(our_added.p50)} vs {ms(their_added.p50)} ms)" if our_added and their_added else ""),
            f"≤ {TARGET_TTFT_P50_RATIO}×", p50 is not None and p50 <= TARGET_TTFT_P50_RATIO),
        Row("MobixAI: time to first token added, p99", spread(our_added), f"≤ {TARGET_TTFT_P99_MS} ms",
            our_added is not None and our_added.p99 <= TARGET_TTFT_P99_MS),
    ]
