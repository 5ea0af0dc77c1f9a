"""RPC calls of billing's payments (selling plans, payments.md) and their payloads."""

from datetime import datetime
from decimal import Decimal
from uuid import UUID

from pydantic import Field

from shared.contracts.admin_fields import DiscountCodeBody, SetFields
from shared.contracts.base import Contract


class RpcNames:
    """The RPC names of billing's payments (queries and commands alike)."""

    LIST_PLANS_FOR_SALE = "billing.list_plans_for_sale"  # ListPlansForSale -> list[Plan]
    QUOTE = "billing.quote"  # Quote -> Quoted (ValidationFailed on `discount_code`)
    CHECKOUT = "billing.checkout"  # Checkout -> Payment
    LIST_PAYMENTS = "billing.list_payments"  # ListPayments -> PaymentPage
    GET_PAYMENT = "billing.get_payment"  # GetPayment -> Payment (NotFound for another user's)
    ZIBAL_CALLBACK = "billing.zibal_callback"  # ZibalCallback -> CallbackOutcome
    STRIPE_WEBHOOK = "billing.stripe_webhook"  # StripeWebhook -> WebhookOutcome
    RECONCILE = "billing.reconcile_payments"  # Reconcile -> Reconciled
    REFUND = "billing.refund_payment"  # Refund -> Payment
    LIST_DISCOUNT_CODES = "billing.list_discount_codes"  # ListDiscountCodes -> list[DiscountCode]
    GET_DISCOUNT_CODE = "billing.get_discount_code"  # DiscountCodeQuery -> DiscountCode
    CREATE_DISCOUNT_CODE = "billing.create_discount_code"  # SaveDiscountCode -> DiscountCode
    UPDATE_DISCOUNT_CODE = "billing.update_discount_code"  # SaveDiscountCode -> DiscountCode
    DELETE_DISCOUNT_CODE = "billing.delete_discount_code"  # DiscountCodeQuery -> None


STATUSES = ("pending", "completed", "failed", "cancelled", "expired", "refunded")


class ListPlansForSale(Contract):
    pass


class Quote(Contract):
    user_id: int
    plan_id: int
    discount_code: str | None = None


class Quoted(Contract):
    original_amount: Decimal
    credit_amount: Decimal
    discount_amount: Decimal
    amount: Decimal
    currency: str
    discount_code: str | None = None


class Checkout(Quote):
    provider: str | None = None  # None: PAYMENT_PROVIDER
    callback_url: str  # where the provider sends the browser back (the gateway's callback route)


class Payment(Contract):
    id: UUID
    user_id: int
    status: str
    subscription_type_id: int
    original_amount: Decimal
    credit_amount: Decimal
    discount_amount: Decimal
    amount: Decimal
    currency: str
    provider: str
    redirect_url: str | None
    created_at: datetime
    completed_at: datetime | None


class ListPayments(Contract):
    user_id: int | None = None  # None: everyone's (staff)
    status: str | None = None
    offset: int = 0
    limit: int = 20


class PaymentPage(Contract):
    count: int
    results: list[Payment] = Field(default_factory=list)


class GetPayment(Contract):
    payment_id: UUID
    user_id: int | None = None  # None: staff, any user's


class ZibalCallback(Contract):
    """What the browser brought back; nothing in it is trusted beyond naming the payment."""

    track_id: str
    order_id: str
    user_id: int | None = None  # the logged-in user the browser carries, if any


class CallbackOutcome(Contract):
    payment_id: UUID | None
    status: str  # the payment's status after the callback, or "unknown"


class StripeWebhook(Contract):
    """A webhook delivery as it came: billing checks the signature against the raw payload."""

    payload: str
    signature: str


class WebhookOutcome(Contract):
    accepted: bool  # False: the signature does not hold (or Stripe is not configured); nothing changed
    payment_id: UUID | None = None
    status: str = "unknown"  # the payment's status after the event, or "unknown"
    replayed: bool = False  # this event id was taken in before: nothing changed


class Reconcile(Contract):
    pass


class Reconciled(Contract):
    checked: int
    settled: int


class Refund(Contract):
    payment_id: UUID


class DiscountCode(Contract):
    id: int
    code: str
    discount_type: str
    discount_value: Decimal
    subscription_type_ids: list[int]
    max_uses: int | None
    max_uses_per_user: int
    valid_from: datetime
    valid_until: datetime | None
    is_active: bool
    times_used: int
    created_at: datetime


class ListDiscountCodes(Contract):
    pass


class DiscountCodeQuery(Contract):
    code_id: int


class SaveDiscountCode(Contract):
    """Create (`code_id` None) or update: PUT (`partial` False) or PATCH (only the fields given)."""

    code_id: int | None = None
    partial: bool = False
    fields: SetFields[DiscountCodeBody]

