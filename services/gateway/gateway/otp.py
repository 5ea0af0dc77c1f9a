"""One-time login codes in Redis: 6 digits, stored as an HMAC, valid 5 minutes, single use.

Requests: one per phone every 60 s and at most 5 per phone per sliding hour. Verification: the 5th
wrong attempt voids the code. Every check-and-update is one Lua step, so replicas cannot race.
"""

import hashlib
import hmac
import math
import secrets
import uuid
from enum import StrEnum

from redis.asyncio import Redis

from shared.clock import Clock
from shared.errors import LimitExceeded

CODE_DIGITS = 6
VALID_SECONDS = 5 * 60
COOLDOWN_SECONDS = 60
HOURLY_CODES = 5
HOUR = 3600
MAX_ATTEMPTS = 5

# KEYS: sent-times sorted set, code hash. ARGV: now, cooldown, window, max codes, member, code hmac,
# expires_at, redis ttl. Returns {0} when stored, {1, wait} in the cooldown, {2, wait, used} over the hour.
_REQUEST = """
local now = tonumber(ARGV[1])
local cooldown = tonumber(ARGV[2])
local window = tonumber(ARGV[3])
local last = redis.call('ZREVRANGE', KEYS[1], 0, 0, 'WITHSCORES')
if last[2] and now - tonumber(last[2]) < cooldown then
  return {1, tostring(tonumber(last[2]) + cooldown - now)}
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local used = redis.call('ZCARD', KEYS[1])
if used >= tonumber(ARGV[4]) then
  local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  return {2, tostring(tonumber(oldest[2]) + window - now), used}
end
redis.call('ZADD', KEYS[1], now, ARGV[5])
redis.call('EXPIRE', KEYS[1], math.ceil(window))
redis.call('DEL', KEYS[2])
redis.call('HSET', KEYS[2], 'h', ARGV[6], 'a', 0, 'e', ARGV[7])
redis.call('EXPIRE', KEYS[2], ARGV[8])
return {0}
"""

# KEYS: code hash. ARGV: now, candidate hmac, max attempts, consume (1/0).
_VERIFY = """
local code = redis.call('HMGET', KEYS[1], 'h', 'a', 'e')
if not code[1] then return 'missing' end
if tonumber(ARGV[1]) >= tonumber(code[3]) then
  redis.call('DEL', KEYS[1])
  return 'expired'
end
if code[1] == ARGV[2] then
  if ARGV[4] == '1' then redis.call('DEL', KEYS[1]) end
  return 'ok'
end
if redis.call('HINCRBY', KEYS[1], 'a', 1) >= tonumber(ARGV[3]) then
  redis.call('DEL', KEYS[1])
  return 'voided'
end
return 'wrong'
"""


class Verdict(StrEnum):
    OK = "ok"
    WRONG = "wrong"
    VOIDED = "voided"  # this was the last allowed attempt; the code is gone
    EXPIRED = "expired"
    MISSING = "missing"


def new_code() -> str:
    return f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"


class OtpStore:
    def __init__(self, redis: Redis, clock: Clock, secret: str) -> None:
        self.redis = redis
        self.clock = clock
        self._secret = secret.encode()
        self._request = redis.register_script(_REQUEST)
        self._verify = redis.register_script(_VERIFY)

    def _hmac(self, phone_number: str, code: str) -> str:
        return hmac.new(self._secret, f"{phone_number}:{code}".encode(), hashlib.sha256).hexdigest()

    @staticmethod
    def _keys(phone_number: str) -> list[str]:
        return [f"mobix:gw:otp:sent:{phone_number}", f"mobix:gw:otp:code:{phone_number}"]

    async def issue(self, phone_number: str) -> str:
        """A new code for the phone (replacing any earlier one), or `LimitExceeded`."""
        code = new_code()
        now = self.clock.now().timestamp()
        result = await self._request(
            keys=self._keys(phone_number),
            args=[now, COOLDOWN_SECONDS, HOUR, HOURLY_CODES, uuid.uuid4().hex, self._hmac(phone_number, code),
                  now + VALID_SECONDS, VALID_SECONDS + 60],
        )
        outcome = int(result[0])
        if outcome == 0:
            return code
        wait = max(1, math.ceil(float(result[1])))
        if outcome == 1:
            limit = {"name": "otp_cooldown", "limit": 1, "used": 1, "retry_after": wait}
        else:
            limit = {"name": "otp_hourly_codes", "limit": HOURLY_CODES, "used": int(result[2]), "retry_after": wait}
        raise LimitExceeded("Too many login codes requested.", limit=limit)

    async def check(self, phone_number: str, code: str, *, consume: bool = True) -> Verdict:
        """Compare a code; a right one is used up when `consume` (single use)."""
        now = self.clock.now().timestamp()
        result = await self._verify(
            keys=self._keys(phone_number)[1:],
            args=[now, self._hmac(phone_number, code), MAX_ATTEMPTS, "1" if consume else "0"],
        )
        return Verdict(result)

    async def discard(self, phone_number: str) -> None:
        await self.redis.delete(self._keys(phone_number)[1])
