"""Selling plans (payments.md): /api/plans/ (public), quote, checkout, the caller's payments, and the
provider's return route. Billing decides everything; these routes shape HTTP."""

import logging
import uuid
from collections.abc import Awaitable
from datetime import datetime
from typing import Annotated, Literal, TypeVar
from urllib.parse import urlencode, urlsplit, urlunsplit

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import RedirectResponse
from pydantic import BaseModel, Field

from gateway.backends import Rpc
from gateway.deps import CurrentUser, OptionalSession, runtime
from gateway.error_texts import EN
from gateway.pagination import Pages, envelope, paged_list
from gateway.schemas import Body, Money, PlanOut
from shared.contracts import payments as p
from shared.contracts.base import Id
from shared.errors import DomainError, NotFound, ValidationFailed

log = logging.getLogger(__name__)
T = TypeVar("T")

public = APIRouter(prefix="/api", tags=["payments"])
router = APIRouter(prefix="/api/payments", tags=["payments"])
P = p.RpcNames
# Zibal's verify and inquiry may each take the provider's whole timeout.
CALLBACK_TIMEOUT_SECONDS = 30


class QuoteBody(Body):
    subscription_type_id: Id
    discount_code: str | None = Field(None, max_length=64)


class CheckoutBody(QuoteBody):
    provider: Literal["zibal", "stripe"] | None = Field(
        None, description="Default: the operator's PAYMENT_PROVIDER (stripe: when the operator set it up)")


class QuoteOut(BaseModel):
    original_amount: Money
    credit_amount: Money
    discount_amount: Money
    amount: Money
    currency: str
    discount_code: str | None


class PaymentOut(BaseModel):
    id: uuid.UUID
    status: Literal["pending", "completed", "failed", "cancelled", "expired", "refunded"]
    subscription_type_id: int
    original_amount: Money
    credit_amount: Money
    discount_amount: Money
    amount: Money
    currency: str
    provider: str
    redirect_url: str | None = Field(description="The provider's payment page while pending (Stripe: the page "
                                                  "that confirms the PaymentIntent, with `?payment_id=&client_secret=`)")
    created_at: datetime
    completed_at: datetime | None


def shaped(payment: dict | p.Payment, model: type[BaseModel] = PaymentOut) -> dict:
    data = payment.model_dump() if isinstance(payment, BaseModel) else payment
    return model.model_validate(data).model_dump(mode="json")


async def localized(request: Request, call: Awaitable[T]) -> T:
    """Billing names why a code or plan cannot be bought (`reason`): raised again with the catalogue's
    English text, which gateway.errors says in the user's language (a Persian text given to it would
    not be found there and would come out as the generic "invalid input")."""
    try:
        return await call
    except ValidationFailed as exc:
        reason = exc.details.get("reason")
        if not reason:
            raise
        # in English: the one error mapping (gateway/errors.py) says it in the caller's language
        text = request.app.state.catalogue.text(f"payment_{reason}", "en")
        field = next(iter(exc.details.get("fields") or {"discount_code": []}))
        raise ValidationFailed(text, fields={field: [text]}) from exc


@public.get("/plans/", response_model=list[PlanOut] | dict, summary="Plans for sale, cheapest first, and the free plan")
async def plans_for_sale(request: Request, rpc: Rpc, params: Pages):
    async def fetch() -> list[dict]:
        # Shaped here: an envelope's results are not passed through the response model.
        plans = await rpc.call(P.LIST_PLANS_FOR_SALE, p.ListPlansForSale())
        return [PlanOut.model_validate(plan).model_dump(mode="json") for plan in plans]

    return await paged_list(request, params, fetch)


@router.post("/quote/", response_model=QuoteOut, summary="What a plan would cost you now (nothing is stored)")
async def quote(request: Request, body: QuoteBody, user: CurrentUser, rpc: Rpc):
    query = p.Quote(user_id=user.id, plan_id=body.subscription_type_id, discount_code=body.discount_code or None)
    return await localized(request, rpc.call(P.QUOTE, query))


@router.post("/checkout/", status_code=201, response_model=PaymentOut,
             summary="Buy a plan: pending with the provider's redirect_url, or completed when nothing is due")
async def checkout(request: Request, body: CheckoutBody, user: CurrentUser, rpc: Rpc):
    query = p.Checkout(
        user_id=user.id, plan_id=body.subscription_type_id, discount_code=body.discount_code or None,
        provider=body.provider, callback_url=str(request.url_for("zibal_callback")),
    )
    payment = await localized(request, rpc.call(P.CHECKOUT, query, p.Payment))
    if payment.status == "completed":
        await runtime(request).plans.forget(user.id)  # the new plan applies to the next request
    return shaped(payment)


