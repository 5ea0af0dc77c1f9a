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
    queue_metrics_seconds: float = Field(15.0, gt=0, description="How often each service reads its queues' depths")
    secret_key: str = DEFAULT_SECRET
    http_host: str = "127.0.0.1"
    http_port: int = 0

    def check_production_safety(self) -> None:
        """Refuse to start in production with a default secret."""
        if self.environment == "production" and self.secret_key == DEFAULT_SECRET:
            raise SystemExit("SECRET_KEY must be set to a non-default value in production")
