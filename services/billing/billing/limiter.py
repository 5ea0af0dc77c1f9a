"""The Redis side of admission: one atomic Lua script per operation over one user's keys.

`UsageLimiter` only speaks to Redis; rebuilding a lost state from the ledger is the caller's job
(`Stale` says when). Any Redis failure becomes `shared.errors.Unavailable`: the system fails closed.
"""

from collections.abc import Awaitable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar
from uuid import UUID

from redis.asyncio import Redis
from redis.exceptions import RedisError

from billing.rules import LIMITS, WINDOWS, limiter_spec
from shared.errors import Unavailable

T = TypeVar("T")
SCRIPT = (Path(__file__).parent / "limiter.lua").read_text()
KEY_TTL_MS = 31 * 24 * 3600 * 1000  # a month of inactivity: the state is dropped and rebuilt on return


class Stale(Exception):
    """The user's state is missing (never built, expired, or lost): rebuild it from the ledger."""


class PeriodChanged(Stale):
    """A new period started since the state was built: its totals count from its start, which the
    buckets cannot tell apart, so the state is rebuilt from the ledger (rare: a plan change)."""


@dataclass(frozen=True)
class ExchangeTerms:
    """One exchange as the limiter sees it (multiplier as an exact fraction, money in nano-USD)."""

    exchange_id: UUID
    period_start_ms: int
    is_free: bool
    multiplier_num: int
    multiplier_den: int
    prompt_tokens: int
    max_reply_tokens: int
    is_image: bool
    prompt_nano_per_token: int | None
    completion_nano_per_token: int | None


@dataclass(frozen=True)
class Admitted:
    max_tokens: int
    rate_limit: tuple[int, int, int] | None  # (limit, remaining, ms until a message frees up)
    epoch: str


@dataclass(frozen=True)
class Denied:
    index: int  # into rules.LIMITS
    limit: int
    used: int
    retry_ms: int | None  # None: never by itself; PERIOD: when the period ends


PERIOD = -2


@dataclass(frozen=True)
class AlreadyCommitted:
    pass


@dataclass(frozen=True)
class LedgerEntry:
    exchange_id: UUID
    admitted_ms: int
    effective_tokens: int
    is_free: bool
    had_image: bool
    cost_nano: int


@dataclass(frozen=True)
class OpenReservation:
    exchange_id: UUID
    admitted_ms: int
    expires_ms: int
    effective_tokens: int
    is_free: bool
    is_image: bool
    cost_nano: int
    max_tokens: int


@dataclass
class Snapshot:
    """What the ledger says the user's state is, for `load`."""

    period_start_ms: int
    period_paid_tokens: int = 0
    period_free_tokens: int = 0
    period_cost_nano: int = 0
    entries: list[LedgerEntry] = field(default_factory=list)
    reservations: list[OpenReservation] = field(default_factory=list)
    released: list[UUID] = field(default_factory=list)  # recently released: not to be kept
    # exchanges billed recently, with when to forget them: a redelivered completion finds them
    # counted, and a reservation of theirs still held in Redis is not kept
    committed: list[tuple[UUID, int]] = field(default_factory=list)


@dataclass(frozen=True)
class LimitUsage:
    used: int
    reset_ms: int | None  # None: nothing to fall out; PERIOD: the period's end


def _b(flag: bool) -> int:
    return 1 if flag else 0


def bucket_totals(entries: list[LedgerEntry], window_ms: int, bucket_ms: int, now_ms: int
                  ) -> dict[int, list[int]]:
    """The entries a window counts at `now_ms`, summed per bucket as limiter.lua keeps them:
    index -> [messages, tokens, free messages, free tokens, images]."""
    lowest = (now_ms - window_ms + 1) // bucket_ms
    buckets: dict[int, list[int]] = {}
    for e in entries:
        index = e.admitted_ms // bucket_ms
        if index < lowest:
            continue
        b = buckets.setdefault(index, [0, 0, 0, 0, 0])
        b[0] += 1
        b[1] += e.effective_tokens
        if e.is_free:
            b[2] += 1
            b[3] += e.effective_tokens
        if e.had_image:
            b[4] += 1
    return buckets


