"""Processes whose CPU a benchmark counts beyond the ones it started: the server listening on a port
(RabbitMQ, Redis) and every descendant of a process (a proxy's workers)."""

from pathlib import Path

LISTEN = "0A"  # TCP state LISTEN in /proc/net/tcp


def listening_inodes(table: str, port: int) -> set[str]:
    """Socket inodes listening on `port` in the text of /proc/net/tcp or tcp6."""
    inodes = set()
    for line in table.splitlines()[1:]:
        fields = line.split()
        if len(fields) > 9 and fields[3] == LISTEN and int(fields[1].rsplit(":", 1)[1], 16) == port:
            inodes.add(fields[9])
    return inodes


def pid_listening(port: int) -> int | None:
    """The process listening on a local TCP port (one of ours: other users' fds cannot be read)."""
    inodes: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            inodes |= listening_inodes(Path(table).read_text(), port)
        except OSError:
            continue
    targets = {f"socket:[{inode}]" for inode in inodes}
    if not targets:
        return None
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            for fd in (proc / "fd").iterdir():
                if fd.readlink().as_posix() in targets:
                    return int(proc.name)
        except OSError:
            continue
    return None


def parent_of(stat: str) -> int:
    """The parent pid in the text of /proc/PID/stat (the command name may hold spaces)."""
    return int(stat[stat.rindex(")") + 2:].split()[1])


def descendants(pid: int) -> list[int]:
    """Every live process under `pid`, children first."""
    parents: dict[int, int] = {}
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                parents[int(proc.name)] = parent_of((proc / "stat").read_text())
            except OSError:
                continue
    found, frontier = [], [pid]
    while frontier:
        children = [child for child, parent in parents.items() if parent in frontier]
        found += children
        frontier = children
    return found


async def postgres_backends(admin_url: str, databases: list[str]) -> dict[str, int]:
    """The server processes serving connections to `databases` now, as "postgresql#n" (bench.cpu.fold
    sums them): the database's own CPU, counted like RabbitMQ's and Redis's."""
    import asyncpg

    conn = await asyncpg.connect(admin_url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        rows = await conn.fetch("SELECT pid FROM pg_stat_activity WHERE datname = ANY($1::text[])", databases)
    finally:
        await conn.close()
    return {f"postgresql#{n}": row["pid"] for n, row in enumerate(rows)}
