"""Zibal emulator settings (environment variables `ZIBAL_EMULATOR_*`)."""

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class ZibalEmulatorSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ZIBAL_EMULATOR_", env_file=None, extra="ignore")

    host: str = "127.0.0.1"
    port: int = 8092
    # Zibal's smallest payment, in rials.
    min_amount_rials: int = Field(1_000, ge=0)
    log_level: str = Field("INFO", validation_alias="LOG_LEVEL")


def get_settings() -> ZibalEmulatorSettings:
    return ZibalEmulatorSettings()
