"""Chat service settings."""

from pydantic import AliasChoices, Field

from shared.settings import ServiceSettings

OPENROUTER_BASE_URL = "https://openrouter.ai/api/v1"
EMULATOR_BASE_URL = "http://127.0.0.1:8090/api/v1"


class ChatSettings(ServiceSettings):
    database_url: str = Field("sqlite+aiosqlite:///var/chat.db", alias="CHAT_DATABASE_URL")
    http_port: int = Field(8001, alias="CHAT_PORT")
    # Prometheus `/metrics` on its own port, never the API's (0: not served). METRICS_PORT also works,
    # for containers; on one host each process needs its own.
    metrics_port: int = Field(9111, ge=0, le=65535,
                              validation_alias=AliasChoices("CHAT_METRICS_PORT", "METRICS_PORT", "metrics_port"))
    title_model: str | None = Field(None, alias="TITLE_MODEL")
    default_title: str = "New Chat"
    # A reply that has not finished after this long no longer blocks the session (409).
    reply_stale_after_seconds: int = 900
    outbox_poll_seconds: float = 1.0
    # Chatbot and model rows (and their plan links) reused by the send path; catalog edits through
    # another chat replica show within this time (0: read them on every send).
    catalog_cache_seconds: float = Field(5.0, ge=0, le=300, alias="CATALOG_CACHE_SECONDS")
    seed_catalog: bool = True
    # The catalog sync reads OpenRouter's model list (GET {base}/models), with the worker's settings:
    # no key and no base → the local emulator, as for replies.
    openrouter_api_key: str | None = Field(None, alias="OPENROUTER_API_KEY")
    openrouter_base_url: str | None = Field(None, alias="OPENROUTER_BASE_URL")
    models_sync_timeout_seconds: float = Field(8.0, gt=0, le=60, alias="MODELS_SYNC_TIMEOUT_SECONDS")

    @property
    def openrouter_models_base(self) -> str:
        if self.openrouter_base_url:
            return self.openrouter_base_url.rstrip("/")
        return OPENROUTER_BASE_URL if self.openrouter_api_key else EMULATOR_BASE_URL

    model_config = {**ServiceSettings.model_config, "populate_by_name": True}


def get_settings() -> ChatSettings:
    return ChatSettings()
