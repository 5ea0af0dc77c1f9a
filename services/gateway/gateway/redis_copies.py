"""What every kind of Redis copy in the gateway shares: its key prefix, the scope key whose bump
drops every copy at once, and the TTL (0 turns the copies off)."""

from redis.asyncio import Redis


class RedisCopies:
    def __init__(self, redis: Redis, prefix: str, *, ttl_seconds: int) -> None:
        self.redis = redis
        self.prefix = prefix
        self.scope_key = f"{prefix}scope"
        self.ttl_seconds = ttl_seconds

    @property
    def enabled(self) -> bool:
        return self.ttl_seconds > 0

    async def _bump_scope(self) -> None:
        """Every copy under this prefix: a reader compares the scope it saw, so none is read again."""
        await self.redis.incr(self.scope_key)
