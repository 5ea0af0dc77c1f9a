"""`python -m bench.profile [sends|list|ttft|realistic] [--seconds N] [--database sqlite|postgresql]`: one load phase of the benchmark with py-spy
sampling every service (only the thread holding the GIL: where CPU goes), then each service's hottest functions (own time and with callees).

The raw collapsed stacks stay in `var/profile/<phase>-<service>.txt` (load them into speedscope or
flamegraph.pl for a picture).
"""

import argparse
import asyncio
import os
import shutil
import signal
import subprocess
import tempfile
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from devinfra.system import System

from bench import realistic
from bench.config import BenchConfig
from bench.population import create_plan, open_sessions, populate, register, staff
from bench.runner import SERVICE_ENV, Progress
from bench.sends import run_sends
from bench.servers import BenchServers, bench_servers
from bench.session_list import run_session_list
from bench.ttft import run_ttft

SERVICES = ("gateway", "chat", "billing", "llm-worker")
OUT = Path("var/profile")


def summarise(raw: Path, top: int) -> str:
    """Own and inclusive sample counts per function from py-spy's collapsed stacks."""
    own: Counter = Counter()
    inclusive: Counter = Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        total += n
        frames = stack.split(";")
        own[frames[-1]] += n
        for frame in set(frames):
            inclusive[frame] += n
    if not total:
        return "  (no samples)"
    lines = [f"  {total} samples; own time:"]
    lines += [f"    {100 * n / total:5.1f}%  {frame}" for frame, n in own.most_common(top)]
    lines.append("  with callees:")
    lines += [f"    {100 * n / total:5.1f}%  {frame}" for frame, n in inclusive.most_common(top * 2)]
    return "\n".join(lines)


async def _phase(name: str, system: System, seconds: float, say: Progress, sample: Callable[[], None]) -> None:
    """Sets up the users, then calls `sample()` to start the samplers just before the load."""
    admin = await staff(system.gateway_url)
    plan_id = await create_plan(admin, "Profile unlimited", "PROFILE_UNLIMITED")
    users = await populate(system.gateway_url, admin, plan_id, 20, 25)
    ttft_user = await register(system.gateway_url, admin, plan_id)
    await open_sessions(ttft_user, 5)
    say(f"profiling {name} for {seconds:g} s…")
    sample()
    if name == "sends":
        await run_sends(system.gateway_url, users, seconds, 64, 1, 180, say)
    elif name == "realistic":  # paced replies, an SSE reader on each sending session (bench.realistic)
        conversations = realistic.PlatformConversations(users, 32)
        await conversations.open()
        try:
            await realistic.closed_loop(conversations.reply, 32, seconds)
        finally:
            await conversations.close()
    elif name == "list":
        await run_session_list(system.gateway_url, users, seconds, 32, 1, say)
    else:
        await run_ttft(ttft_user, system.emulator_url, seconds, 500, say)


def _profile(args: argparse.Namespace, pyspy: str, servers: BenchServers, say: Progress) -> dict[str, tuple[subprocess.Popen, Path]]:
    """The system started, the phase run with py-spy sampling each service; the samplers and their files."""
    workdir = Path(tempfile.mkdtemp(prefix="mobix-profile-"))
    postgres = os.environ.get("BENCH_POSTGRES_URL", BenchConfig.postgres_url) if args.database == "postgresql" else None
    system = System(workdir, servers.rabbit_url, servers.redis_url, extra_env=dict(SERVICE_ENV), database=args.database,
                    postgres_url=postgres)
    OUT.mkdir(parents=True, exist_ok=True)
    samplers: dict[str, tuple[subprocess.Popen, Path]] = {}
    try:
        say("starting the system…")
        system.start_all()

        def sample() -> None:
            for name in SERVICES:
                raw = OUT / f"{args.phase}-{name}.txt"
                cmd = [pyspy, "record", "--pid", str(system.procs[name].pid), "--rate", str(args.rate),
                       "--format", "raw", "--output", str(raw), "--nonblocking", "--gil"]
                samplers[name] = (subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL), raw)

        asyncio.run(_phase(args.phase, system, args.seconds, say, sample))
    finally:
        for proc, _ in samplers.values():
            proc.send_signal(signal.SIGINT)  # py-spy writes its file on Ctrl-C
        for proc, _ in samplers.values():
            proc.wait(timeout=60)
        system.stop_all()
        system.drop_databases()
        shutil.rmtree(workdir, ignore_errors=True)
    return samplers


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.profile", description=__doc__.splitlines()[0])
    parser.add_argument("phase", choices=("sends", "list", "ttft", "realistic"), nargs="?", default="sends")
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--top", type=int, default=25, help="functions listed per service")
    parser.add_argument("--rate", type=int, default=250, help="py-spy samples per second")
    args = parser.parse_args(argv)
    if shutil.which("py-spy") is None and not (Path(os.sys.executable).parent / "py-spy").exists():
        parser.error("py-spy is not installed: pip install py-spy (it is in the project's dev extras)")
    pyspy = shutil.which("py-spy") or str(Path(os.sys.executable).parent / "py-spy")
    say = Progress()
    with bench_servers() as servers:
        samplers = _profile(args, pyspy, servers, say)
    for name, (_, raw) in samplers.items():
        print(f"\n== {name} ({raw})")
        print(summarise(raw, args.top) if raw.exists() else "  (py-spy wrote nothing)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