class UsageLimiter:
    def __init__(self, redis: Redis, *, reservation_ttl_seconds: int, min_reply_tokens: int,
                 prefix: str = "billing") -> None:
        self.redis = redis
        self.ttl_ms = reservation_ttl_seconds * 1000
        self.min_reply_tokens = min_reply_tokens
        self.prefix = prefix
        self._script = redis.register_script(SCRIPT)
        self._spec = limiter_spec()

    def keys(self, user_id: int) -> list[str]:
        """marker, state, reservations, dirty, then one hash of buckets per window (limiter.lua)."""
        # one hash tag per user: all of a user's keys live in one cluster slot, as a script needs
        base = f"{self.prefix}:{{u{user_id}}}"
        names = ("marker", "state", "reservations", "dirty", *(f"buckets:{w.name}" for w in WINDOWS))
        return [f"{base}:{name}" for name in names]

    def lock_key(self, user_id: int) -> str:
        return f"{self.prefix}:{{u{user_id}}}:rebuild"

    async def _guard(self, call: Awaitable[T]) -> T:
        try:
            return await call
        except (TimeoutError, RedisError, OSError) as exc:
            raise Unavailable("usage limiter (Redis) unavailable") from exc

    async def _run(self, user_id: int, operation: str, now_ms: int, *args: Any) -> list:
        # the windows and the deny order travel with every call: rules.py is their only definition
        return await self._guard(
            self._script(keys=self.keys(user_id), args=[operation, now_ms, *self._spec, *args])
        )

    async def admit(self, user_id: int, now_ms: int, terms: ExchangeTerms, limits: tuple[int, ...]
                    ) -> Admitted | Denied | AlreadyCommitted:
        """Check every limit and reserve, in one step; raises Stale when the state must be rebuilt."""
        unknown = -1
        answer = await self._run(
            user_id, "admit", now_ms, str(terms.exchange_id), self.ttl_ms, terms.period_start_ms,
            _b(terms.is_free), terms.multiplier_num, terms.multiplier_den, terms.prompt_tokens,
            terms.max_reply_tokens, _b(terms.is_image),
            unknown if terms.prompt_nano_per_token is None else terms.prompt_nano_per_token,
            unknown if terms.completion_nano_per_token is None else terms.completion_nano_per_token,
            self.min_reply_tokens, KEY_TTL_MS, *limits,
        )
        status = answer[0]
        if status == "stale":
            raise Stale()
        if status == "period":
            raise PeriodChanged()
        if status == "done":
            return AlreadyCommitted()
        if status == "deny":
            _, index, limit, used, retry = answer
            return Denied(int(index) - 1, int(limit), int(used), None if int(retry) == -1 else int(retry))
        _, cap, rl_limit, rl_remaining, rl_reset, epoch = answer
        rate = None if int(rl_limit) < 0 else (int(rl_limit), int(rl_remaining), int(rl_reset))
        return Admitted(int(cap), rate, epoch)

    async def commit(self, user_id: int, now_ms: int, entry: LedgerEntry, *, first: bool = True) -> str:
        """Turn the reservation into committed usage: "ok", "dup" (already done), "stale" (no state),
        or "unknown" (no trace of it in Redis and this call did not write the ledger row: it may have
        been counted or not, so the caller has the windows rebuilt). `first`: this call wrote the
        exchange's ledger row."""
        answer = await self._run(
            user_id, "commit", now_ms, str(entry.exchange_id), entry.admitted_ms,
            entry.effective_tokens, _b(entry.is_free), _b(entry.had_image), entry.cost_nano, KEY_TTL_MS,
            _b(first), self.ttl_ms,
        )
        return answer[0]

    async def release(self, user_id: int, now_ms: int, exchange_id: UUID) -> str:
        answer = await self._run(user_id, "release", now_ms, str(exchange_id))
        return answer[0]

    async def usage(self, user_id: int, now_ms: int, period_start_ms: int) -> list[LimitUsage]:
        answer = await self._run(user_id, "usage", now_ms, period_start_ms)
        if answer[0] == "stale":
            raise Stale()
        if answer[0] == "period":
            raise PeriodChanged()
        values = [int(v) for v in answer[1:]]
        return [
            LimitUsage(values[2 * k], None if values[2 * k + 1] == -1 else values[2 * k + 1])
            for k in range(len(LIMITS))
        ]

    async def load(self, user_id: int, now_ms: int, epoch: str, snapshot: Snapshot) -> bool:
        """Replace the user's state with the ledger's, summed into buckets; False when a change raced
        the rebuild."""
        args: list[Any] = [
            snapshot.period_start_ms, epoch, KEY_TTL_MS, snapshot.period_paid_tokens,
            snapshot.period_free_tokens, snapshot.period_cost_nano, len(snapshot.reservations),
            len(snapshot.committed),
        ]
        for window in WINDOWS:
            buckets = bucket_totals(snapshot.entries, window.ms, window.bucket_ms, now_ms)
            args.append(len(buckets))
            for index, values in sorted(buckets.items()):
                args += [index, *values]
        for r in snapshot.reservations:
            args += [str(r.exchange_id), r.admitted_ms, r.expires_ms, r.effective_tokens, _b(r.is_free),
                     _b(r.is_image), r.cost_nano, r.max_tokens]
        for exchange_id, until_ms in snapshot.committed:
            args += [str(exchange_id), until_ms]
        args += [str(exchange_id) for exchange_id in snapshot.released]
        answer = await self._run(user_id, "load", now_ms, *args)
        return answer[0] == "ok"

    async def begin_rebuild(self, user_id: int, token: str, *, force: bool, lock_ms: int = 10_000) -> bool:
        """Take the user's rebuild lock; clears the dirty flag (and the marker when forced)."""
        got = await self._guard(self.redis.set(self.lock_key(user_id), token, nx=True, px=lock_ms))
        if not got:
            return False
        keys = self.keys(user_id)
        if force:
            await self._guard(self.redis.delete(keys[0], keys[3]))
        else:
            await self._guard(self.redis.delete(keys[3]))
        return True

    async def end_rebuild(self, user_id: int, token: str) -> None:
        key = self.lock_key(user_id)
        # only the holder releases: compare and delete in one step
        await self._guard(
            self.redis.eval(
                "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0",
                1, key, token,
            )
        )

    async def epoch(self, user_id: int) -> str | None:
        return await self._guard(self.redis.get(self.keys(user_id)[0]))

    async def ping(self) -> bool:
        return bool(await self._guard(self.redis.ping()))
