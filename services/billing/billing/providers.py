"""Payment providers behind one interface. Billing asks a provider to open a payment page, then what
became of it; it never takes the browser's word. Zibal speaks its HTTP API (docs.zibal.ir); Stripe goes
through the official `stripe` package."""

import asyncio
import logging
from dataclasses import dataclass
from decimal import Decimal
from typing import Literal, Protocol
from urllib.parse import urlencode
from uuid import UUID

import httpx

log = logging.getLogger(__name__)
State = Literal["paid", "pending", "cancelled", "failed"]


@dataclass(frozen=True)
class Opened:
    ref: str  # the provider's id of the payment (Zibal's trackId)
    redirect_url: str


@dataclass(frozen=True)
class Outcome:
    state: State
    amount: Decimal | None = None  # what the provider took, in the payment's currency
    reason: str = ""


class ProviderError(Exception):
    """The provider refused or could not be reached; nothing can be concluded about the payment."""


class PaymentProvider(Protocol):
    name: str

    def takes(self, currency: str) -> bool:
        """Whether this provider can take payments in `currency`."""

    async def open(self, payment_id: UUID, amount: Decimal, currency: str, callback_url: str,
                   description: str) -> Opened: ...

    async def confirm(self, ref: str) -> Outcome:
        """After the browser came back: settle the payment with the provider (verify)."""

    async def inquire(self, ref: str) -> Outcome:
        """Reconciliation: what the provider knows of the payment now (may verify a paid one)."""

    async def refund(self, ref: str, amount: Decimal) -> bool:
        """Give the money back; False when this provider has no refund API (done by the operator)."""

    async def abandon(self, ref: str) -> None:
        """The payment expires unpaid: make sure it can no longer be paid (ProviderError: it may have
        been paid meanwhile, so it must not expire yet)."""

    async def close(self) -> None: ...


# Zibal: https://help.zibal.ir/IPG/API/ — amounts in rials; result 100 = success.
RIALS_PER_TOMAN = 10
IRANIAN = frozenset({"IRT", "IRR"})  # Zibal's currencies, and the ones Stripe does not take
# inquiry `status`: -1 waiting, 1 paid and verified, 2 paid not verified, 3 cancelled by the user,
# 4–12 and -2 failed (card, balance, password, limits, bank errors, expired).
ZIBAL_WAITING, ZIBAL_VERIFIED, ZIBAL_PAID_UNVERIFIED, ZIBAL_CANCELLED = -1, 1, 2, 3


