"""Authentication use cases: register (proved by a code), password login, one-time codes, password
change, the staff user from the environment. HTTP concerns (cookies, CSRF) stay in the routes; failures are `shared.errors` types
or the gateway's own auth errors, mapped to HTTP in `gateway.errors`."""

import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from gateway.error_texts import EN
from gateway.errors import AuthenticationFailed, NotAuthenticated
from gateway.models import User
from gateway.otp import COOLDOWN_SECONDS, OtpStore, Verdict
from gateway.passwords import Passwords, check_password_policy
from gateway.phones import check_can_receive_sms, normalize_phone
from gateway.read_cache import VersionedCache
from gateway.registrations import PendingRegistration, Registrations
from gateway.repository import PhoneTaken, UserRepository
from gateway.sms import SmsProvider
from gateway.throttle import LoginThrottle, SmsCaps
from shared.bounds import MAX_USER_NAME_CHARS
from shared.clock import Clock
from shared.db import SessionFactory, transaction
from shared.errors import Conflict, DomainError, Unavailable, ValidationFailed
from shared.text import ENGLISH as TEXT_PROBLEMS
from shared.text import text_problem

log = logging.getLogger(__name__)
NAME_MAX_LENGTH = MAX_USER_NAME_CHARS
REQUIRED = "This field is required."
# Texts of the catalogue (gateway.error_texts), which also has them in Persian.
BAD_CODE = EN["code_invalid"]
UNKNOWN_REGISTRATION = EN["registration_unknown"]
WRONG_CURRENT_PASSWORD = EN["password_current_wrong"]
LAST_STAFF = EN["last_staff_user"]
SMS_FAILED = "The code could not be sent; try again shortly."


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
    registrations: Registrations
    sms_caps: SmsCaps
    sms_regions: frozenset[str]  # SMS_ALLOWED_REGIONS

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

    async def phone_numbers(self, user_ids: list[int]) -> dict[int, str]:
        """The phone number of each of these users that exists (for the console's reports)."""
        if not user_ids:
            return {}
        async with self.factory() as s:
            return await UserRepository(s).phone_numbers(user_ids)

    async def search_users(self, digits: str | None, offset: int, limit: int | None) -> tuple[int, list[User]]:
        """Staff's user search by phone digits: how many match, and the page asked for (None: all)."""
        async with self.factory() as s:
            return await UserRepository(s).search(digits, offset, limit)

    # --- sign-up and password login -------------------------------------------------------------

    async def register(self, phone_number: str, name: str, password: str, client_ip: str) -> str:
        """Send a code and keep the registration pending; returns its id. Nothing is created until
        `verify_code` comes back with this id and the code (api.md §2: no pre-hijacking)."""
        errors = _Fields()
        phone = errors.run("phone_number", normalize_phone, phone_number, self.phone_region)
        name = errors.run("name", clean_name, name)
        errors.run("password", check_password_policy, password, phone)
        errors.raise_if_any()
        check_can_receive_sms(phone, self.sms_regions)
        async with self.factory() as s:
            existing = await UserRepository(s).by_phone(phone)
        if existing is not None and existing.is_verified:
            raise _phone_taken()
        registration_id: str | None = None

        async def keep_pending() -> None:
            nonlocal registration_id
            password_hash = await self.passwords.hash(password)  # only once the SMS caps allowed it
            registration_id = await self.registrations.add(PendingRegistration(phone, name, password_hash))

        try:
            await self._send_code(phone, client_ip, before_sending=keep_pending)
        except BaseException:
            if registration_id is not None:
                await self.registrations.discard(registration_id, phone)
            raise
        assert registration_id is not None
        return registration_id

    async def login(self, phone_number: str, password: str, client_ip: str) -> User:
        phone = normalize_phone(phone_number, self.phone_region)
        attempt = await self.throttle.attempt(phone, client_ip)
        async with self.factory() as s:
            user = await UserRepository(s).by_phone(phone)
        # Exactly one Argon2 verification on every path (unknown phone, no password, unproved phone,
        # wrong or right password), so the answer's time tells nothing about the account. A password
        # whose phone was never proved with a code never logs in.
        usable_hash = user.password_hash if user is not None and user.is_verified else None
        matches = await self.passwords.verify(usable_hash, password)
        if user is None or not matches:
            raise AuthenticationFailed()  # the attempt stays counted as a failure
        await self.throttle.succeeded(phone, client_ip, attempt)
        if self.passwords.needs_rehash(user.password_hash):
            await self._set_password(user.id, password)
        return user

    async def change_password(self, user_id: int, current_password: str | None, new_password: str,
                              client_ip: str) -> User:
        """Set a new password; the current one is required when the account has one. Wrong current
        passwords count as failed logins (the same throttle)."""
        async with self.factory() as s:
            user = await UserRepository(s).get(user_id)
        if user is None:
            raise NotAuthenticated()
        errors = _Fields()
        if user.password_hash is not None and not current_password:
            errors.fields["current_password"] = [REQUIRED]
        errors.run("new_password", check_password_policy, new_password, user.phone_number, "new_password")
        errors.raise_if_any()
        if user.password_hash is not None:
            attempt = await self.throttle.attempt(user.phone_number, client_ip)
            if not await self.passwords.verify(user.password_hash, current_password or ""):
                raise ValidationFailed(WRONG_CURRENT_PASSWORD, fields={"current_password": [WRONG_CURRENT_PASSWORD]})
            await self.throttle.succeeded(user.phone_number, client_ip, attempt)
        await self._set_password(user_id, new_password)
        await self.users.invalidate(user_id)
        return user

    # --- one-time codes ---------------------------------------------------------------------------

    async def request_code(self, phone_number: str, client_ip: str) -> int:
        """Send a login code (known phone or not); returns the seconds before another may be asked."""
        phone = normalize_phone(phone_number, self.phone_region)
        check_can_receive_sms(phone, self.sms_regions)
        await self._send_code(phone, client_ip)
        return COOLDOWN_SECONDS

    async def _send_code(self, phone: str, client_ip: str,
                         before_sending: Callable[[], Awaitable[None]] | None = None) -> None:
        """Issue and send a code under every cap: per client IP and in total (SmsCaps), then per phone
        (OtpStore). Whatever fails, nothing stays half-done: no code without an SMS, no SMS counted
        that did not go out."""
        cap = await self.sms_caps.acquire(client_ip)
        code: str | None = None
        try:
            code = await self.otp.issue(phone)
            if before_sending is not None:
                await before_sending()
            await self.sms.send_code(phone, code)
        except BaseException as exc:
            if code is not None:
                await self.otp.discard(phone)
            await self.sms_caps.release(client_ip, cap)
            if isinstance(exc, DomainError) or not isinstance(exc, Exception):
                raise
            log.exception("SMS provider failed to send a code to %s", phone)
            raise Unavailable(SMS_FAILED) from exc

    async def verify_code(self, phone_number: str, code: str, name: str | None,
                          registration_id: str | None = None) -> User:
        errors = _Fields()
        phone = errors.run("phone_number", normalize_phone, phone_number, self.phone_region)
        errors.run("code", check_code_format, code)
        if name is not None:
            name = errors.run("name", clean_name, name)
        errors.raise_if_any()
        if registration_id is not None:
            pending = await self.registrations.get(registration_id, phone)
            if pending is None:
                raise ValidationFailed(UNKNOWN_REGISTRATION, fields={"registration_id": [UNKNOWN_REGISTRATION]})
            if await self.otp.check(phone, code) is not Verdict.OK:
                raise ValidationFailed(BAD_CODE, fields={"code": [BAD_CODE]})
            return await self._complete_registration(pending)
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

    async def _complete_registration(self, pending: PendingRegistration) -> User:
        """The phone is proved by whoever holds this registration's id: its name and password become
        the account's. A verified account of that phone already exists → 409."""
        phone = pending.phone_number

        def adopt(user: User) -> None:
            if user.is_verified:
                raise _phone_taken()
            # An account made before phones had to be proved: its owner has just proved it.
            user.name, user.password_hash, user.is_verified = pending.name, pending.password_hash, True

        try:
            user, created = await self._upsert(phone, adopt, lambda repo: repo.add(
                phone, pending.name, self.clock.now(), password_hash=pending.password_hash, is_verified=True))
        except PhoneTaken:  # completed by a concurrent request a moment ago
            raise _phone_taken() from None
        await self.registrations.drop_all(phone)
        return await self._changed(user, created)

    async def _verified_user(self, phone: str, name: str) -> User:
        """The code proved the phone without a registration id: log in (or create the account with no
        password). A password nobody proved (a pending registration, or an account made before phones
        had to be proved) is never adopted: it may be an attacker's, waiting for the owner."""

        def verify(user: User) -> None:
            if not user.is_verified:
                user.password_hash = None
            user.is_verified = True

        try:
            user, created = await self._upsert(phone, verify, lambda repo: repo.add(
                phone, name, self.clock.now(), is_verified=True))
        except PhoneTaken:  # registered by a concurrent request a moment ago
            return await self._verified_user(phone, name)
        await self.registrations.drop_all(phone)
        return await self._changed(user, created)

    # --- Telegram ----------------------------------------------------------------------------------

    async def link_telegram(self, phone_number: str, name: str) -> User:
        """The account of a phone Telegram vouched for (the user shared their own contact with the bot):
        found, or created with no password, and marked verified — Telegram proved the phone as a code
        would have. Only the bot's service credential reaches this (gateway.routes.telegram)."""
        digits = phone_number.strip()
        if digits and digits[0].isdigit():
            digits = "+" + digits  # Telegram sends international numbers without the "+"
        errors = _Fields()
        phone = errors.run("phone_number", normalize_phone, digits, self.phone_region)
        name = errors.run("name", clean_name, name[:NAME_MAX_LENGTH] or "Telegram user")
        errors.raise_if_any()
        return await self._verified_user(phone, name)

    # --- the staff user from the environment ------------------------------------------------------

    async def ensure_staff(self, phone_number: str, password: str) -> User:
        """Create or promote the operator's staff account (idempotent; several replicas may race)."""
        phone = normalize_phone(phone_number, self.phone_region, field="MOBIX_ADMIN_PHONE")
        check_password_policy(password, phone, field="MOBIX_ADMIN_PASSWORD")
        async with self.factory() as s:
            existing = await UserRepository(s).by_phone(phone)
        password_ok = existing is not None and await self.passwords.verify(existing.password_hash, password)
        password_hash = None if password_ok else await self.passwords.hash(password)

        def promote(user: User) -> None:
            user.is_staff = True
            user.is_verified = True
            if password_hash is not None:
                user.password_hash = password_hash

        try:
            user, created = await self._upsert(phone, promote, lambda repo: repo.add(
                phone, "Admin", self.clock.now(), password_hash=password_hash, is_verified=True, is_staff=True))
        except PhoneTaken:
            return await self.ensure_staff(phone_number, password)
        return await self._changed(user, created)

    async def set_staff(self, user_id: int, is_staff: bool) -> User | None:
        """Grant or remove the staff flag; removing the last staff user's → 409 (no one could undo it)."""
        async with transaction(self.factory) as s:
            repo = UserRepository(s)
            if not is_staff and await repo.is_last_staff(user_id):
                raise Conflict(LAST_STAFF, code="last_staff_user")
            user = await repo.set_staff(user_id, is_staff)
        if user is not None:
            await self.users.invalidate(user_id)  # the next request of that user sees it
        return user

    # --- helpers --------------------------------------------------------------------------------

    async def _upsert(self, phone: str, update: Callable[[User], None],
                      create: Callable[[UserRepository], Awaitable[User]]) -> tuple[User, bool]:
        """The account of `phone`, changed by `update` or, when there is none, made by `create`, in one
        transaction; and whether it was made. A concurrent creation of the same phone raises
        PhoneTaken: each caller knows whether that means retry or 409."""
        async with transaction(self.factory) as s:
            repo = UserRepository(s)
            user = await repo.by_phone(phone)
            if user is None:
                return await create(repo), True
            update(user)
            s.add(user)
            return user, False

    async def _changed(self, user: User, created: bool) -> User:
        """After an account is written: a new one is announced (billing opens its plan), a changed one
        leaves the Redis copy, so the next request reads the change."""
        if created:
            await self._announce(user)
        else:
            await self.users.invalidate(user.id)
        return user

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


def check_code_format(code: str) -> None:
    if not (len(code) == 6 and code.isascii() and code.isdigit()):
        raise ValidationFailed("Enter the 6-digit code.", fields={"code": ["Enter the 6-digit code."]})


def _phone_taken() -> Conflict:
    return Conflict(EN["phone_number_taken"], code="phone_number_taken")


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
