"""Gateway settings: where it listens, its user database, login sessions, OTP/SMS, the staff user."""

from typing import Literal

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import SettingsConfigDict

from gateway.client_ip import parse_networks
from shared.settings import ServiceSettings

DAY = 24 * 3600
DEVELOPMENT_HOSTS = "127.0.0.1,localhost"


class GatewaySettings(ServiceSettings):
    # The gateway has its own host/port names; HTTP_HOST (shared by the back-end services) also works.
    http_host: str = Field("127.0.0.1", validation_alias=AliasChoices("GATEWAY_HOST", "HTTP_HOST"))
    http_port: int = Field(8000, alias="GATEWAY_PORT")
    # Prometheus `/metrics` on its own port, never the API's (0: not served). METRICS_PORT also works,
    # for containers; on one host each process needs its own.
    metrics_port: int = Field(9110, ge=0, le=65535,
                              validation_alias=AliasChoices("GATEWAY_METRICS_PORT", "METRICS_PORT", "metrics_port"))
    database_url: str = Field("sqlite+aiosqlite:///var/gateway.db", alias="GATEWAY_DATABASE_URL")

    # Phone numbers written without a country code are read for this region.
    default_phone_region: str = Field("IR", alias="DEFAULT_PHONE_REGION")

    session_absolute_lifetime_seconds: int = Field(14 * DAY, gt=0, alias="SESSION_ABSOLUTE_LIFETIME_SECONDS")
    session_idle_timeout_seconds: int = Field(7 * DAY, gt=0, alias="SESSION_IDLE_TIMEOUT_SECONDS")
    # How long the gateway may answer from its copy of a user's plan id (gateway.plans).
    plan_cache_seconds: int = Field(10, ge=0, le=300, alias="PLAN_CACHE_SECONDS")
    # Lifetime of the Redis copies of users and of session lists (gateway.read_cache; 0: no copies).
    # Every change made through the API replaces them at once: the lifetime only bounds their memory.
    user_cache_seconds: int = Field(300, ge=0, le=86_400, alias="USER_CACHE_SECONDS")
    session_list_cache_seconds: int = Field(300, ge=0, le=86_400, alias="SESSION_LIST_CACHE_SECONDS")
    # auto: Secure cookies when the request came over HTTPS (uvicorn honours X-Forwarded-Proto from
    # trusted proxies); true/false force it.
    secure_cookies: Literal["auto", "true", "false"] = Field("auto", alias="SECURE_COOKIES")

    # Login codes go out through Kavenegar's REST API (gateway.sms); without a key, outside production,
    # they are written to the log. `make run` points the base URL at the SMS emulator.
    sms_provider: Literal["kavenegar", "console"] = Field("kavenegar", alias="SMS_PROVIDER")
    sms_api_key: SecretStr | None = Field(None, alias="SMS_API_KEY")
    sms_base_url: str = Field("https://api.kavenegar.com", alias="SMS_BASE_URL")
    # The verify-lookup template approved in the Kavenegar panel; its %token% becomes the code.
    sms_template: str = Field("mobixai-login", min_length=1, alias="SMS_TEMPLATE")
    sms_timeout_seconds: float = Field(10.0, gt=0, le=60, alias="SMS_TIMEOUT_SECONDS")
    # Codes go only to mobile numbers of these regions (ISO 3166 codes, comma-separated).
    sms_allowed_regions: str = Field("IR", alias="SMS_ALLOWED_REGIONS")
    # SMS pumping caps: codes per client IP and in total per sliding hour (register and otp/request).
    sms_per_ip_hourly: int = Field(20, ge=1, alias="SMS_PER_IP_HOURLY")
    sms_global_hourly: int = Field(1000, ge=1, alias="SMS_GLOBAL_HOURLY")
    # Proxies whose X-Forwarded-For / X-Forwarded-Proto are believed (addresses or CIDRs, comma-separated;
    # empty: none, the TCP peer is the client). gateway.client_ip.
    forwarded_allow_ips: str = Field("", alias="FORWARDED_ALLOW_IPS")
    # Host names the API answers to (comma-separated; `.example.com` includes subdomains, `*` any).
    # Unset: 127.0.0.1 and localhost in development; production refuses to start without it.
    allowed_hosts: str | None = Field(None, alias="ALLOWED_HOSTS")
    # Where clients reach the API (`https://api.example.com`): links the API builds use it when set.
    public_base_url: str | None = Field(None, alias="PUBLIC_BASE_URL")
    # Slow clients (gateway.http_server): the whole request head must arrive within the first, and a
    # body must not pause for longer than the second.
    header_read_timeout_seconds: float = Field(10.0, gt=0, le=10, alias="HEADER_READ_TIMEOUT_SECONDS")
    body_idle_timeout_seconds: float = Field(30.0, gt=0, le=30, alias="BODY_IDLE_TIMEOUT_SECONDS")
    # A `: ping` comment on an idle event stream at least this often (proxies cut silent connections).
    stream_ping_seconds: float = Field(15.0, gt=0, le=15, alias="STREAM_PING_SECONDS")

    mobix_admin_phone: str | None = Field(None, alias="MOBIX_ADMIN_PHONE")
    mobix_admin_password: SecretStr | None = Field(None, alias="MOBIX_ADMIN_PASSWORD")
    # The Telegram bot's service credential (gateway.routes.telegram): the only caller that may link a
    # Telegram account to a phone's account. Unset: the route refuses everyone.
    telegram_bot_service_token: SecretStr | None = Field(None, alias="TELEGRAM_BOT_SERVICE_TOKEN")

    # JSON file {"en": {"<message key>": "text"}, "fa": {...}} overriding the built-in error texts.
    error_messages_file: str | None = Field(None, alias="ERROR_MESSAGES_FILE")

    media_root: str = Field("var/media", alias="MEDIA_ROOT")
    # Served by the gateway when it is a path; a full URL means another server (a CDN) serves media.
    media_base_url: str = Field("/media/", alias="MEDIA_BASE_URL")
    # The built web app (`npm run build` in webapp/), served at `/`; relative to the working directory.
    webapp_dir: str = Field("webapp/dist", alias="WEBAPP_DIR")

    # Where the browser lands after paying (`?payment_id=&status=` appended): by default the web app's
    # result page (webapp/src/buy.js RETURN_PATH); a mobile app's URL otherwise.
    payment_return_url: str = Field("/payments/return", min_length=1, alias="PAYMENT_RETURN_URL")
    # The web app's Stripe page (/pay/stripe/) confirms a PaymentIntent with Stripe.js, loaded from
    # STRIPE_JS_URL with the publishable key; that page's Content-Security-Policy admits the script's
    # origin (and Stripe's frames and API when it is Stripe's own). `make run` without STRIPE_API_KEY
    # points both at localstripe's stand-in (devinfra.stripe_local). No key: no Stripe page.
    stripe_publishable_key: str = Field("", max_length=255, alias="STRIPE_PUBLISHABLE_KEY")
    stripe_js_url: str = Field("https://js.stripe.com/v3/", min_length=1, alias="STRIPE_JS_URL")

    model_config = SettingsConfigDict(populate_by_name=True)  # merged with the base config

    @field_validator("secure_cookies", mode="before")
    @classmethod
    def _secure_cookies(cls, value: object) -> object:
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, str):
            value = value.strip().lower()
            return {"1": "true", "yes": "true", "on": "true", "0": "false", "no": "false", "off": "false"}.get(
                value, value
            )
        return value

    @field_validator("forwarded_allow_ips")
    @classmethod
    def _networks(cls, value: str) -> str:
        try:
            parse_networks(value)
        except ValueError as exc:
            raise ValueError(f"FORWARDED_ALLOW_IPS must list IP addresses or CIDRs: {exc}") from exc
        return value

    @field_validator("public_base_url")
    @classmethod
    def _base_url(cls, value: str | None) -> str | None:
        if value and not value.startswith(("http://", "https://")):
            raise ValueError("PUBLIC_BASE_URL must start with http:// or https://")
        return value.rstrip("/") if value else None

    @property
    def allowed_host_list(self) -> tuple[str, ...]:
        hosts = self.allowed_hosts if self.allowed_hosts is not None else DEVELOPMENT_HOSTS
        return tuple(host.strip().lower() for host in hosts.split(",") if host.strip())

    def check_production_safety(self) -> None:
        super().check_production_safety()
        if self.environment == "production" and not self.allowed_hosts:
            raise SystemExit("ALLOWED_HOSTS must be set in production (the host names clients use)")

    @field_validator("mobix_admin_phone", "error_messages_file", "allowed_hosts", "public_base_url", mode="before")
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        # Compose passes `NAME:` through as an empty string when the operator left it out.
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("mobix_admin_password", "sms_api_key", "telegram_bot_service_token", mode="before")
    @classmethod
    def _blank_password_is_unset(cls, value: object) -> object:
        return None if isinstance(value, str) and not value else value

    @field_validator("sms_provider", mode="before")
    @classmethod
    def _provider_name(cls, value: object) -> object:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("sms_allowed_regions")
    @classmethod
    def _regions(cls, value: str) -> str:
        regions = [part.strip().upper() for part in value.split(",") if part.strip()]
        if not regions or not all(len(r) == 2 and r.isalpha() for r in regions):
            raise ValueError("SMS_ALLOWED_REGIONS must list ISO 3166 region codes, e.g. IR or IR,AE")
        return ",".join(regions)

    @property
    def sms_regions(self) -> frozenset[str]:
        return frozenset(self.sms_allowed_regions.split(","))


def get_settings() -> GatewaySettings:
    return GatewaySettings()
