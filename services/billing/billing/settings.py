"""Billing service settings."""

from decimal import Decimal
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator

from billing.admission import MAX_PRICE, UNPRICED_USD_PER_MTOK
from shared.settings import ServiceSettings

DEFAULT_PLAN_SKU = "FREE_SUB_30D"


class BillingSettings(ServiceSettings):
    database_url: str = Field("sqlite+aiosqlite:///var/billing.db", alias="BILLING_DATABASE_URL")
    http_port: int = Field(8002, alias="BILLING_PORT")
    # Prometheus `/metrics` on its own port, never the API's (0: not served). METRICS_PORT also works,
    # for containers; on one host each process needs its own.
    metrics_port: int = Field(9112, ge=0, le=65535,
                              validation_alias=AliasChoices("BILLING_METRICS_PORT", "METRICS_PORT", "metrics_port"))
    # Plan given to new users and to anyone whose period has ended.
    default_plan_sku: str = Field(DEFAULT_PLAN_SKU, alias="DEFAULT_PLAN_SKU")
    # A reservation neither committed nor released after this long is released by itself. Keep it
    # above the llm-worker's whole-reply timeout: a reply committed after its reservation expired is
    # still billed, but its budget was no longer held for it.
    reservation_ttl_seconds: int = Field(900, ge=30, le=86_400, alias="RESERVATION_TTL_SECONDS")
    # Added to the prompt estimate before reserving, for providers whose tokenizer counts more than
    # tiktoken's cl100k_base; 0 trusts the estimate.
    prompt_margin_percent: int = Field(0, ge=0, le=100, alias="BILLING_PROMPT_MARGIN_PERCENT")
    # USD per million tokens (prompt and completion) reserved for a model whose prices are unknown
    # (neither set by the operator nor synced), so the cost cap holds for it too. Deliberately high:
    # too high only holds budget back until the reply commits its real cost; too low lets racing
    # sends overshoot the cap. Give the model its prices to reserve what it really costs.
    unpriced_model_usd_per_mtok: Decimal = Field(
        UNPRICED_USD_PER_MTOK, ge=0, le=MAX_PRICE, alias="UNPRICED_MODEL_USD_PER_MTOK"
    )

    # Selling plans (payments.md). The operator's currency: new plans take it (ISO 4217; IRT = toman).
    billing_currency: str = Field("IRT", min_length=3, max_length=8, alias="BILLING_CURRENCY")
    payment_provider: Literal["zibal", "stripe"] = Field("zibal", alias="PAYMENT_PROVIDER")
    # A payment still pending this long after checkout is settled by one last inquiry, else expired.
    payment_expire_minutes: int = Field(30, ge=1, le=7 * 24 * 60, alias="PAYMENT_EXPIRE_MINUTES")
    # How often pending payments are asked about again (lost callbacks, timed-out verifies); 0: never.
    payment_reconcile_seconds: int = Field(60, ge=0, le=3_600, alias="PAYMENT_RECONCILE_SECONDS")
    # Zibal: unset merchant → `make run` starts the emulator and points ZIBAL_BASE_URL at it.
    zibal_merchant: SecretStr = Field(SecretStr("zibal"), alias="ZIBAL_MERCHANT")
    zibal_base_url: str = Field("https://gateway.zibal.ir", alias="ZIBAL_BASE_URL")
    zibal_timeout_seconds: float = Field(10.0, gt=0, le=120, alias="ZIBAL_TIMEOUT_SECONDS")
    # Stripe: offered (per checkout, or by PAYMENT_PROVIDER=stripe) when the API key is set. The
    # webhook secret signs `POST /api/payments/webhook/stripe/`; STRIPE_API_BASE points at localstripe
    # in tests. The payment page confirms the PaymentIntent with Stripe.js: it gets
    # `?payment_id=&client_secret=` (relative: on the gateway's origin, the web app).
    stripe_api_key: SecretStr = Field(SecretStr(""), alias="STRIPE_API_KEY")
    stripe_webhook_secret: SecretStr = Field(SecretStr(""), alias="STRIPE_WEBHOOK_SECRET")
    stripe_api_base: str = Field("https://api.stripe.com", alias="STRIPE_API_BASE")
    stripe_payment_page_url: str = Field("/pay/stripe/", min_length=1, alias="STRIPE_PAYMENT_PAGE_URL")
    stripe_timeout_seconds: float = Field(10.0, gt=0, le=120, alias="STRIPE_TIMEOUT_SECONDS")

    model_config = {**ServiceSettings.model_config, "populate_by_name": True}

    @field_validator("zibal_merchant", mode="before")
    @classmethod
    def _blank_merchant(cls, value: object) -> object:
        # "zibal" is Zibal's own test merchant, which the emulator accepts too
        return value or "zibal"

    @model_validator(mode="after")
    def _stripe_has_keys(self) -> "BillingSettings":
        if self.payment_provider == "stripe" and not (self.stripe_api_key.get_secret_value()
                                                      and self.stripe_webhook_secret.get_secret_value()):
            raise ValueError("PAYMENT_PROVIDER=stripe needs STRIPE_API_KEY and STRIPE_WEBHOOK_SECRET")
        return self

    @field_validator("default_plan_sku", mode="before")
    @classmethod
    def _blank_means_default(cls, value: object) -> object:
        # compose passes an unset variable through as an empty string
        return value or DEFAULT_PLAN_SKU


def get_settings() -> BillingSettings:
    return BillingSettings()
