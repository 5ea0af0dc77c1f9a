"""Read-through copies in Redis that are never stale after a change the gateway knows of.

Each entry is a Redis hash `{v: version, d: data, s: scope version}`. A change bumps the entry's
version (`invalidate`) or the version of the whole scope (`invalidate_all`), and a reader only stores
what it fetched if neither version moved since it looked (`fill`). So a slow reader that fetched the
old data before a change can never write it back over the change, the classic race of delete-on-write
caches. The TTL only bounds memory and changes made behind the gateway's back (an operator's SQL).

Both scripts name the entry and the scope key in KEYS; on a Redis Cluster they need a hash tag to
share a slot, which this single-node deployment does not.
"""

from dataclasses import dataclass

from redis.asyncio import Redis

from gateway.redis_copies import RedisCopies

_READ = """
local h = redis.call('HMGET', KEYS[1], 'v', 'd', 's')
local scope = redis.call('GET', KEYS[2]) or ''
local version = h[1] or ''
if h[2] and (h[3] or '') == scope then
  return {version, scope, h[2]}
end
return {version, scope}
"""

_FILL = """
if (redis.call('HGET', KEYS[1], 'v') or '') ~= ARGV[1] then return 0 end
if (redis.call('GET', KEYS[2]) or '') ~= ARGV[2] then return 0 end
redis.call('HSET', KEYS[1], 'd', ARGV[3], 's', ARGV[2])
redis.call('EXPIRE', KEYS[1], ARGV[4])
return 1
"""


@dataclass(frozen=True)
class Lookup:
    """What a read found: the data (None on a miss) and the versions a later `fill` must still see."""

    data: str | None
    version: str
    scope: str


class VersionedCache(RedisCopies):
    def __init__(self, redis: Redis, prefix: str, *, ttl_seconds: int) -> None:
        super().__init__(redis, prefix, ttl_seconds=ttl_seconds)
        self._read = redis.register_script(_READ)
        self._fill = redis.register_script(_FILL)

    def _key(self, entry: int | str) -> str:
        return f"{self.prefix}{entry}"

    async def read(self, entry: int | str) -> Lookup:
        version, scope, *data = await self._read(keys=[self._key(entry), self.scope_key])
        return Lookup(data[0] if data else None, version, scope)

    async def fill(self, entry: int | str, seen: Lookup, data: str) -> bool:
        """Store `data` unless the entry or its scope changed since `seen` was read."""
        args = [seen.version, seen.scope, data, self.ttl_seconds]
        return bool(await self._fill(keys=[self._key(entry), self.scope_key], args=args))

    async def invalidate(self, entry: int | str) -> None:
        key = self._key(entry)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hincrby(key, "v", 1)
            pipe.hdel(key, "d")
            # The version must outlive any read in flight, and no longer than an entry would.
            pipe.expire(key, max(self.ttl_seconds, 60))
            await pipe.execute()

    async def invalidate_all(self) -> None:
        await self._bump_scope()
