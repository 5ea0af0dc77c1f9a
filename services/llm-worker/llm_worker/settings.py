"""llm-worker settings: OpenRouter access, timeouts, retries, concurrency and media storage."""

import os
import socket
import uuid
from typing import Literal

from pydantic import AliasChoices, Field
from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings

EMULATOR_BASE_URL = "http://127.0.0.1:8090/api/v1"
OPENROUTER_BASE_URL = "https://openrouter.ai/api/v1"


def _instance_id() -> str:
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


class WorkerSettings(ServiceSettings):
    http_port: int = Field(8003, validation_alias=AliasChoices("LLM_WORKER_PORT", "WORKER_PORT", "http_port"))
    # Prometheus `/metrics` on its own port, never the API's (0: not served). METRICS_PORT also works,
    # for containers; on one host each process needs its own.
    metrics_port: int = Field(9113, ge=0, le=65535, validation_alias=AliasChoices(
        "LLM_WORKER_METRICS_PORT", "WORKER_METRICS_PORT", "METRICS_PORT", "metrics_port"))

    openrouter_api_key: str | None = Field(None, alias="OPENROUTER_API_KEY")
    # Unset: the real OpenRouter when an API key is given, else the local emulator.
    openrouter_base_url: str | None = Field(None, alias="OPENROUTER_BASE_URL")
    openrouter_referer: str | None = Field(None, alias="OPENROUTER_REFERER")
    openrouter_title: str | None = Field("MobixAI", alias="OPENROUTER_TITLE")

    # Generations in flight per process: the prefetch of the command queues.
    worker_concurrency: int = Field(16, ge=1, le=1000, alias="WORKER_CONCURRENCY")
    instance_id: str = Field(default_factory=_instance_id, alias="WORKER_INSTANCE_ID")
    # On SIGTERM, in-flight generations get this long to finish before their commands go back.
    graceful_timeout_seconds: float = Field(120.0, gt=0, alias="WORKER_GRACEFUL_TIMEOUT_SECONDS")

    # A reply's deltas are coalesced over this long into one Redis stream entry (the first goes at once).
    delta_interval_seconds: float = Field(0.04, ge=0, le=1, alias="WORKER_DELTA_INTERVAL_SECONDS")

    connect_timeout_seconds: float = Field(5.0, gt=0, alias="OPENROUTER_CONNECT_TIMEOUT_SECONDS")
    first_token_timeout_seconds: float = Field(60.0, gt=0, alias="OPENROUTER_FIRST_TOKEN_TIMEOUT_SECONDS")
    reply_timeout_seconds: float = Field(300.0, gt=0, alias="OPENROUTER_REPLY_TIMEOUT_SECONDS")
    max_attempts: int = Field(4, ge=1, le=20, alias="OPENROUTER_MAX_ATTEMPTS")
    backoff_initial_seconds: float = Field(0.5, ge=0, alias="OPENROUTER_BACKOFF_INITIAL_SECONDS")
    backoff_max_seconds: float = Field(8.0, ge=0, alias="OPENROUTER_BACKOFF_MAX_SECONDS")
    # A Retry-After longer than this is not waited for: the attempt fails instead.
    retry_after_max_seconds: float = Field(30.0, ge=0, alias="OPENROUTER_RETRY_AFTER_MAX_SECONDS")
    # Generation stats can lag the stream; look them up this many times, doubling the pause.
    generation_lookup_attempts: int = Field(5, ge=1, le=20, alias="OPENROUTER_GENERATION_LOOKUP_ATTEMPTS")
    generation_lookup_delay_seconds: float = Field(0.2, ge=0, alias="OPENROUTER_GENERATION_LOOKUP_DELAY_SECONDS")
    max_connections: int = Field(200, ge=1, alias="OPENROUTER_MAX_CONNECTIONS")

    media_root: str = Field("var/media", alias="MEDIA_ROOT")
    media_base_url: str = Field("/media/", alias="MEDIA_BASE_URL")
    # "local": files under MEDIA_ROOT served by the gateway; "s3": an S3-compatible bucket.
    media_store: Literal["local", "s3"] = Field("local", alias="MEDIA_STORE")
    media_s3_bucket: str | None = Field(None, alias="MEDIA_S3_BUCKET")
    media_s3_endpoint_url: str | None = Field(None, alias="MEDIA_S3_ENDPOINT_URL")
    media_s3_region: str | None = Field(None, alias="MEDIA_S3_REGION")
    media_s3_public_base_url: str | None = Field(None, alias="MEDIA_S3_PUBLIC_BASE_URL")
    # Fallback for title requests when the session's model cannot answer.
    title_model: str | None = Field(None, alias="TITLE_MODEL")
    title_max_tokens: int = Field(24, ge=4, alias="TITLE_MAX_TOKENS")

    model_config = SettingsConfigDict(populate_by_name=True)  # merged with the base config

    @property
    def base_url(self) -> str:
        if self.openrouter_base_url:
            return self.openrouter_base_url.rstrip("/")
        return OPENROUTER_BASE_URL if self.openrouter_api_key else EMULATOR_BASE_URL


def get_settings() -> WorkerSettings:
    return WorkerSettings()
