"""HTTP models of the auth and users routes and of the error bodies (api.md §2, §3.1, §4)."""

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any

from fastapi import Path
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, PlainSerializer, RootModel
from pydantic.json_schema import SkipJsonSchema

from gateway.models import User
from shared import bounds
from shared.contracts import billing as b

# Ids are 32-bit integers in every database (`shared.contracts.base.Id`), in paths too.
MAX_ID = bounds.MAX_ID
PathId = Annotated[int, Path(ge=1, le=MAX_ID)]


class Body(BaseModel):
    # Unknown fields are ignored, as DRF serializers do.
    model_config = ConfigDict(extra="ignore")


def _code_text(value: Any) -> Any:
    # Some clients send the code as a JSON number; 012345 then arrives as 12345.
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 1_000_000:
        return f"{value:06d}"
    return value


Phone = Annotated[str, Field(max_length=64, examples=["+989121234567"])]


class RegisterBody(Body):
    phone_number: Phone
    name: str = Field(max_length=1000, examples=["Sara"])
    password: str = Field(max_length=1024, description="At least 8 characters")


class LoginBody(Body):
    phone_number: Phone
    password: str = Field(max_length=1024)


class OtpRequestBody(Body):
    phone_number: Phone


class OtpVerifyBody(Body):
    phone_number: Phone
    code: Annotated[str, BeforeValidator(_code_text), Field(max_length=32, examples=["123456"])]
    name: str | None = Field(None, max_length=1000, description="Needed only when the phone is new")
    registration_id: str | None = Field(
        None, max_length=128, description="From `register`: completes that registration (its name and password)"
    )


class PasswordChangeBody(Body):
    new_password: str = Field(max_length=1024, description="At least 8 characters, not common, not the phone number")
    current_password: str | None = Field(None, max_length=1024, description="Required when the account has a password")


class UserOut(BaseModel):
    id: int
    phone_number: str
    name: str
    is_verified: bool
    date_joined: datetime = Field(examples=["2026-01-01T00:00:00Z"])

    @classmethod
    def of(cls, user: User) -> "UserOut":
        return cls(id=user.id, phone_number=user.phone_number, name=user.name, is_verified=user.is_verified,
                   date_joined=user.joined_utc)


class AccessOut(BaseModel):
    """GET /api/users/access/: whether the caller is staff, so the web app shows its console link only
    then (the admin routes check the flag on every request regardless). Kept out of the user object,
    whose documented shape clients rely on (api.md §3.1)."""

    is_staff: bool


class Success(BaseModel):
    success: bool = True


class CodeSent(BaseModel):
    detail: str
    retry_after: int = Field(description="Seconds before another code may be requested")


class RegistrationPending(CodeSent):
    registration_id: str = Field(description="Send it with the code to `otp/verify` to create the account")


class CsrfToken(BaseModel):
    detail: str
    csrftoken: str


# --- plans and subscriptions ----------------------------------------------------------------------

# Money is a decimal string with two places (api.md §1, "99.99"), however billing stored it ("0", "70000").
Money = Annotated[Decimal, PlainSerializer(lambda value: str(value.quantize(Decimal("0.01"))), return_type=str)]


class PlanOut(b.Plan):
    price: Money
    max_openrouter_cost_usd: Money = Decimal(0)


class SubscriptionPlanOut(PlanOut):
    """The plan inside a subscription keeps the seeds' documented shape: no sale fields."""

    currency: SkipJsonSchema[str] = Field("IRT", exclude=True)
    is_purchasable: SkipJsonSchema[bool] = Field(True, exclude=True)


class SubscriptionOut(b.Subscription):
    subscription_type: SubscriptionPlanOut


# --- error bodies (documentation; gateway.errors builds them) -------------------------------------


class DetailBody(BaseModel):
    detail: str


class ErrorBody(BaseModel):
    error: str
    code: str


class ValidationErrorBody(ErrorBody):
    fields: dict[str, list[str]] = Field(description="The request's own field names; {} for malformed JSON")


class LimitInfo(BaseModel):
    name: str = Field(examples=["hourly_messages"])
    limit: int
    used: int
    retry_after: int | None = Field(description="Seconds until the limit frees up; null if only a new plan resets it")


class LimitErrorBody(ErrorBody):
    limit: LimitInfo


class ForbiddenBody(RootModel[DetailBody | ErrorBody]):
    """403: `{"detail"}` for CSRF and staff-only routes, `{"error", "code"}` for plan refusals."""


def _doc(model: type[BaseModel], description: str) -> dict[str, Any]:
    return {"model": model, "description": description}


COMMON_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: _doc(ValidationErrorBody, "Invalid field, or malformed JSON (`fields` is then {})"),
    413: _doc(ValidationErrorBody, "Request body over 1 MiB"),
    503: _doc(ErrorBody, "A dependency is unavailable (`code`: unavailable); see Retry-After"),
    504: _doc(ErrorBody, "A dependency timed out (`code`: unavailable); see Retry-After"),
}
LOGGED_IN_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: _doc(DetailBody, "Not logged in"),
    403: _doc(ForbiddenBody, "CSRF failed or staff only (`detail`), or the plan does not allow the chatbot or "
              "model (`code`: chatbot_access_denied, model_access_denied)"),
}
LIMIT_RESPONSE: dict[int | str, dict[str, Any]] = {429: _doc(LimitErrorBody, "Too many attempts; see Retry-After")}
USAGE_LIMIT_RESPONSE: dict[int | str, dict[str, Any]] = {
    429: _doc(LimitErrorBody, "A usage limit of your plan is reached; see Retry-After"),
}


def conflict(description: str) -> dict[int | str, dict[str, Any]]:
    return {409: _doc(ErrorBody, description)}
