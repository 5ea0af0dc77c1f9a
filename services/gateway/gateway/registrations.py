"""Pending registrations (api.md §2): what `register` was given, kept until the phone is proved.

They live in Redis, not in the users table: they are transient (they expire with the code, 5
minutes plus a grace minute), an unproved registration must never look like an account to any
query, and abandoned ones vanish by themselves. Each has its own unguessable id (only its SHA-256
is a key), so several people registering one number cannot overwrite each other; a per-phone set
lets a code verified without a `registration_id` drop them all. The password is stored as its
Argon2 hash, never in clear.
"""

import hashlib
import json
import secrets
from dataclasses import dataclass

from redis.asyncio import Redis

from gateway.otp import VALID_SECONDS

PREFIX = "mobix:gw:registration:"
TTL_SECONDS = VALID_SECONDS + 60
MAX_ID_LENGTH = 128


@dataclass(frozen=True)
class PendingRegistration:
    phone_number: str
    name: str
    password_hash: str


class Registrations:
    def __init__(self, redis: Redis) -> None:
        self.redis = redis

    @staticmethod
    def _key(registration_id: str) -> str:
        return PREFIX + "id:" + hashlib.sha256(registration_id.encode()).hexdigest()

    @staticmethod
    def _phone_key(phone_number: str) -> str:
        return PREFIX + "phone:" + phone_number

    async def add(self, pending: PendingRegistration) -> str:
        registration_id = secrets.token_urlsafe(24)
        record = json.dumps({"p": pending.phone_number, "n": pending.name, "h": pending.password_hash})
        key = self._key(registration_id)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.set(key, record, ex=TTL_SECONDS)
            pipe.sadd(self._phone_key(pending.phone_number), key)
            pipe.expire(self._phone_key(pending.phone_number), TTL_SECONDS)
            await pipe.execute()
        return registration_id

    async def get(self, registration_id: str, phone_number: str) -> PendingRegistration | None:
        """The live registration with this id for this phone; None when unknown, expired or another phone's."""
        if not registration_id or len(registration_id) > MAX_ID_LENGTH:
            return None
        raw = await self.redis.get(self._key(registration_id))
        if raw is None:
            return None
        try:
            record = json.loads(raw)
            pending = PendingRegistration(str(record["p"]), str(record["n"]), str(record["h"]))
        except (ValueError, KeyError, TypeError):
            return None
        return pending if pending.phone_number == phone_number else None

    async def discard(self, registration_id: str, phone_number: str) -> None:
        key = self._key(registration_id)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.delete(key)
            pipe.srem(self._phone_key(phone_number), key)
            await pipe.execute()

    async def drop_all(self, phone_number: str) -> None:
        """Forget every pending registration of the phone: its owner has just proved it."""
        phone_key = self._phone_key(phone_number)
        keys = await self.redis.smembers(phone_key)
        await self.redis.delete(phone_key, *keys)
