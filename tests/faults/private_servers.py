"""A private PostgreSQL cluster and a private Redis for one fault-test module, on free ports, so the
tests can stop, kill and restart them without touching the machine-wide servers."""

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import redis
from devinfra.system import free_port


class PrivatePostgres:
    """`pg_createcluster`/`pg_ctlcluster` (Debian's postgresql-common); trust auth on 127.0.0.1."""

    def __init__(self) -> None:
        self.port = free_port()
        self.version = sorted(os.listdir("/usr/lib/postgresql"), key=int)[-1]
        self.name = f"mobixfaults{self.port}"

    @staticmethod
    def available() -> bool:
        return shutil.which("pg_createcluster") is not None and os.path.isdir("/usr/lib/postgresql")

    def url(self, database: str) -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/{database}"

    def create(self, *databases: str) -> None:
        subprocess.run(["pg_createcluster", "-p", str(self.port), self.version, self.name, "--",
                        "--auth=trust"], check=True, capture_output=True, timeout=120)
        self.start()
        for database in databases:
            self.psql(f"CREATE DATABASE {database}")

    def psql(self, sql: str, database: str = "postgres") -> str:
        return subprocess.run(["psql", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "-d", database,
                               "-tAc", sql], check=True, capture_output=True, text=True, timeout=60).stdout

    def start(self) -> None:
        subprocess.run(["pg_ctlcluster", self.version, self.name, "start"], check=True, capture_output=True,
                       timeout=120)

    def stop(self) -> None:
        subprocess.run(["pg_ctlcluster", self.version, self.name, "stop", "-m", "fast"], check=True,
                       capture_output=True, timeout=120)

    def drop(self) -> None:
        subprocess.run(["pg_dropcluster", "--stop", self.version, self.name], capture_output=True, timeout=120)


class PrivateRedis:
    """redis-server without persistence: a restart loses every key, as the worst case does."""

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.workdir = workdir
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        log = open(self.workdir / "redis.log", "ab")  # noqa: SIM115 - owned by the process
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(self.workdir)], stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while True:
            try:
                if redis.Redis.from_url(self.url).ping():
                    return
            except redis.exceptions.ConnectionError:
                pass
            assert time.monotonic() < deadline, "private redis-server did not start"
            time.sleep(0.05)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=30)
