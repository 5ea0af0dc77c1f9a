"""Per-row Redis copies of each user's session list: a change to one session re-reads that one row.

A user's copy is three keys:
- `<prefix><user>` (meta): `v` (version, bumped by every change), `s` (the catalog scope it was
  filled under), `n` (how many rows the copy holds; absent: the copy is not whole), and one field
  `d:<session id>` per session changed since the copy was made (dirty rows);
- `<prefix><user>:rows`: session id → the session's JSON, as the route answers it;
- `<prefix><user>:order`: the list's order, member = zero-padded session id, score = `updated_at` in
  microseconds. ZREVRANGE orders equal scores by member descending, so the order is exactly chat's
  `ORDER BY updated_at DESC, id DESC`.

A change marks its session dirty (`touch`) or, when it cannot name it, the whole copy (`touch_all`);
both bump the version. A reader that finds dirty rows fetches just those and patches them in only if
the version did not move since it looked — the same compare-and-set that keeps a slow reader from
writing back data older than a change (gateway.read_cache). Counts are checked on every read, so a
copy whose rows or order key vanished (TTL, eviction) reads as a miss, never as a shorter list.
"""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from redis.asyncio import Redis

from gateway.redis_copies import RedisCopies

# How many dirty rows a read patches in; more (a burst of changes) and the copy is rebuilt whole.
MAX_DIRTY = 32
_ID_DIGITS = 10  # session ids are 32-bit: 10 digits, zero-padded so members sort as numbers

_READ = """
local m = redis.call('HGETALL', KEYS[1])
local scope = redis.call('GET', KEYS[4]) or ''
local meta, dirty = {}, {}
for i = 1, #m, 2 do
  if string.sub(m[i], 1, 2) == 'd:' then dirty[#dirty + 1] = string.sub(m[i], 3) else meta[m[i]] = m[i + 1] end
end
local version = meta['v'] or ''
if not meta['n'] or (meta['s'] or '') ~= scope or #dirty > tonumber(ARGV[1]) then
  return {version, scope, 'miss'}
end
local n = tonumber(meta['n'])
if redis.call('ZCARD', KEYS[3]) ~= n or redis.call('HLEN', KEYS[2]) ~= n then
  return {version, scope, 'miss'}
end
if #dirty > 0 then
  local out = {version, scope, 'dirty'}
  for _, id in ipairs(dirty) do out[#out + 1] = id end
  return out
end
local out = {version, scope, 'rows'}
local members = redis.call('ZREVRANGE', KEYS[3], 0, -1)
for i = 1, #members, 1000 do
  local chunk = {}
  for j = i, math.min(i + 999, #members) do chunk[#chunk + 1] = tostring(tonumber(members[j])) end
  local rows = redis.call('HMGET', KEYS[2], unpack(chunk))
  for _, row in ipairs(rows) do
    if not row then return {version, scope, 'miss'} end
    out[#out + 1] = row
  end
end
return out
"""

# ARGV: version seen, scope seen, ttl, whole ('1': replace every row; '0': patch), then triples
# (id, score, json); an empty json removes the row.
_WRITE = """
if (redis.call('HGET', KEYS[1], 'v') or '') ~= ARGV[1] then return 0 end
if (redis.call('GET', KEYS[4]) or '') ~= ARGV[2] then return 0 end
if ARGV[4] == '1' then
  redis.call('DEL', KEYS[2], KEYS[3])
  redis.call('DEL', KEYS[1])
  if ARGV[1] ~= '' then redis.call('HSET', KEYS[1], 'v', ARGV[1]) end
end
for i = 5, #ARGV, 3 do
  local id, score, row = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  local member = string.rep('0', DIGITS - string.len(id)) .. id
  redis.call('HDEL', KEYS[1], 'd:' .. id)
  if row == '' then
    redis.call('HDEL', KEYS[2], id)
    redis.call('ZREM', KEYS[3], member)
  else
    redis.call('HSET', KEYS[2], id, row)
    redis.call('ZADD', KEYS[3], score, member)
  end
end
redis.call('HSET', KEYS[1], 's', ARGV[2], 'n', redis.call('HLEN', KEYS[2]))
for k = 1, 3 do redis.call('EXPIRE', KEYS[k], ARGV[3]) end
return 1
""".replace("DIGITS", str(_ID_DIGITS))

