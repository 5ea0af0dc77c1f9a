"""Command-line settings of a benchmark run (`python -m bench --help`)."""

import argparse
import os
from dataclasses import dataclass, field
from pathlib import Path

VHOST = "mobix_bench"
REDIS_DB = 13


@dataclass(frozen=True)
class BenchConfig:
    seconds: float = 10
    users: int = 20
    sessions: int = 25  # per user
    connections: int = 64
    list_connections: int = 32
    threads: int = 1
    ttft_sessions: int = 5
    ttft_samples: int = 200
    limit: int = 10
    storm_sends: int = 60
    storm_sessions: int = 20
    drain_timeout_s: float = 180
    quick: bool = False
    results: Path | None = None
    service_env: dict[str, str] = field(default_factory=dict)
    databases: tuple[str, ...] = ("postgresql", "sqlite")  # the first is the headline
    postgres_url: str = "postgresql://postgres@127.0.0.1:5432/postgres"  # the server's admin URL
    realistic_conversations: int = 32
    peers: bool = False  # BENCH_PEERS=1: LiteLLM beside the headline

    def describe(self) -> str:
        kind = "quick smoke run" if self.quick else "full run"
        return (f"{kind}: {self.seconds:g} s per load phase; sends from {self.users} users × {self.sessions} "
                f"sessions over {self.connections} connections; session list over {self.list_connections} "
                f"connections; wrk threads {self.threads}; databases {', '.join(self.databases)}; realistic mode "
                f"{self.realistic_conversations} conversations" + ("; LiteLLM beside" if self.peers else "")
                + (f"; service settings {self.service_env}" if self.service_env else ""))


QUICK = {"seconds": 3, "users": 4, "sessions": 8, "connections": 16, "list_connections": 16, "ttft_samples": 20,
         "storm_sends": 50, "storm_sessions": 10, "drain_timeout_s": 90, "realistic_conversations": 8}


def _env(pair: str) -> tuple[str, str]:
    name, sep, value = pair.partition("=")
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {pair!r}")
    return name, value


def _databases(value: str) -> tuple[str, ...]:
    names = tuple(v.strip() for v in value.split(",") if v.strip())
    unknown = [n for n in names if n not in ("postgresql", "sqlite")]
    if not names or unknown or len(set(names)) != len(names):
        raise argparse.ArgumentTypeError(f"expected postgresql and/or sqlite, comma-separated, got {value!r}")
    return names


def parse_args(argv: list[str] | None = None) -> BenchConfig:
    parser = argparse.ArgumentParser(prog="python -m bench", description=(
        "Start the whole MobixAI system locally, load it with wrk and print the figures of "
        "architecture.md §7 (also written to bench/RESULTS.md)."))
    parser.add_argument("--quick", action="store_true", help="a ~30 s smoke run: short phases, few users")
    parser.add_argument("--seconds", type=float, help="duration of each load phase (default 10; quick 3)")
    parser.add_argument("--users", type=int, help="bench users sending (default 20)")
    parser.add_argument("--sessions", type=int, help="chat sessions per bench user (default 25)")
    parser.add_argument("--connections", type=int, help="wrk connections for sends (default 64)")
    parser.add_argument("--list-connections", type=int, help="wrk connections for the session list (default 32)")
    parser.add_argument("--threads", type=int, help="wrk threads (default 1: the system needs the CPUs)")
    parser.add_argument("--ttft-samples", type=int, help="most time-to-first-token samples (default 200)")
    parser.add_argument("--limit", type=int, help="hourly message limit of the accuracy check (default 10)")
    parser.add_argument("--storm-sends", type=int, help="concurrent sends at the limit (default 60)")
    parser.add_argument("--storm-sessions", type=int, help="sessions they are spread over (default 20)")
    parser.add_argument("--results", type=Path, help="where to write the Markdown results (default bench/RESULTS.md)")
    parser.add_argument("--databases", type=_databases, help="comma-separated, the first is the headline "
                        "(default postgresql,sqlite)")
    parser.add_argument("--postgres-url", help="admin URL of the PostgreSQL server (default $BENCH_POSTGRES_URL or "
                        "postgresql://postgres@127.0.0.1:5432/postgres)")
    parser.add_argument("--realistic-conversations", type=int,
                        help="concurrent conversations of the realistic mode (default 32; quick 8)")
    parser.add_argument("--peers", action="store_true", help="also LiteLLM's proxy (same as BENCH_PEERS=1)")
    parser.add_argument("--env", type=_env, action="append", default=[], metavar="NAME=VALUE",
                        help="extra setting for every service process, e.g. WORKER_CONCURRENCY=32")
    args = parser.parse_args(argv)
    values = dict(QUICK) if args.quick else {}
    for name in ("seconds", "users", "sessions", "connections", "list_connections", "threads", "ttft_samples",
                 "limit", "storm_sends", "storm_sessions", "results", "databases", "postgres_url",
                 "realistic_conversations"):
        if getattr(args, name) is not None:
            values[name] = getattr(args, name)
    if "postgres_url" not in values and os.environ.get("BENCH_POSTGRES_URL"):
        values["postgres_url"] = os.environ["BENCH_POSTGRES_URL"]
    peers = args.peers or os.environ.get("BENCH_PEERS", "") not in ("", "0")
    config = BenchConfig(quick=args.quick, service_env=dict(args.env), peers=peers, **values)
    for name in ("seconds", "users", "sessions", "connections", "list_connections", "threads", "ttft_samples",
                 "limit", "storm_sends", "storm_sessions", "realistic_conversations"):
        if getattr(config, name) <= 0:
            parser.error(f"--{name.replace('_', '-')} must be positive")
    if config.storm_sends <= config.limit:
        parser.error("--storm-sends must exceed --limit, or the limit is never reached")
    return config
