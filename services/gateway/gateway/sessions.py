"""Server-side login sessions in Redis, Django style: the `sessionid` cookie is an opaque random key.

Redis holds only a hash of the key (a copy of the data gives no usable cookie). Each read slides
the idle timeout (GETEX); the absolute deadline is stored in the record and checked on every read.
A set per user names the hashes of that user's sessions, so a password change can end the others.
"""

import hashlib
import json
import secrets
from dataclasses import dataclass

from redis.asyncio import Redis

from shared.clock import Clock

PREFIX = "mobix:gw:session:"
USER_PREFIX = "mobix:gw:user-sessions:"
MAX_KEY_LENGTH = 128


@dataclass(frozen=True)
class LoginSession:
    key: str  # the cookie value
    user_id: int
    csrf_token: str
    expires_at: float  # absolute deadline, epoch seconds


def new_token() -> str:
    return secrets.token_urlsafe(32)


class SessionStore:
    def __init__(self, redis: Redis, clock: Clock, *, absolute_seconds: int, idle_seconds: int) -> None:
        self.redis = redis
        self.clock = clock
        self.absolute_seconds = absolute_seconds
        self.idle_seconds = idle_seconds

    @staticmethod
    def redis_key(key: str) -> str:
        return PREFIX + hashlib.sha256(key.encode()).hexdigest()

    async def create(self, user_id: int) -> LoginSession:
        session = LoginSession(
            key=new_token(), user_id=user_id, csrf_token=new_token(),
            expires_at=self.clock.now().timestamp() + self.absolute_seconds,
        )
        record = json.dumps({"u": user_id, "c": session.csrf_token, "e": session.expires_at})
        ttl = min(self.idle_seconds, self.absolute_seconds)
        redis_key = self.redis_key(session.key)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.set(redis_key, record, ex=ttl)
            # Members outlive their sessions at most until the set expires; deleting a gone key is harmless.
            pipe.sadd(USER_PREFIX + str(user_id), redis_key)
            pipe.expire(USER_PREFIX + str(user_id), self.absolute_seconds)
            await pipe.execute()
        return session

    async def get(self, key: str | None) -> LoginSession | None:
        """The live session for a cookie value, refreshing its idle timeout; None when there is none."""
        if not key or len(key) > MAX_KEY_LENGTH:
            return None
        redis_key = self.redis_key(key)
        raw = await self.redis.getex(redis_key, ex=self.idle_seconds)
        if raw is None:
            return None
        try:
            record = json.loads(raw)
            session = LoginSession(key, int(record["u"]), str(record["c"]), float(record["e"]))
        except (ValueError, KeyError, TypeError):
            await self.redis.delete(redis_key)
            return None
        if self.clock.now().timestamp() >= session.expires_at:
            await self.redis.delete(redis_key)
            return None
        return session

    async def destroy(self, key: str | None) -> None:
        if key and len(key) <= MAX_KEY_LENGTH:
            await self.redis.delete(self.redis_key(key))

    async def destroy_others(self, user_id: int, keep: str | None) -> None:
        """End every login session of the user except `keep` (the caller's cookie value)."""
        index = USER_PREFIX + str(user_id)
        kept = self.redis_key(keep) if keep else None
        members = await self.redis.smembers(index)
        doomed = [member for member in members if member != kept]
        if doomed:
            async with self.redis.pipeline(transaction=True) as pipe:
                pipe.delete(*doomed)
                pipe.srem(index, *doomed)
                await pipe.execute()
