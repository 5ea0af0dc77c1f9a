"""What the bot remembers, in Redis (any replica serves any update):

- per Telegram user: the API token (Fernet-encrypted with TELEGRAM_STATE_KEY: it must be usable, so it
  cannot be hashed; a copy of Redis alone gives no token), the current session and the language;
- which Telegram message is which MobixAI message (to edit it when the user edits theirs);
- which update ids were handled (Telegram redelivers; a redelivered update does nothing).
"""

from dataclasses import dataclass

from cryptography.fernet import Fernet, InvalidToken
from redis.asyncio import Redis

PREFIX = "mobix:tg:"
MESSAGE_TTL_SECONDS = 30 * 86_400


@dataclass
class UserState:
    token: str | None
    session_id: int | None
    lang: str | None


class BotState:
    def __init__(self, redis: Redis, key: bytes, update_memory_seconds: int) -> None:
        self.redis = redis
        self.fernet = Fernet(key)
        self.update_memory_seconds = update_memory_seconds

    async def first_time(self, update_id: int) -> bool:
        """True once per update id: the caller handles it; any later delivery is a repeat."""
        return bool(await self.redis.set(f"{PREFIX}update:{update_id}", 1, nx=True, ex=self.update_memory_seconds))

    async def user(self, telegram_user_id: int) -> UserState:
        raw = await self.redis.hgetall(f"{PREFIX}user:{telegram_user_id}")
        token = None
        if raw.get("token"):
            try:
                token = self.fernet.decrypt(raw["token"].encode()).decode()
            except InvalidToken:  # the key changed: the user links again
                token = None
        session = raw.get("session_id")
        return UserState(token, int(session) if session else None, raw.get("lang") or None)

    async def set_token(self, telegram_user_id: int, token: str) -> None:
        await self.redis.hset(f"{PREFIX}user:{telegram_user_id}", "token", self.fernet.encrypt(token.encode()).decode())

    async def forget_token(self, telegram_user_id: int) -> None:
        await self.redis.hdel(f"{PREFIX}user:{telegram_user_id}", "token")

    async def set_session(self, telegram_user_id: int, session_id: int | None) -> None:
        key = f"{PREFIX}user:{telegram_user_id}"
        if session_id is None:
            await self.redis.hdel(key, "session_id")
        else:
            await self.redis.hset(key, "session_id", session_id)

    async def set_lang(self, telegram_user_id: int, lang: str) -> None:
        await self.redis.hset(f"{PREFIX}user:{telegram_user_id}", "lang", lang)

    async def remember_message(self, chat_id: int, telegram_message_id: int, session_id: int, message_id: str) -> None:
        await self.redis.set(f"{PREFIX}msg:{chat_id}:{telegram_message_id}", f"{session_id}:{message_id}",
                             ex=MESSAGE_TTL_SECONDS)

    async def mobix_message(self, chat_id: int, telegram_message_id: int) -> tuple[int, str] | None:
        raw = await self.redis.get(f"{PREFIX}msg:{chat_id}:{telegram_message_id}")
        if raw is None:
            return None
        session, message = raw.split(":", 1)
        return int(session), message
