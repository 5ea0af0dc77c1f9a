"""Emulator settings (environment variables `EMULATOR_*`)."""

from decimal import Decimal

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class EmulatorSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="EMULATOR_", env_file=None, extra="ignore")

    # HTTP_HOST too: what the project's one Dockerfile sets for every process it runs.
    host: str = Field("127.0.0.1", validation_alias=AliasChoices("EMULATOR_HOST", "HTTP_HOST"))
    port: int = 8090
    # About 40 chunks × 12 ms ≈ half a second per reply, like a fast real model; 0 for benchmarks.
    chunk_delay_seconds: float = Field(0.012, ge=0)
    first_token_delay_seconds: float = Field(0.05, ge=0)
    price_per_token_usd: Decimal = Field(Decimal("0.000002"), ge=0)
    reply_words: int = Field(40, ge=1, le=5000)
    # How many past generations `/generation` remembers.
    generation_memory: int = Field(20_000, ge=1)
    log_level: str = Field("INFO", validation_alias="LOG_LEVEL")


def get_settings() -> EmulatorSettings:
    return EmulatorSettings()
