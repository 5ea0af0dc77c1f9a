"""Payment providers behind one interface. Billing asks a provider to open a payment page, then what
became of it; it never takes the browser's word. Zibal speaks its HTTP API (docs.zibal.ir)."""

import asyncio
import logging
from dataclasses import dataclass
from decimal import Decimal
from typing import Literal, Protocol
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

    async def open(self, payment_id: UUID, amount: Decimal, currency: str, callback_url: str,
                   description: str) -> Opened: ...

    async def confirm(self, ref: str) -> Outcome:
        """After the browser came back: settle the payment with the provider (verify)."""

    async def inquire(self, ref: str) -> Outcome:
        """Reconciliation: what the provider knows of the payment now (may verify a paid one)."""

    async def refund(self, ref: str, amount: Decimal) -> bool:
        """Give the money back; False when this provider has no refund API (done by the operator)."""


# Zibal: https://help.zibal.ir/IPG/API/ — amounts in rials; result 100 = success.
RIALS_PER_TOMAN = 10
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


def _track(ref: str) -> int | str:
    return int(ref) if ref.isdigit() else ref
