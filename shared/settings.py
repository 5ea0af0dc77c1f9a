"""Typed settings shared by every service; each service extends `ServiceSettings`."""

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_SECRET = "dev-insecure-secret-change-me"


class ServiceSettings(BaseSettings):
    """Connection settings every service reads from the environment."""

    model_config = SettingsConfigDict(env_file=None, extra="ignore")

    environment: str = Field("development", description="development | test | production")
    rabbit_url: str = "amqp://guest:guest@127.0.0.1:5672/"
    redis_url: str = "redis://127.0.0.1:6379/0"
    log_level: str = "INFO"
    log_json: bool = False
    rpc_timeout_seconds: float = 10.0
    # Transient consumer failures (a database, Redis or peer down) are retried with a backoff that
    # doubles from RETRY_BASE_SECONDS up to RETRY_CAP_SECONDS, for RETRY_MAX_SECONDS in all (as long as
    # an outage may last); then the message is dead-lettered like poison (shared.consumers).
    retry_base_seconds: float = Field(1.0, gt=0)
    retry_cap_seconds: float = Field(60.0, gt=0)
    retry_max_seconds: float = Field(1800.0, gt=0)
    secret_key: str = DEFAULT_SECRET
    http_host: str = "127.0.0.1"
    http_port: int = 0
    # Whether the service upgrades its own database at start-up. Unset: yes, except in production,
    # where `python -m shared.migrate` runs once per deploy (compose's `migrate`, the Kubernetes Job)
    # instead of every replica racing through the same migration.
    migrate_on_start: bool | None = None

    def configure_retries(self) -> None:
        from shared.consumers import RetryPolicy, configure_retries  # noqa: PLC0415 - settings stay light

        configure_retries(RetryPolicy(self.retry_base_seconds, self.retry_cap_seconds, self.retry_max_seconds))

    def migrates_on_start(self) -> bool:
        return self.migrate_on_start if self.migrate_on_start is not None else self.environment != "production"

    def check_production_safety(self) -> None:
        """Refuse to start in production with a default secret."""
        if self.environment == "production" and self.secret_key == DEFAULT_SECRET:
            raise SystemExit("SECRET_KEY must be set to a non-default value in production")