class Zibal:
    name = "zibal"

    def __init__(self, base_url: str, merchant: str, *, timeout: float = 10.0,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.merchant = merchant
        self.timeout = timeout
        self.http = httpx.AsyncClient(base_url=self.base_url, timeout=timeout, transport=transport)

    async def close(self) -> None:
        await self.http.aclose()

    def takes(self, currency: str) -> bool:
        return currency.upper() in IRANIAN

    async def _post(self, path: str, body: dict) -> dict:
        try:
            # httpx's timeout bounds each read; this bounds the whole answer (a slow drip too)
            async with asyncio.timeout(self.timeout):
                response = await self.http.post(path, json={"merchant": self.merchant, **body})
        except TimeoutError as exc:
            raise ProviderError(f"zibal {path}: no answer within {self.timeout:g} s") from exc
        except httpx.HTTPError as exc:
            raise ProviderError(f"zibal {path}: {type(exc).__name__} {exc}") from exc
        if response.status_code != 200:
            raise ProviderError(f"zibal {path}: HTTP {response.status_code}")
        try:
            data = response.json()
        except ValueError as exc:
            raise ProviderError(f"zibal {path}: not JSON") from exc
        if not isinstance(data, dict):
            raise ProviderError(f"zibal {path}: unexpected answer")
        return data

    @staticmethod
    def _rials(amount: Decimal, currency: str) -> int:
        if currency == "IRT":
            return int(amount * RIALS_PER_TOMAN)
        if currency == "IRR":
            return int(amount)
        raise ProviderError(f"zibal takes rials and tomans, not {currency}")

    async def open(self, payment_id: UUID, amount: Decimal, currency: str, callback_url: str,
                   description: str) -> Opened:
        data = await self._post("/v1/request", {
            "amount": self._rials(amount, currency), "callbackUrl": callback_url, "orderId": str(payment_id),
            "description": description,
        })
        if data.get("result") != 100 or not data.get("trackId"):
            raise ProviderError(f"zibal refused the request: {data.get('result')} {data.get('message')}")
        track = str(data["trackId"])
        return Opened(ref=track, redirect_url=f"{self.base_url}/start/{track}")

    @staticmethod
    def _toman(rials: object) -> Decimal | None:
        return Decimal(int(rials)) / RIALS_PER_TOMAN if isinstance(rials, int) else None

    async def confirm(self, ref: str) -> Outcome:
        data = await self._post("/v1/verify", {"trackId": _track(ref)})
        if data.get("result") in (100, 201) and isinstance(data.get("amount"), int):
            return Outcome("paid", self._toman(data["amount"]))  # 201: verified before, same outcome
        return await self.inquire(ref)

    async def inquire(self, ref: str) -> Outcome:
        data = await self._post("/v1/inquiry", {"trackId": _track(ref)})
        if data.get("result") != 100:
            raise ProviderError(f"zibal inquiry: {data.get('result')} {data.get('message')}")
        status = data.get("status")
        if status == ZIBAL_VERIFIED:
            return Outcome("paid", self._toman(data.get("amount")))
        if status == ZIBAL_PAID_UNVERIFIED:
            # paid, but Zibal gives the money back unless it is verified: verify now
            verified = await self._post("/v1/verify", {"trackId": _track(ref)})
            if verified.get("result") in (100, 201) and isinstance(verified.get("amount"), int):
                return Outcome("paid", self._toman(verified["amount"]))
            return Outcome("pending", reason=f"verify answered {verified.get('result')}")
        if status == ZIBAL_WAITING:
            return Outcome("pending")
        if status == ZIBAL_CANCELLED:
            return Outcome("cancelled", reason="cancelled by the user")
        return Outcome("failed", reason=f"zibal status {status}")

    async def refund(self, ref: str, amount: Decimal) -> bool:
        return False  # Zibal's refund service is a separate contract: the operator refunds by hand

    async def abandon(self, ref: str) -> None:
        return None  # an unpaid track expires at Zibal by itself; a late payment is not verified


def _track(ref: str) -> int | str:
    return int(ref) if ref.isdigit() else ref


# Stripe: PaymentIntents (localstripe, what the tests run against, has no Checkout Sessions). Amounts
# go in the currency's minor unit: https://docs.stripe.com/currencies#zero-decimal
ZERO_DECIMAL = frozenset({"BIF", "CLP", "DJF", "GNF", "JPY", "KMF", "KRW", "MGA", "PYG", "RWF", "UGX", "VND", "VUV",
                          "XAF", "XOF", "XPF"})
THREE_DECIMAL = frozenset({"BHD", "JOD", "KWD", "OMR", "TND"})


def minor_units(currency: str) -> int:
    """How many minor units make one unit of `currency` at Stripe."""
    code = currency.upper()
    if code in ZERO_DECIMAL:
        return 1
    if code in THREE_DECIMAL:
        return 1000
    if code in IRANIAN:  # Stripe does not take Iran's currencies (and IRT is no ISO code)
        raise ProviderError(f"stripe does not take {currency}")
    return 100


def stripe_outcome(intent: dict, currency: str) -> Outcome:
    """What a PaymentIntent (retrieved, or the object of a signed event) says of the payment."""
    status = intent.get("status")
    if status == "succeeded":
        # `amount_received` is what was captured; localstripe only knows `amount`
        taken = intent.get("amount_received", intent.get("amount"))
        if isinstance(taken, str) and taken.isdigit():  # localstripe keeps an updated amount as sent (a string)
            taken = int(taken)
        got = str(intent.get("currency") or "").upper()
        if not isinstance(taken, int) or got != currency.upper():
            # never equal to an amount asked: completing it fails the payment for the operator
            return Outcome("paid", Decimal(-1), reason=f"stripe took {taken} {got}")
        return Outcome("paid", Decimal(taken) / minor_units(currency))
    if status == "canceled":
        return Outcome("cancelled", reason=f"canceled: {intent.get('cancellation_reason') or 'by request'}")
    # requires_payment_method (also after a declined card: the customer may try another),
    # requires_confirmation, requires_action, processing, requires_capture: not settled yet
    return Outcome("pending", reason=f"stripe status {status}")


class Stripe:
    """The official `stripe` package (its async client over httpx). `page_url` is the page that
    confirms the PaymentIntent in the browser with Stripe.js; it gets the intent's client_secret."""

    name = "stripe"

    def __init__(self, api_key: str, *, api_base: str, page_url: str, timeout: float = 10.0) -> None:
        import stripe  # only billing processes that sell through Stripe load it

        self.stripe = stripe
        self.page_url = page_url
        self.http = stripe.HTTPXClient(timeout=timeout, allow_sync_methods=False)
        self.client = stripe.StripeClient(api_key, base_addresses={"api": api_base.rstrip("/")},
                                          max_network_retries=2, http_client=self.http)

    async def close(self) -> None:
        await self.http.close_async()

    def takes(self, currency: str) -> bool:
        return currency.upper() not in IRANIAN

    async def _call(self, what: str, call) -> dict:
        try:
            obj = await call
        except self.stripe.StripeError as exc:
            raise ProviderError(f"stripe {what}: {type(exc).__name__} {exc.user_message or exc}") from exc
        return obj.to_dict() if hasattr(obj, "to_dict") else dict(obj)

    async def open(self, payment_id: UUID, amount: Decimal, currency: str, callback_url: str,
                   description: str) -> Opened:
        minor = amount * minor_units(currency)
        if minor != int(minor):
            raise ProviderError(f"stripe: {amount} {currency} is not a whole number of minor units")
        intent = await self._call("create", self.client.v1.payment_intents.create_async(
            params={"amount": int(minor), "currency": currency.lower(),
                    "metadata": {"payment_id": str(payment_id), "description": description}},
            # a retried create (network error) returns the same intent, never a second one
            options={"idempotency_key": f"mobix-payment-{payment_id}"},
        ))
        query = urlencode({"payment_id": str(payment_id), "client_secret": intent["client_secret"]})
        return Opened(ref=intent["id"], redirect_url=f"{self.page_url}{'&' if '?' in self.page_url else '?'}{query}")

    async def _retrieve(self, ref: str) -> dict:
        return await self._call("retrieve", self.client.v1.payment_intents.retrieve_async(ref))

    async def confirm(self, ref: str) -> Outcome:
        return await self.inquire(ref)

    async def inquire(self, ref: str) -> Outcome:
        intent = await self._retrieve(ref)
        return stripe_outcome(intent, str(intent.get("currency") or ""))

    async def refund(self, ref: str, amount: Decimal) -> bool:
        intent = await self._retrieve(ref)
        minor = amount * minor_units(str(intent.get("currency") or ""))
        await self._call("refund", self.client.v1.refunds.create_async(
            params={"payment_intent": ref, "amount": int(minor)},
            options={"idempotency_key": f"mobix-refund-{ref}"},
        ))
        return True

    async def abandon(self, ref: str) -> None:
        """Cancel the intent, so a customer who comes back late cannot pay for an expired payment.
        Stripe refuses to cancel a succeeded or processing intent: then it is not expired."""
        intent = await self._retrieve(ref)
        if intent.get("status") == "canceled":
            return
        if intent.get("status") in ("succeeded", "processing"):
            raise ProviderError(f"stripe: intent {ref} is {intent.get('status')}, not abandoned")
        await self._call("cancel", self.client.v1.payment_intents.cancel_async(ref))

    def event(self, payload: str, signature: str, secret: str) -> dict:
        """The event of a webhook whose signature holds; ValueError otherwise."""
        try:
            event = self.stripe.Webhook.construct_event(payload, signature, secret)
        except self.stripe.SignatureVerificationError as exc:
            raise ValueError(f"bad signature: {exc}") from exc
        return event.to_dict()