# ARGV: session id ('' = every row), ttl. The version must outlive any read in flight.
_TOUCH = """
redis.call('HINCRBY', KEYS[1], 'v', 1)
if ARGV[1] == '' then redis.call('HDEL', KEYS[1], 'n') else redis.call('HSET', KEYS[1], 'd:' .. ARGV[1], 1) end
redis.call('EXPIRE', KEYS[1], ARGV[2])
"""


@dataclass(frozen=True)
class Lookup:
    """What a read found: `rows` (the list's JSON rows in order) on a hit, else `dirty` ids to patch
    (None: the copy must be rebuilt whole), and the versions a later write must still see."""

    version: str
    scope: str
    rows: list[bytes] | None = None
    dirty: list[int] | None = None


def order_score(row: dict[str, Any]) -> int:
    """A session's place in the list: `updated_at` in whole microseconds (exact in a double until
    the year 2255)."""
    moment = datetime.fromisoformat(row["updated_at"])
    return int(moment.timestamp()) * 1_000_000 + moment.microsecond


class SessionRows(RedisCopies):
    def __init__(self, redis: Redis, prefix: str, *, ttl_seconds: int) -> None:
        super().__init__(redis, prefix, ttl_seconds=ttl_seconds)
        self._read = redis.register_script(_READ)
        self._write = redis.register_script(_WRITE)
        self._touch = redis.register_script(_TOUCH)

    def keys(self, user_id: int) -> list[str]:
        meta = f"{self.prefix}{user_id}"
        return [meta, f"{meta}:rows", f"{meta}:order", self.scope_key]

    async def read(self, user_id: int) -> Lookup:
        version, scope, kind, *rest = await self._read(keys=self.keys(user_id), args=[MAX_DIRTY])
        version, scope, kind = _text(version), _text(scope), _text(kind)
        if kind == "rows":
            return Lookup(version, scope, rows=[_bytes(r) for r in rest])
        if kind == "dirty":
            return Lookup(version, scope, dirty=sorted(int(_text(i)) for i in rest))
        return Lookup(version, scope)

    async def fill(self, user_id: int, seen: Lookup, rows: list[tuple[str, dict[str, Any]]]) -> bool:
        """Store the whole list (`rows`: each row's JSON and its parsed form) unless a change came
        after `seen` was read."""
        return await self._store(user_id, seen, "1", [(row["id"], json, row) for json, row in rows])

    async def patch(self, user_id: int, seen: Lookup, changed: dict[int, tuple[str, dict[str, Any]] | None]) -> bool:
        """Put the re-read rows in (None: the session is gone from the list) unless a change came
        after `seen` was read."""
        triples = [(sid, found[0] if found else "", found[1] if found else None) for sid, found in changed.items()]
        return await self._store(user_id, seen, "0", triples)

    async def _store(self, user_id: int, seen: Lookup, whole: str, triples: list) -> bool:
        args: list[Any] = [seen.version, seen.scope, self.ttl_seconds, whole]
        for session_id, json, row in triples:
            args += [str(session_id), order_score(row) if row is not None else 0, json]
        return bool(await self._write(keys=self.keys(user_id), args=args))

    async def touch(self, user_id: int, session_id: int | None) -> None:
        """A change to one session (None: to sessions this caller cannot name, e.g. a create whose
        answer never came)."""
        await self._touch(keys=self.keys(user_id)[:1],
                          args=["" if session_id is None else str(session_id), max(self.ttl_seconds, 60)])

    async def touch_all(self) -> None:
        """Every user's copy (the catalog, which every row embeds, changed)."""
        await self._bump_scope()


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _bytes(value: bytes | str) -> bytes:
    return value if isinstance(value, bytes) else value.encode()