@router.get("/", response_model=list[PaymentOut] | dict, summary="Your payments, newest first")
async def list_payments(request: Request, user: CurrentUser, rpc: Rpc, params: Pages):
    limit = params.size if params.page else 100
    query = p.ListPayments(user_id=user.id, offset=params.offset if params.page else 0, limit=limit)
    page = await rpc.call(P.LIST_PAYMENTS, query, p.PaymentPage)
    results = [shaped(item) for item in page.results]
    return envelope(request, params, page.count, results) if params.page else results


@router.get("/{payment_id}/", response_model=PaymentOut, summary="One of your payments")
async def get_payment(payment_id: uuid.UUID, user: CurrentUser, rpc: Rpc):
    return shaped(await rpc.call(P.GET_PAYMENT, p.GetPayment(payment_id=payment_id, user_id=user.id), p.Payment))


def return_url(base: str, payment_id: str | None, status: str) -> str:
    parts = urlsplit(base)
    query = "&".join(q for q in (parts.query, urlencode({"payment_id": payment_id or "", "status": status})) if q)
    return urlunsplit(parts._replace(query=query))


@public.get("/payments/callback/zibal/", name="zibal_callback", status_code=302, response_class=RedirectResponse,
            responses={302: {"description": "To PAYMENT_RETURN_URL?payment_id=&status= (status `unknown` when "
                                            "the parameters name no payment of the caller)"}},
            summary="Where Zibal sends the browser back; redirects to PAYMENT_RETURN_URL?payment_id=&status=")
async def zibal_callback(
    request: Request,
    rpc: Rpc,
    session: OptionalSession,
    track_id: Annotated[str | None, Query(alias="trackId", max_length=40)] = None,
    order_id: Annotated[str | None, Query(alias="orderId", max_length=64)] = None,
    success: Annotated[str | None, Query(max_length=8, description="Ignored: billing asks Zibal")] = None,
    status: Annotated[str | None, Query(max_length=8, description="Ignored: billing asks Zibal")] = None,
):
    base = runtime(request).settings.payment_return_url
    if not track_id or not order_id:
        return RedirectResponse(return_url(base, None, "unknown"), status_code=302)
    query = p.ZibalCallback(track_id=track_id, order_id=order_id, user_id=session.user_id if session else None)
    try:
        outcome = await rpc.call(P.ZIBAL_CALLBACK, query, p.CallbackOutcome, timeout=CALLBACK_TIMEOUT_SECONDS)
    except DomainError as exc:  # billing is slow or down: the payment is reconciled later
        log.warning("zibal callback for order %s not settled now: %s", order_id, exc.message)
        try:
            named = str(uuid.UUID(order_id))
        except ValueError:
            named = None
        return RedirectResponse(return_url(base, named, "pending" if named else "unknown"), status_code=302)
    if outcome.status == "completed" and session is not None:
        await runtime(request).plans.forget(session.user_id)
    payment_id = str(outcome.payment_id) if outcome.payment_id else None
    return RedirectResponse(return_url(base, payment_id, outcome.status), status_code=302)



class StripeConfigOut(BaseModel):
    publishable_key: str = Field(description="Stripe's publishable key (pk_…), for `Stripe(key)`")
    js_url: str = Field(description="Where the page loads Stripe.js from (Stripe's own: https://js.stripe.com/v3/)")


@public.get("/payments/stripe/config/", response_model=StripeConfigOut,
            responses={404: {"description": "This server does not sell through Stripe",
                             "content": {"application/json": {"schema": {"$ref": "#/components/schemas/DetailBody"}}}}},
            summary="What a Stripe payment page needs to confirm a PaymentIntent in the browser with Stripe.js")
async def stripe_config(request: Request):
    settings = runtime(request).settings
    if not settings.stripe_publishable_key:
        raise NotFound()
    return StripeConfigOut(publishable_key=settings.stripe_publishable_key, js_url=settings.stripe_js_url)


class WebhookOut(BaseModel):
    received: bool = True


@public.post("/payments/webhook/stripe/", response_model=WebhookOut,
             responses={400: {"description": "The Stripe-Signature header does not match the payload"}},
             summary="Stripe's webhook: a signed event about a PaymentIntent (a replayed event changes nothing)")
async def stripe_webhook(
    request: Request,
    rpc: Rpc,
    stripe_signature: Annotated[str, Header(alias="Stripe-Signature", max_length=2048)] = "",
):
    payload = await request.body()
    outcome = None
    if stripe_signature:
        try:
            text = payload.decode("utf-8")
        except UnicodeDecodeError:
            text = None
        if text is not None:
            # a DomainError (billing slow or down) answers 503: Stripe delivers the event again later
            outcome = await rpc.call(P.STRIPE_WEBHOOK, p.StripeWebhook(payload=text, signature=stripe_signature),
                                     p.WebhookOutcome, timeout=CALLBACK_TIMEOUT_SECONDS)
    if outcome is None or not outcome.accepted:
        message = EN["payment_bad_signature"]  # the error handler says it in the caller's language
        raise ValidationFailed(message, fields={"Stripe-Signature": [message]})
    return WebhookOut()
