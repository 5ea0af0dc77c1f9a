"""Authentication use cases: register, password login, one-time codes, the staff user from the
environment. HTTP concerns (cookies, CSRF) stay in the routes; failures are `shared.errors` types
or the gateway's own auth errors, mapped to HTTP in `gateway.errors`."""

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from gateway.errors import AuthenticationFailed
from gateway.models import User
from gateway.otp import COOLDOWN_SECONDS, OtpStore, Verdict
from gateway.passwords import MIN_LENGTH, Passwords
from gateway.phones import normalize_phone
from gateway.read_cache import VersionedCache
from gateway.repository import PhoneTaken, UserRepository
from gateway.sms import SmsProvider
from gateway.throttle import LoginThrottle
from shared.bounds import MAX_USER_NAME_CHARS
from shared.clock import Clock
from shared.db import SessionFactory, transaction
from shared.errors import Conflict, Unavailable, ValidationFailed
from shared.text import ENGLISH as TEXT_PROBLEMS
from shared.text import text_problem

log = logging.getLogger(__name__)
NAME_MAX_LENGTH = MAX_USER_NAME_CHARS
REQUIRED = "This field is required."
BAD_CODE = "The code is invalid or has expired."


class Announcer(Protocol):
    async def user_registered(self, user: User) -> None: ...


@dataclass
class AuthService:
    factory: SessionFactory
    passwords: Passwords
    otp: OtpStore
    sms: SmsProvider
    throttle: LoginThrottle
    events: Announcer
    clock: Clock
    phone_region: str
    users: VersionedCache  # every request reads its user: from here, not the database

    # --- reading -------------------------------------------------------------------------------

    async def get_user(self, user_id: int, *, fresh: bool = False) -> User | None:
        """The user as of now: every change below invalidates the Redis copy before it answers; a copy
        has no password hash (only the database does). `fresh` reads the database."""
        seen = await self.users.read(user_id) if self.users.enabled and not fresh else None
        if seen is not None and seen.data is not None:
            return _user_from_json(seen.data)
        async with self.factory() as s:
            user = await UserRepository(s).get(user_id)
        if user is not None and seen is not None:
            await self.users.fill(user_id, seen, _user_to_json(user))
        return user

    # --- sign-up and password login -------------------------------------------------------------

    async def register(self, phone_number: str, name: str, password: str) -> User:
        errors = _Fields()
        phone = errors.run("phone_number", normalize_phone, phone_number, self.phone_region)
        name = errors.run("name", clean_name, name)
        errors.run("password", check_password, password)
        errors.raise_if_any()
        async with self.factory() as s:
            if await UserRepository(s).by_phone(phone) is not None:
                raise _phone_taken()
        password_hash = await self.passwords.hash(password)
        try:
            async with transaction(self.factory) as s:
                user = await UserRepository(s).add(phone, name, self.clock.now(), password_hash=password_hash)
        except PhoneTaken:
            raise _phone_taken() from None
        await self._announce(user)
        return user

    async def login(self, phone_number: str, password: str, client_ip: str) -> User:
        phone = normalize_phone(phone_number, self.phone_region)
        attempt = await self.throttle.attempt(phone, client_ip)
        async with self.factory() as s:
            user = await UserRepository(s).by_phone(phone)
        password_hash = user.password_hash if user is not None else None
        if user is None or not await self.passwords.verify(password_hash, password):
            raise AuthenticationFailed()  # the attempt stays counted as a failure
        await self.throttle.succeeded(phone, client_ip, attempt)
        if self.passwords.needs_rehash(user.password_hash):
            await self._set_password(user.id, password)
        return user

    # --- one-time codes ---------------------------------------------------------------------------

    async def request_code(self, phone_number: str) -> int:
        """Send a login code (known phone or not); returns the seconds before another may be asked."""
        phone = normalize_phone(phone_number, self.phone_region)
        code = await self.otp.issue(phone)
        try:
            await self.sms.send_code(phone, code)
        except Exception as exc:
            log.exception("SMS provider failed to send a code to %s", phone)
            await self.otp.discard(phone)
            raise Unavailable("The code could not be sent; try again shortly.") from exc
        return COOLDOWN_SECONDS

    async def verify_code(self, phone_number: str, code: str, name: str | None) -> User:
        errors = _Fields()
        phone = errors.run("phone_number", normalize_phone, phone_number, self.phone_region)
        errors.run("code", check_code_format, code)
        if name is not None:
            name = errors.run("name", clean_name, name)
        errors.raise_if_any()
        async with self.factory() as s:
            user = await UserRepository(s).by_phone(phone)
        # A new phone needs a name; the code is then checked but kept, so the client can retry with
        # the name. Whether the phone is known is only revealed to someone holding the right code.
        needs_name = user is None and not name
        verdict = await self.otp.check(phone, code, consume=not needs_name)
        if verdict is not Verdict.OK:
            raise ValidationFailed(BAD_CODE, fields={"code": [BAD_CODE]})
        if needs_name:
            raise ValidationFailed("A name is required to create an account.", fields={"name": [REQUIRED]})
        return await self._verified_user(phone, name or "")

    async def _verified_user(self, phone: str, name: str) -> User:
        created = False
        try:
            async with transaction(self.factory) as s:
                repo = UserRepository(s)
                user = await repo.by_phone(phone)
                if user is None:
                    user = await repo.add(phone, name, self.clock.now(), is_verified=True)
                    created = True
                else:
                    user.is_verified = True
                    s.add(user)
        except PhoneTaken:  # registered by a concurrent request a moment ago
            return await self._verified_user(phone, name)
        if created:
            await self._announce(user)
        else:
            await self.users.invalidate(user.id)
        return user

    # --- the staff user from the environment ------------------------------------------------------

    async def ensure_staff(self, phone_number: str, password: str) -> User:
        """Create or promote the operator's staff account (idempotent; several replicas may race)."""
        phone = normalize_phone(phone_number, self.phone_region, field="MOBIX_ADMIN_PHONE")
        check_password(password)
        async with self.factory() as s:
            existing = await UserRepository(s).by_phone(phone)
        password_ok = existing is not None and await self.passwords.verify(existing.password_hash, password)
        password_hash = None if password_ok else await self.passwords.hash(password)
        created = False
        try:
            async with transaction(self.factory) as s:
                repo = UserRepository(s)
                user = await repo.by_phone(phone)
                if user is None:
                    user = await repo.add(phone, "Admin", self.clock.now(), password_hash=password_hash,
                                          is_verified=True, is_staff=True)
                    created = True
                else:
                    user.is_staff = True
                    user.is_verified = True
                    if password_hash is not None:
                        user.password_hash = password_hash
                    s.add(user)
        except PhoneTaken:
            return await self.ensure_staff(phone_number, password)
        if created:
            await self._announce(user)
        else:
            await self.users.invalidate(user.id)
        return user

    async def set_staff(self, user_id: int, is_staff: bool) -> User | None:
        async with transaction(self.factory) as s:
            user = await UserRepository(s).set_staff(user_id, is_staff)
        if user is not None:
            await self.users.invalidate(user_id)  # the next request of that user sees it
        return user

    # --- helpers --------------------------------------------------------------------------------

    async def _set_password(self, user_id: int, password: str) -> None:
        password_hash = await self.passwords.hash(password)
        async with transaction(self.factory) as s:
            user = await UserRepository(s).get(user_id)
            if user is not None:
                user.password_hash = password_hash
                s.add(user)

    async def _announce(self, user: User) -> None:
        # Best effort: billing also opens the default plan on demand for a user it has not seen,
        # so a broker hiccup here must not turn a created account into an error.
        try:
            await self.events.user_registered(user)
        except Exception:
            log.exception("could not publish UserRegistered for user %s; billing will catch up on demand", user.id)


