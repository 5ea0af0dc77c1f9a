"""Server-side login sessions, Django style: the `sessionid` cookie is an opaque random key.

The gateway's database holds each session (api.md §2: a session survives a Redis restart); Redis
holds a copy that most requests read, with the idle timeout sliding on every read (GETEX). The
database's idle deadline is slid only now and then (every `touch_seconds`), so a request costs no
database write; after a Redis loss a session that was in use within the idle timeout (less at most
`touch_seconds`) is found in the database and copied back. Both hold only a hash of the key (a copy
of either gives no usable cookie). The absolute deadline is checked on every read. A password change
ends the user's other sessions through the database, which knows all of them.
"""

import hashlib
import json
import logging
import secrets
from dataclasses import dataclass

from redis.asyncio import Redis
from sqlalchemy import delete, select, update

from gateway.models import LoginSessionRow
from shared import metrics
from shared.clock import Clock
from shared.db import SessionFactory, transaction

log = logging.getLogger(__name__)
PREFIX = "mobix:gw:session:"
MAX_KEY_LENGTH = 128


@dataclass(frozen=True)
class LoginSession:
    key: str  # the cookie value
    user_id: int
    csrf_token: str
    expires_at: float  # absolute deadline, epoch seconds


def new_token() -> str:
    return secrets.token_urlsafe(32)


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


class SessionStore:
    def __init__(self, redis: Redis, clock: Clock, *, absolute_seconds: int, idle_seconds: int,
                 factory: SessionFactory) -> None:
        self.redis = redis
        self.clock = clock
        self.absolute_seconds = absolute_seconds
        self.idle_seconds = idle_seconds
        self.factory = factory
        self.touch_seconds = min(3600, max(1, idle_seconds // 10))

    @staticmethod
    def redis_key(key: str) -> str:
        return PREFIX + _hash(key)

    async def create(self, user_id: int) -> LoginSession:
        now = self.clock.now().timestamp()
        session = LoginSession(key=new_token(), user_id=user_id, csrf_token=new_token(),
                               expires_at=now + self.absolute_seconds)
        async with transaction(self.factory) as s:
            s.add(LoginSessionRow(key_hash=_hash(session.key), user_id=user_id, csrf_token=session.csrf_token,
                                  expires_at=session.expires_at, idle_until=now + self.idle_seconds))
        await self._cache(session, touched=now)  # after the commit: best effort
        return session

    async def get(self, key: str | None) -> LoginSession | None:
        """The live session for a cookie value, refreshing its idle timeout; None when there is none."""
        if not key or len(key) > MAX_KEY_LENGTH:
            return None
        now = self.clock.now().timestamp()
        try:
            raw = await self.redis.getex(self.redis_key(key), ex=self.idle_seconds)
        except Exception as exc:  # noqa: BLE001 - Redis away: the database answers
            log.warning("session copy unreadable (%r); reading the database", exc)
            raw, cache_up = None, False
        else:
            cache_up = True
        if raw is not None:
            try:
                record = json.loads(raw)
                session = LoginSession(key, int(record["u"]), str(record["c"]), float(record["e"]))
                touched = float(record.get("t", 0))
            except (ValueError, KeyError, TypeError):
                await self.destroy(key)
                return None
            if now >= session.expires_at:
                await self.destroy(key)
                return None
            if now - touched >= self.touch_seconds:  # slide the durable idle deadline now and then
                await self._touch(session, now)
            return session
        return await self._from_database(key, now, cache_up)

    async def _from_database(self, key: str, now: float, cache_up: bool) -> LoginSession | None:
        key_hash = _hash(key)
        async with self.factory() as s:
            row = await s.get(LoginSessionRow, key_hash)
        if row is None:
            return None
        if now >= row.expires_at or now >= row.idle_until:
            async with transaction(self.factory) as s:
                await s.exec(delete(LoginSessionRow).where(LoginSessionRow.key_hash == key_hash))
            return None
        session = LoginSession(key, row.user_id, row.csrf_token, row.expires_at)
        touched = row.idle_until - self.idle_seconds
        if now - touched >= self.touch_seconds:  # with Redis away, still a write only now and then
            await self._touch(session, now, cache=cache_up)
        elif cache_up:
            await self._cache(session, touched=touched)
        return session

    async def _touch(self, session: LoginSession, now: float, *, cache: bool = True) -> None:
        async with transaction(self.factory) as s:
            await s.exec(update(LoginSessionRow).where(LoginSessionRow.key_hash == _hash(session.key))
                            .values(idle_until=now + self.idle_seconds))
        if cache:
            await self._cache(session, touched=now)

    async def _cache(self, session: LoginSession, touched: float) -> None:
        record = json.dumps({"u": session.user_id, "c": session.csrf_token, "e": session.expires_at, "t": touched})
        ttl = max(1, min(self.idle_seconds, int(session.expires_at - touched)))
        try:
            await self.redis.set(self.redis_key(session.key), record, ex=ttl)
        except Exception as exc:  # noqa: BLE001 - the database holds the session; the copy is rebuilt
            metrics.AFTER_COMMIT_FAILURES.labels("session_cache").inc()
            log.warning("could not copy a login session to Redis (%r)", exc)

    async def destroy(self, key: str | None) -> None:
        """End the session. Its Redis copy goes first (an error then changes nothing): a copy left
        behind would keep a logged-out session alive."""
        if key and len(key) <= MAX_KEY_LENGTH:
            await self.redis.delete(self.redis_key(key))
            async with transaction(self.factory) as s:
                await s.exec(delete(LoginSessionRow).where(LoginSessionRow.key_hash == _hash(key)))

    async def destroy_others(self, user_id: int, keep: str | None) -> None:
        """End every login session of the user except `keep` (the caller's cookie value)."""
        kept = _hash(keep) if keep else None
        async with self.factory() as s:
            rows = await s.execute(select(LoginSessionRow.key_hash).where(LoginSessionRow.user_id == user_id))
            hashes = rows.scalars().all()
        doomed = [h for h in hashes if h != kept]
        if not doomed:
            return
        copies = [PREFIX + h for h in doomed]
        await self.redis.delete(*copies)  # copies first, as in destroy: a copy left behind stays alive
        async with transaction(self.factory) as s:
            await s.exec(delete(LoginSessionRow).where(LoginSessionRow.key_hash.in_(doomed)))
        await self.redis.delete(*copies)  # a request between the two may have copied one back
