"""HTTP load with wrk: writes the prepared requests, runs wrk with bench/load.lua, parses what it reports."""

import asyncio
import shutil
import signal
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

LUA_SCRIPT = Path(__file__).with_name("load.lua")


@dataclass(frozen=True)
class Prepared:
    """One request wrk may send: cookie and CSRF header of a logged-in user, JSON body or none."""

    method: str
    path: str
    cookie: str = ""
    csrf: str = ""
    body: str = ""

    def line(self) -> str:
        fields = (self.method, self.path, self.cookie, self.csrf, self.body)
        if any("\t" in f or "\n" in f for f in fields):
            raise ValueError(f"tabs and newlines cannot be sent through the requests file: {fields!r}")
        return "\t".join(fields)


@dataclass
class WrkResult:
    duration_s: float
    requests: int
    statuses: dict[int, int]  # responses by status, counted by load.lua
    errors: dict[str, int]
    histogram_ms: dict[int, float]  # wrk's own percentiles over every response
    samples_ms: dict[int, list[float]] = field(default_factory=dict)  # by status, X-Request-ID timed

    def count(self, status: int) -> int:
        return self.statuses.get(status, 0)

    def rate(self, status: int) -> float:
        return self.count(status) / self.duration_s if self.duration_s else 0.0

    def others(self, *expected: int) -> dict[int, int]:
        return {s: n for s, n in sorted(self.statuses.items()) if s not in expected}

    @property
    def socket_errors(self) -> int:
        return sum(n for kind, n in self.errors.items() if kind != "status")


class WrkFailed(RuntimeError):
    pass


def parse_report(stdout: str) -> WrkResult:
    """The "@@ …" lines that load.lua's done() prints (wrk's own summary lines are ignored)."""
    duration_us = requests = None
    errors: dict[str, int] = {}
    histogram: dict[int, float] = {}
    for line in stdout.splitlines():
        if not line.startswith("@@ "):
            continue
        kind, *values = line[3:].split()
        if kind == "duration_us":
            duration_us = int(values[0])
        elif kind == "requests":
            requests = int(values[0])
        elif kind == "errors":
            errors = {name: int(n) for name, n in (v.split("=") for v in values)}
        elif kind == "latency_us":
            histogram[int(values[0].lstrip("p"))] = int(values[1]) / 1000
    if duration_us is None or requests is None:
        raise WrkFailed("wrk printed no summary (did the Lua script fail?)")
    return WrkResult(duration_us / 1_000_000, requests, {}, errors, histogram)


def parse_samples(text: str) -> tuple[dict[int, int], dict[int, list[float]]]:
    """"status microseconds" lines (-1: not timed) -> responses by status, milliseconds by status."""
    statuses: dict[int, int] = {}
    samples: dict[int, list[float]] = {}
    for line in text.splitlines():
        if not line.strip():
            continue
        status, micros = (int(float(v)) for v in line.split())
        statuses[status] = statuses.get(status, 0) + 1
        if micros >= 0:
            samples.setdefault(status, []).append(micros / 1000)
    return statuses, samples


def ensure_wrk() -> str:
    """The wrk binary, installed with apt-get like devinfra installs the servers when it is missing."""
    from devinfra.servers import _apt_install

    _apt_install("wrk", "wrk")
    path = shutil.which("wrk")
    if path is None:
        raise SystemExit("wrk is not installed and could not be installed: apt-get install wrk")
    return path


async def run_wrk(
    base_url: str,
    requests: list[Prepared],
    *,
    seconds: float,
    connections: int,
    threads: int = 1,
    count: int | None = None,
    timeout_s: int = 30,
) -> WrkResult:
    """Load `base_url` with `requests` round-robin for `seconds`; with `count`, make exactly that many
    requests per thread and stop as soon as they have all answered."""
    if not requests:
        raise ValueError("no requests to send")
    with tempfile.TemporaryDirectory(prefix="mobix-wrk-") as scratch:
        requests_file = Path(scratch) / "requests.tsv"
        samples_prefix = Path(scratch) / "samples.txt"  # each wrk thread appends ".<index>"
        requests_file.write_text("".join(r.line() + "\n" for r in requests))
        argv = [
            ensure_wrk(), f"-t{threads}", f"-c{max(connections, threads)}", f"-d{max(1, round(seconds))}s",
            f"--timeout={timeout_s}s", "-s", str(LUA_SCRIPT), base_url,
            "--", str(requests_file), str(samples_prefix), str(threads), *([str(count)] if count else []),
        ]
        proc = await asyncio.create_subprocess_exec(
            *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
        )
        assert proc.stdout is not None and proc.stderr is not None
        stderr_task = asyncio.ensure_future(proc.stderr.read())  # drained alongside, so it never blocks wrk
        lines: list[str] = []
        finished = 0
        async for raw in proc.stdout:
            line = raw.decode(errors="replace").rstrip("\n")
            lines.append(line)
            if line == "@@ finished":
                finished += 1
                if finished == threads:
                    proc.send_signal(signal.SIGINT)  # wrk's SIGINT ends its sleep and prints the report
        stderr = (await stderr_task).decode(errors="replace")
        await proc.wait()
        stdout = "\n".join(lines)
        try:
            if proc.returncode != 0:
                raise WrkFailed(f"wrk exited with {proc.returncode}")
            result = parse_report(stdout)
        except WrkFailed as error:
            raise WrkFailed(f"{error}\n{stdout}\n{stderr}") from None
        samples = "".join(f.read_text() for f in sorted(Path(scratch).glob(f"{samples_prefix.name}.*")))
        result.statuses, result.samples_ms = parse_samples(samples)
        return result
