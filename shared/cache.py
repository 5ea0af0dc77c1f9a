"""Redis client factory."""

from redis.asyncio import BlockingConnectionPool, Redis


def make_redis(url: str, *, max_connections: int = 200, timeout: float = 5.0) -> Redis:
    # A blocking pool waits for a free connection instead of raising when all are busy.
    pool = BlockingConnectionPool.from_url(
        url,
        max_connections=max_connections,
        timeout=timeout,
        socket_connect_timeout=timeout,
        socket_timeout=timeout,
        decode_responses=True,
    )
    return Redis(connection_pool=pool)
