"""Login failure throttling (api.md §2): 5 failures per account or 50 per client IP in 15 minutes.

Each attempt is counted *before* the password is checked (atomically, in one Lua step), and
removed again when it succeeds: only failures stay counted, and a burst of parallel guesses cannot
slip past the limit while the first ones are still being verified.
"""

import math
import uuid
from dataclasses import dataclass

from redis.asyncio import Redis

from shared.clock import Clock
from shared.errors import LimitExceeded

# KEYS: one sorted set per counter (members are attempts, scores their time).
# ARGV: now, window seconds, member, then the limit of each key in order.
# Returns {0} when counted everywhere, else {index of the full counter, seconds until it frees, used}.
_ACQUIRE = """
local now = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
for i, key in ipairs(KEYS) do
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
  local used = redis.call('ZCARD', key)
  if used >= tonumber(ARGV[3 + i]) then
    local oldest = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
    return {i, tostring(tonumber(oldest[2]) + window - now), used}
  end
end
for _, key in ipairs(KEYS) do
  redis.call('ZADD', key, now, ARGV[3])
  redis.call('EXPIRE', key, math.ceil(window))
end
return {0}
"""

ACCOUNT_LIMIT = 5
IP_LIMIT = 50
WINDOW_SECONDS = 15 * 60


@dataclass(frozen=True)
class Counter:
    name: str  # the limit's public name (429 body, localized message key)
    key: str
    limit: int


class SlidingWindowCounters:
    """Counts events in several sliding windows of the same length at once."""

    def __init__(self, redis: Redis, clock: Clock, window_seconds: int) -> None:
        self.redis = redis
        self.clock = clock
        self.window = window_seconds
        self._acquire = redis.register_script(_ACQUIRE)

    async def acquire(self, counters: list[Counter]) -> str:
        """Count one event in every counter, or raise `LimitExceeded` naming the full one."""
        member = uuid.uuid4().hex
        now = self.clock.now().timestamp()
        args = [now, self.window, member, *(c.limit for c in counters)]
        result = await self._acquire(keys=[c.key for c in counters], args=args)
        if int(result[0]) == 0:
            return member
        full = counters[int(result[0]) - 1]
        retry_after = max(1, math.ceil(float(result[1])))
        raise LimitExceeded(
            "Too many failed attempts.",
            limit={"name": full.name, "limit": full.limit, "used": int(result[2]), "retry_after": retry_after},
        )

    async def forget(self, counters: list[Counter], member: str) -> None:
        async with self.redis.pipeline(transaction=False) as pipe:
            for counter in counters:
                pipe.zrem(counter.key, member)
            await pipe.execute()


class LoginThrottle:
    def __init__(self, redis: Redis, clock: Clock) -> None:
        self.counters = SlidingWindowCounters(redis, clock, WINDOW_SECONDS)

    @staticmethod
    def _counters(phone_number: str, client_ip: str) -> list[Counter]:
        return [
            Counter("login_failures", f"mobix:gw:login-fail:phone:{phone_number}", ACCOUNT_LIMIT),
            Counter("login_failures_ip", f"mobix:gw:login-fail:ip:{client_ip}", IP_LIMIT),
        ]

    async def attempt(self, phone_number: str, client_ip: str) -> str:
        """Count an attempt as failed until `succeeded` says otherwise; 429 when over a limit."""
        return await self.counters.acquire(self._counters(phone_number, client_ip))

    async def succeeded(self, phone_number: str, client_ip: str, attempt: str) -> None:
        await self.counters.forget(self._counters(phone_number, client_ip), attempt)


SMS_WINDOW_SECONDS = 3600


class SmsCaps:
    """SMS pumping caps (api.md §2): codes sent per client IP and in total per sliding hour, on top of
    the per-phone cooldown of `gateway.otp`. Register and otp/request count here alike."""

    def __init__(self, redis: Redis, clock: Clock, *, per_ip: int, total: int) -> None:
        self.counters = SlidingWindowCounters(redis, clock, SMS_WINDOW_SECONDS)
        self.per_ip = per_ip
        self.total = total

    def _counters(self, client_ip: str) -> list[Counter]:
        return [
            Counter("sms_ip_hourly", f"mobix:gw:sms-sent:ip:{client_ip}", self.per_ip),
            Counter("sms_global_hourly", "mobix:gw:sms-sent:all", self.total),
        ]

    async def acquire(self, client_ip: str) -> str:
        """Count one SMS for this client and in total, or 429 (`LimitExceeded`) when a cap is full."""
        return await self.counters.acquire(self._counters(client_ip))

    async def release(self, client_ip: str, member: str) -> None:
        """Un-count an SMS that did not go out after all (cooldown, provider failure)."""
        await self.counters.forget(self._counters(client_ip), member)
