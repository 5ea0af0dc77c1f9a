"""Redis client factory."""

from redis.asyncio import BlockingConnectionPool, Redis


def make_redis(url: str, *, max_connections: int = 200, timeout: float = 5.0,
               socket_timeout: float | None = None) -> Redis:
    # A blocking pool waits for a free connection instead of raising when all are busy.
    # `socket_timeout` (default: `timeout`) must outlast any blocking command the client sends.
    pool = BlockingConnectionPool.from_url(
        url,
        max_connections=max_connections,
        timeout=timeout,
        socket_connect_timeout=timeout,
        socket_timeout=timeout if socket_timeout is None else socket_timeout,
        decode_responses=True,
    )
    return Redis(connection_pool=pool)
