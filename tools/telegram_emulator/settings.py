"""Telegram emulator settings (environment variables `TELEGRAM_EMULATOR_*`)."""

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class TelegramEmulatorSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TELEGRAM_EMULATOR_", env_file=None, extra="ignore")

    # HTTP_HOST too: what the project's one Dockerfile sets for every process it runs.
    host: str = Field("127.0.0.1", validation_alias=AliasChoices("TELEGRAM_EMULATOR_HOST", "HTTP_HOST"))
    port: int = 8093
    # The token the emulated bot has; any other token is 401 Unauthorized, as on Telegram.
    bot_token: str = "123456:emulator-bot-token"
    bot_username: str = "mobixai_emulator_bot"
    # How often an undelivered webhook update is retried, and how long between tries.
    webhook_attempts: int = Field(20, ge=1)
    webhook_retry_seconds: float = Field(0.5, ge=0)
    log_level: str = Field("INFO", validation_alias="LOG_LEVEL")


def get_settings() -> TelegramEmulatorSettings:
    return TelegramEmulatorSettings()
