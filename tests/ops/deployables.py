"""What the deployment files deploy: each process's module, Dockerfile, port and settings class."""

import contextlib
import importlib
import tempfile
from dataclasses import dataclass
from pathlib import Path

from pydantic_settings import BaseSettings, EnvSettingsSource

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Deployable:
    name: str  # compose service, Kubernetes Deployment and image name
    package: str  # `python -m <package>`; settings in <package>.settings
    dockerfile: str
    port: int
    port_env: str
    host_env: str
    database_env: str | None = None
    # What the container health check asks for; the emulator (a development tool) has no /readyz.
    probe: str = "/readyz"
    # Variables the process reads outside its settings class (name -> who reads it).
    extra_env: tuple[tuple[str, str], ...] = ()
    # Where Prometheus scrapes `/metrics` (never the API port), and its setting; None: no metrics.
    metrics_port: int | None = None
    metrics_env: str | None = None
    # The root Dockerfile's build arguments for this image (docker-compose.yml gives the same).
    build_args: tuple[tuple[str, str], ...] = ()

    def env_names_read(self) -> set[str]:
        """Every variable the process reads: its settings class's names, `extra_env` and the
        OpenTelemetry SDK's own variables (shared.tracing)."""
        names = {name for names in setting_env_names(self.settings_class()).values() for name in names}
        return names | {name for name, _ in self.extra_env} | OPENTELEMETRY_ENV

    @property
    def dockerfile_path(self) -> Path:
        return ROOT / self.dockerfile

    def stages(self) -> list:
        """The image's build stages, its build arguments substituted."""
        from tests.ops import dockerfile

        return dockerfile.parse(self.dockerfile_path, dict(self.build_args))

    def settings_class(self) -> type[BaseSettings]:
        """The one settings class the package's settings module defines."""
        module = importlib.import_module(f"{self.package}.settings")
        found = [
            value for value in vars(module).values()
            if isinstance(value, type) and issubclass(value, BaseSettings) and value.__module__ == module.__name__
        ]
        assert len(found) == 1, f"{module.__name__} should define exactly one settings class, found {found}"
        return found[0]


# Read by the OpenTelemetry SDK in every service, not by a settings class.
OPENTELEMETRY_ENV = {"OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_SDK_DISABLED",
                     "OTEL_SERVICE_NAME", "OTEL_BSP_SCHEDULE_DELAY"}

SERVICES = (
    Deployable("gateway", "gateway", "Dockerfile", 8000, "GATEWAY_PORT", "GATEWAY_HOST",
               "GATEWAY_DATABASE_URL", metrics_port=9110, metrics_env="GATEWAY_METRICS_PORT",
               build_args=(("SERVICE", "gateway"), ("PORT", "8000"), ("WEBAPP", "built"))),
    Deployable("chat", "chat", "Dockerfile", 8001, "CHAT_PORT", "HTTP_HOST", "CHAT_DATABASE_URL",
               metrics_port=9111, metrics_env="CHAT_METRICS_PORT", build_args=(("SERVICE", "chat"), ("PORT", "8001"))),
    Deployable("billing", "billing", "Dockerfile", 8002, "BILLING_PORT", "HTTP_HOST",
               "BILLING_DATABASE_URL", metrics_port=9112, metrics_env="BILLING_METRICS_PORT", build_args=(("SERVICE", "billing"), ("PORT", "8002"))),
    Deployable("llm-worker", "llm_worker", "Dockerfile", 8003, "LLM_WORKER_PORT", "HTTP_HOST",
               metrics_port=9113, metrics_env="LLM_WORKER_METRICS_PORT",
               build_args=(("SERVICE", "llm_worker"), ("PORT", "8003"))),
    Deployable("telegram-bot", "telegram_bot", "Dockerfile", 8005, "TELEGRAM_BOT_PORT",
               "HTTP_HOST", metrics_port=9115, metrics_env="TELEGRAM_BOT_METRICS_PORT",
               build_args=(("SERVICE", "telegram_bot"), ("PORT", "8005"))),
)
EMULATOR = Deployable("emulator", "openrouter_emulator", "Dockerfile", 8090, "EMULATOR_PORT", "EMULATOR_HOST",
                      probe="/api/v1/models", build_args=(("SERVICE", "openrouter_emulator"), ("PORT", "8090"),
                                                          ("HEALTH_PATH", "/api/v1/models")))
SMS_EMULATOR = Deployable("sms-emulator", "sms_emulator", "Dockerfile", 8091, "SMS_EMULATOR_PORT", "SMS_EMULATOR_HOST",
                          probe="/messages", build_args=(("SERVICE", "sms_emulator"), ("PORT", "8091"),
                                                         ("HEALTH_PATH", "/messages")))
TELEGRAM_EMULATOR = Deployable("telegram-emulator", "telegram_emulator", "Dockerfile", 8093, "TELEGRAM_EMULATOR_PORT",
                               "TELEGRAM_EMULATOR_HOST", probe="/emulator/webhook",
                               build_args=(("SERVICE", "telegram_emulator"), ("PORT", "8093"),
                                           ("HEALTH_PATH", "/emulator/webhook")))
ALL = (*SERVICES, EMULATOR, SMS_EMULATOR, TELEGRAM_EMULATOR)
BY_NAME = {d.name: d for d in ALL}


def setting_env_names(settings_class: type[BaseSettings]) -> dict[str, tuple[str, ...]]:
    """Each field's environment variable names, upper-case, preferred name first.

    Asks pydantic-settings' own environment source, so aliases, `AliasChoices`, `populate_by_name`
    and `env_prefix` count exactly as they do when the service starts.
    """
    source = EnvSettingsSource(settings_class)
    names = {}
    for field_name, field in settings_class.model_fields.items():
        infos = source._extract_field_info(field, field_name)
        names[field_name] = tuple(dict.fromkeys(env.upper() for _, env, _ in infos))
    return names


def all_setting_names() -> dict[str, set[str]]:
    """Every environment variable any deployable reads, mapped to who reads it."""
    readers: dict[str, set[str]] = {}
    for deployable in ALL:
        for name in deployable.env_names_read():
            readers.setdefault(name, set()).add(deployable.name)
    return readers


def route_paths(deployable: Deployable) -> set[str]:
    """HTTP paths the process serves, from its app factory (nothing is started or connected)."""
    if deployable is EMULATOR:
        from openrouter_emulator.app import create_app
    else:
        create_app = importlib.import_module(f"{deployable.package}.main").create_app
    # Some factories prepare local folders (media) relative to the working directory: keep them out of the tree.
    with tempfile.TemporaryDirectory() as scratch, contextlib.chdir(scratch):
        app = create_app(deployable.settings_class()())
    return {getattr(route, "path", None) for route in app.routes} - {None}
