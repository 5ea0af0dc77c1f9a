"""Telegram bot settings: the bot's Telegram token and API server, webhook or polling, the MobixAI
API it is a client of, its service credential, and the key that encrypts users' tokens in Redis."""

import base64
import hashlib
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings

TELEGRAM_API_URL = "https://api.telegram.org"
EMULATOR_API_URL = "http://127.0.0.1:8093"
EMULATOR_BOT_TOKEN = "123456:emulator-bot-token"


class BotSettings(ServiceSettings):
    http_port: int = Field(8005, validation_alias=AliasChoices("TELEGRAM_BOT_PORT", "http_port"))
    # Prometheus `/metrics` on its own port (0: not served). METRICS_PORT also works, for containers.
    metrics_port: int = Field(9115, ge=0, le=65535, validation_alias=AliasChoices(
        "TELEGRAM_BOT_METRICS_PORT", "METRICS_PORT", "metrics_port"))

    # From @BotFather. Unset: the local Telegram emulator's bot (`make run`, tests).
    telegram_bot_token: SecretStr | None = Field(None, alias="TELEGRAM_BOT_TOKEN")
    # Unset: Telegram when a token is set, else the emulator.
    telegram_api_url: str | None = Field(None, alias="TELEGRAM_API_URL")
    # webhook: Telegram POSTs updates to TELEGRAM_WEBHOOK_URL (production; replicas share the load);
    # polling: this process asks with getUpdates (development; one process only).
    telegram_mode: Literal["webhook", "polling"] = Field("polling", alias="TELEGRAM_MODE")
    telegram_webhook_url: str | None = Field(None, alias="TELEGRAM_WEBHOOK_URL")
    # Telegram sends it back in X-Telegram-Bot-Api-Secret-Token: updates without it are refused.
    telegram_webhook_secret: SecretStr | None = Field(None, alias="TELEGRAM_WEBHOOK_SECRET")

    # The public REST API this bot is a client of, and the bot's credential for the linking route.
    mobix_api_url: str = Field("http://127.0.0.1:8000", alias="MOBIX_API_URL")
    telegram_bot_service_token: SecretStr | None = Field(None, alias="TELEGRAM_BOT_SERVICE_TOKEN")
    # Where users buy a plan (/plan links there).
    web_app_url: str = Field("http://127.0.0.1:8000/", alias="WEB_APP_URL")
    # Fernet key (urlsafe base64 of 32 bytes) for the users' API tokens kept in Redis. Unset: derived
    # from SECRET_KEY (itself required in production).
    telegram_state_key: SecretStr | None = Field(None, alias="TELEGRAM_STATE_KEY")

    # Telegram allows about one edit a second per chat: a streaming reply is edited no more often.
    edit_interval_seconds: float = Field(1.0, ge=0.05, le=10, alias="TELEGRAM_EDIT_INTERVAL_SECONDS")
    # A reply that sends nothing for this long is read from the message list instead.
    reply_idle_seconds: float = Field(120.0, gt=0, alias="TELEGRAM_REPLY_IDLE_SECONDS")
    # Handled update ids are remembered this long (Telegram redelivers for up to a day).
    update_memory_seconds: int = Field(86_400, ge=60, alias="TELEGRAM_UPDATE_MEMORY_SECONDS")

    model_config = SettingsConfigDict(populate_by_name=True)

    @field_validator("telegram_bot_token", "telegram_webhook_secret", "telegram_bot_service_token",
                     "telegram_state_key", mode="before")
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @property
    def bot_token(self) -> str:
        return self.telegram_bot_token.get_secret_value() if self.telegram_bot_token else EMULATOR_BOT_TOKEN

    @property
    def api_url(self) -> str:
        if self.telegram_api_url:
            return self.telegram_api_url.rstrip("/")
        return TELEGRAM_API_URL if self.telegram_bot_token else EMULATOR_API_URL

    @property
    def state_key(self) -> bytes:
        if self.telegram_state_key:
            return self.telegram_state_key.get_secret_value().encode()
        return base64.urlsafe_b64encode(hashlib.sha256(b"telegram-state:" + self.secret_key.encode()).digest())

    def check_production_safety(self) -> None:
        super().check_production_safety()
        # Without a token the bot talks to the emulator (a try-out of the stack): nothing to protect.
        if self.environment != "production" or self.telegram_bot_token is None:
            return
        if self.telegram_mode != "webhook" or not self.telegram_webhook_url or self.telegram_webhook_secret is None:
            raise SystemExit("production runs in webhook mode: set TELEGRAM_MODE=webhook, TELEGRAM_WEBHOOK_URL "
                             "and TELEGRAM_WEBHOOK_SECRET")
        if self.telegram_bot_service_token is None:
            raise SystemExit("TELEGRAM_BOT_SERVICE_TOKEN must be set (the gateway's value)")


def get_settings() -> BotSettings:
    return BotSettings()
