"""Password hashing with Argon2 (argon2-cffi), off the event loop: a hash takes tens of milliseconds;
and the password policy of register and password change (api.md §2)."""

import asyncio
import functools
import gzip
import re
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from gateway.error_texts import EN
from shared.errors import ValidationFailed

MIN_LENGTH = 8
# Django's list of 20,000 common passwords (lowercase), shipped with its BSD licence beside it.
COMMON_PASSWORDS_FILE = Path(__file__).parent / "data" / "common-passwords.txt.gz"
# The texts are the catalogue's (gateway.error_texts), which also has them in Persian.
TOO_SHORT = EN["password_too_short"]
ALL_SPACES = EN["password_all_spaces"]
TOO_COMMON = EN["password_too_common"]
IS_PHONE = EN["password_is_phone"]


@functools.cache
def common_passwords() -> frozenset[str]:
    with gzip.open(COMMON_PASSWORDS_FILE, "rt", encoding="utf-8") as lines:
        return frozenset(line.strip() for line in lines if line.strip())


def _digits(text: str) -> str:
    return re.sub(r"\D", "", text)


def _is_phone(password: str, phone: str | None) -> bool:
    """The phone number in any spelling: +989121234567, 989121234567, 09121234567, 9121234567, with
    spaces or dashes. Compared on digits, so only a password made of the number's digits matches."""
    if not phone or re.search(r"[^\d\s+()\-.]", password):
        return False
    digits, full = _digits(password), _digits(phone)
    if len(digits) < 7:
        return False
    return full.endswith(digits.lstrip("0")) and len(full) - len(digits.lstrip("0")) <= 3


def check_password_policy(password: str, phone: str | None = None, field: str = "password") -> None:
    """≥ 8 characters, not only spaces, not the phone number, not a common password → else 400."""
    message = None
    if len(password) < MIN_LENGTH:
        message = TOO_SHORT
    elif not password.strip():
        message = ALL_SPACES
    elif _is_phone(password, phone):
        message = IS_PHONE
    elif password.strip().lower() in common_passwords():
        message = TOO_COMMON
    if message is not None:
        raise ValidationFailed(message, fields={field: [message]})


class Passwords:
    def __init__(self, hasher: PasswordHasher | None = None) -> None:
        self.hasher = hasher or PasswordHasher()
        self._dummy: str | None = None

    async def hash(self, password: str) -> str:
        return await asyncio.to_thread(self.hasher.hash, password)

    async def verify(self, password_hash: str | None, password: str) -> bool:
        """True when `password` matches. With no hash (unknown user, OTP-only or unverified user) a
        dummy hash is checked anyway: every call runs exactly one Argon2 verification, so the answer
        takes as long whoever asks (no account enumeration by timing)."""
        if password_hash is None:
            await asyncio.to_thread(self._verify, await self._dummy_hash(), password)
            return False
        return await asyncio.to_thread(self._verify, password_hash, password)

    async def _dummy_hash(self) -> str:
        # Made with the same hasher (same cost parameters) as real hashes, once per process.
        if self._dummy is None:
            self._dummy = await self.hash("not a password anyone has")
        return self._dummy

    def _verify(self, password_hash: str, password: str) -> bool:
        try:
            return self.hasher.verify(password_hash, password)
        except (VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, password_hash: str) -> bool:
        try:
            return self.hasher.check_needs_rehash(password_hash)
        except InvalidHashError:
            return True