_CACHED_FIELDS = ("id", "phone_number", "name", "is_verified", "is_staff")


def _user_to_json(user: User) -> str:
    fields = {name: getattr(user, name) for name in _CACHED_FIELDS}
    return json.dumps({**fields, "date_joined": user.joined_utc.isoformat()})


def _user_from_json(raw: str) -> User:
    fields = json.loads(raw)
    fields["date_joined"] = datetime.fromisoformat(fields["date_joined"])
    return User(**fields)


def clean_name(name: str) -> str:
    name = name.strip()
    problem = text_problem(name)  # the shared text rule: no NUL or control characters, not only invisible ones
    if problem is not None:
        raise ValidationFailed(TEXT_PROBLEMS[problem], fields={"name": [TEXT_PROBLEMS[problem]]})
    if len(name) > NAME_MAX_LENGTH:
        message = f"Ensure this field has no more than {NAME_MAX_LENGTH} characters."
        raise ValidationFailed(message, fields={"name": [message]})
    return name


def check_password(password: str) -> None:
    if len(password) < MIN_LENGTH:
        message = f"This password is too short. It must contain at least {MIN_LENGTH} characters."
        raise ValidationFailed(message, fields={"password": [message]})


def check_code_format(code: str) -> None:
    if not (len(code) == 6 and code.isascii() and code.isdigit()):
        raise ValidationFailed("Enter the 6-digit code.", fields={"code": ["Enter the 6-digit code."]})


def _phone_taken() -> Conflict:
    return Conflict("A user with this phone number already exists.", code="phone_number_taken")


class _Fields:
    """Collects the field errors of several checks, so one 400 names every bad field."""

    def __init__(self) -> None:
        self.fields: dict[str, list[str]] = {}

    def run(self, field: str, check: Callable[..., Any], *args: Any) -> Any:
        try:
            return check(*args)
        except ValidationFailed as exc:
            for messages in (exc.details.get("fields") or {field: [exc.message]}).values():
                self.fields.setdefault(field, []).extend(messages)
            return None

    def raise_if_any(self) -> None:
        if self.fields:
            first = next(iter(self.fields.items()))
            raise ValidationFailed(f"{first[0]}: {first[1][0]}", fields=self.fields)
