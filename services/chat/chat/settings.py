"""Chat service settings."""

from pydantic import AliasChoices, Field

from shared.settings import ServiceSettings


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

    model_config = {**ServiceSettings.model_config, "populate_by_name": True}


def get_settings() -> ChatSettings:
    return ChatSettings()
