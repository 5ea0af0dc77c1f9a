"""SMS emulator settings (environment variables `SMS_EMULATOR_*`)."""

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class SmsEmulatorSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SMS_EMULATOR_", env_file=None, extra="ignore")

    # HTTP_HOST too: what the project's one Dockerfile sets for every process it runs.
    host: str = Field("127.0.0.1", validation_alias=AliasChoices("SMS_EMULATOR_HOST", "HTTP_HOST"))
    port: int = 8091
    # When set, only this API key is accepted (as Kavenegar refuses an unknown key); empty: any key.
    api_key: str = ""
    # The text of every verify-lookup template, as approved in a Kavenegar panel; %token% is the code.
    template_text: str = "MobixAI code: %token%"
    # How many messages `/messages` remembers (oldest forgotten first).
    memory: int = Field(10_000, ge=1)
    # Numbers written without a country code (Kavenegar accepts 0912…) are read for this region.
    default_region: str = "IR"
    log_level: str = Field("INFO", validation_alias="LOG_LEVEL")


def get_settings() -> SmsEmulatorSettings:
    return SmsEmulatorSettings()
