"""Billing's payments over its real database and Redis, with Zibal played by the project's emulator
(its HTTP app, reached in-process): credit, discounts, settling once, reconciliation, refunds."""

import asyncio
from datetime import timedelta
from decimal import Decimal
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from billing.pricing import amounts, upgrade_credit
from billing.providers import Zibal
from zibal_emulator.app import Fault, create_app

from shared.contracts import billing as b
from shared.contracts import payments as p
from shared.errors import ValidationFailed
from tests.billing.conftest import START, build_env, close_env

FREE, BASIC, PREMIUM = 1, 2, 3
CALLBACK = "http://gateway.test/api/payments/callback/zibal/"


class Announced:
    def __init__(self) -> None:
        self.events: list[b.SubscriptionStarted] = []

    async def subscription_started(self, event: b.SubscriptionStarted) -> None:
        self.events.append(event)


class Shop:
    """The billing service wired to the Zibal emulator, and a browser for its payment page."""

    def __init__(self, env) -> None:
        self.env = env
        self.emulator = create_app()
        transport = httpx.ASGITransport(app=self.emulator)
        self.zibal = Zibal("http://zibal.test", "zibal", transport=transport, timeout=1)
        self.browser = httpx.AsyncClient(transport=transport, base_url="http://zibal.test")
        env.service.payments.providers = {"zibal": self.zibal}
        self.announced = Announced()
        env.service.subscriptions.events = self.announced
        self.payments = env.service.payments

    async def checkout(self, user_id: int, plan: int = BASIC, code: str | None = None) -> p.Payment:
        return await self.payments.checkout(p.Checkout(user_id=user_id, plan_id=plan, discount_code=code,
                                                       callback_url=CALLBACK))

    async def pay(self, payment: p.Payment, outcome: str = "paid") -> dict:
        response = await self.browser.get(urlsplit(payment.redirect_url).path, params={"outcome": outcome})
        assert response.status_code == 302
        return {k: v[0] for k, v in parse_qs(urlsplit(response.headers["location"]).query).items()}

    async def come_back(self, back: dict, user_id: int | None = None) -> p.CallbackOutcome:
        return await self.payments.zibal_callback(p.ZibalCallback(track_id=back["trackId"], order_id=back["orderId"],
                                                                  user_id=user_id))

    async def status(self, payment: p.Payment) -> str:
        return (await self.payments.get(p.GetPayment(payment_id=payment.id))).status

    def faults(self, *faults: dict) -> None:
        self.emulator.state.emulator.faults.extend(Fault(**f) for f in faults)

    async def plan_of(self, user_id: int) -> int:
        return (await self.env.service.get_subscription(b.GetSubscription(user_id=user_id))).subscription_type.id

    async def close(self) -> None:
        await self.zibal.close()
        await self.browser.aclose()


@pytest.fixture
async def shop(env):
    shop = Shop(env)
    yield shop
    await shop.close()


# --- pure rules ----------------------------------------------------------------------------------


def test_credit_at_the_start_middle_and_end_of_a_period():
    start, end = START, START + timedelta(days=30)
    price, new = Decimal("70000.00"), Decimal("200000.00")
    assert upgrade_credit(price, "IRT", start, end, start, new, "IRT") == Decimal("70000.00")
    assert upgrade_credit(price, "IRT", start, end, start + timedelta(days=15), new, "IRT") == Decimal("35000.00")
    # 70000 × 10 days left/30 = 23333.33…: rounded down to the toman
    assert upgrade_credit(price, "IRT", start, end, start + timedelta(days=20), new, "IRT") == Decimal("23333.00")
    assert upgrade_credit(Decimal("9.99"), "USD", start, end, start + timedelta(days=20), new, "USD") == Decimal("3.33")
    assert upgrade_credit(price, "IRT", start, end, end, new, "IRT") == Decimal("0.00")
    assert upgrade_credit(price, "IRT", start, end, end + timedelta(days=1), new, "IRT") == Decimal("0.00")
    # at most the new plan's price; nothing from a free, open-ended or other-currency plan
    assert upgrade_credit(new, "IRT", start, end, start, price, "IRT") == Decimal("70000.00")
    assert upgrade_credit(Decimal(0), "IRT", start, end, start, new, "IRT") == 0
    assert upgrade_credit(price, "IRT", start, None, start, new, "IRT") == 0
    assert upgrade_credit(price, "USD", start, end, start, new, "IRT") == 0


def test_amounts_are_exact_and_never_below_zero():
    a = amounts(Decimal(200000), Decimal(23333), "IRT", "percentage", Decimal(15))
    assert (a.original_amount, a.credit_amount, a.discount_amount, a.amount) == (
        Decimal("200000.00"), Decimal("23333.00"), Decimal("26500.00"), Decimal("150167.00"))
    assert amounts(Decimal(70000), Decimal(0), "IRT", "fixed", Decimal(90000)).amount == 0
    assert amounts(Decimal(70000), Decimal(70000), "IRT").amount == 0


# --- the service ---------------------------------------------------------------------------------


async def test_upgrade_credit_follows_the_clock_through_the_period(shop, env):
    await env.service.start_subscription(b.StartSubscription(user_id=7, plan_id=BASIC))
    def quote():
        return shop.payments.quote(p.Quote(user_id=7, plan_id=PREMIUM))

    assert (await quote()).credit_amount == Decimal("70000.00")
    env.clock.advance(days=15)
    assert (await quote()).credit_amount == Decimal("35000.00")
    assert (await quote()).amount == Decimal("165000.00")
    env.clock.advance(days=15)
    assert (await quote()).credit_amount == 0  # the period has ended: back on the free plan


async def test_a_paid_payment_starts_one_period_whatever_is_replayed(shop, env):
    payment = await shop.checkout(1)
    assert payment.status == "pending" and payment.amount == Decimal("70000.00")
    back = await shop.pay(payment)
    assert back["success"] == "1"
    outcomes = await asyncio.gather(*(shop.come_back(back) for _ in range(5)))
    assert {o.status for o in outcomes} == {"completed"}
    await shop.payments.reconcile()
    assert await shop.plan_of(1) == BASIC
    assert [e.payment_id for e in shop.announced.events] == [payment.id]
    # the new period counts from now
    sub = await env.service.get_subscription(b.GetSubscription(user_id=1))
    assert sub.start_date == env.clock.now() and sub.end_date == env.clock.now() + timedelta(days=30)


async def test_a_callback_brought_by_another_user_or_naming_another_order_does_nothing(shop):
    payment = await shop.checkout(1)
    back = await shop.pay(payment)
    assert (await shop.come_back(back, user_id=2)).status == "unknown"
    assert (await shop.come_back({**back, "orderId": "x"})).status == "unknown"
    assert await shop.status(payment) == "pending" and shop.announced.events == []


async def test_an_unconfirmed_success_leaves_the_payment_pending_then_expired(shop, env):
    payment = await shop.checkout(1)
    track = urlsplit(payment.redirect_url).path.rsplit("/", 1)[1]
    assert (await shop.come_back({"trackId": track, "orderId": str(payment.id)})).status == "pending"
    env.clock.advance(minutes=31)
    assert (await shop.payments.reconcile()).settled == 1
    assert await shop.status(payment) == "expired" and shop.announced.events == []


async def test_a_timed_out_verify_is_completed_once_by_reconciliation(shop):
    payment = await shop.checkout(1)
    back = await shop.pay(payment)
    shop.faults({"route": "verify", "kind": "timeout", "seconds": 3})
    assert (await shop.come_back(back)).status == "pending"
    await asyncio.gather(shop.payments.reconcile(), shop.payments.reconcile())
    assert await shop.status(payment) == "completed"
    assert len(shop.announced.events) == 1


async def test_a_different_amount_fails_the_payment(shop):
    payment = await shop.checkout(1)
    back = await shop.pay(payment)
    shop.faults({"route": "verify", "kind": "amount", "delta": 10})
    assert (await shop.come_back(back)).status == "failed"
    assert shop.announced.events == [] and await shop.plan_of(1) == FREE


async def test_cancelled_gives_the_held_use_back_and_completion_counts_it(shop, env):
    code = await env.service.discounts.save(p.SaveDiscountCode(fields={
        "code": "Half", "discount_type": "percentage", "discount_value": "50", "max_uses": 1}))
    first = await shop.checkout(1, code="HALF")
    assert first.discount_amount == Decimal("35000.00")
    with pytest.raises(ValidationFailed) as refused:
        await shop.checkout(2, code="half")
    assert refused.value.details["reason"] == "used_up"
    await shop.come_back(await shop.pay(first, "cancelled"))
    assert await shop.status(first) == "cancelled"
    second = await shop.checkout(2, code="half")
    await shop.come_back(await shop.pay(second))
    assert (await env.service.discounts.get(code.id)).times_used == 1
    with pytest.raises(ValidationFailed) as again:
        await shop.payments.quote(p.Quote(user_id=2, plan_id=PREMIUM, discount_code="half"))
    assert again.value.details["reason"] in ("used_up", "used_up_for_user")


async def _race(env, shop) -> None:
    code = await env.service.discounts.save(p.SaveDiscountCode(fields={
        "code": "RACE", "discount_type": "percentage", "discount_value": "20", "max_uses": 10}))
    results = await asyncio.gather(*(shop.checkout(100 + i, code="race") for i in range(50)), return_exceptions=True)
    won = [r for r in results if isinstance(r, p.Payment)]
    assert len(won) == 10, [repr(r)[:300] for r in results if not isinstance(r, p.Payment | ValidationFailed)][:3]
    lost = [r for r in results if not isinstance(r, p.Payment)]
    assert all(isinstance(r, ValidationFailed) for r in lost), [repr(r) for r in lost if not isinstance(r, ValidationFailed)][:3]
    for payment in won:
        await shop.come_back(await shop.pay(payment))
    assert (await env.service.discounts.get(code.id)).times_used == 10


async def test_fifty_racing_checkouts_hold_at_most_max_uses(shop, env):
    await _race(env, shop)


async def test_fifty_racing_checkouts_hold_at_most_max_uses_on_postgresql(postgres_url, redis_url):
    from billing.main import MIGRATIONS
    from billing.models import BillingTable  # noqa: F401 - the tables the migrations build

    from shared.migrations import upgrade_to_head

    await upgrade_to_head(postgres_url, MIGRATIONS)
    env = await build_env(postgres_url, redis_url)
    shop = Shop(env)
    try:
        await _race(env, shop)
    finally:
        await shop.close()
        await close_env(env)


async def test_a_refund_of_the_current_period_falls_back_to_the_default_plan(shop, env):
    payment = await shop.checkout(1)
    await shop.come_back(await shop.pay(payment))
    env.clock.advance(days=3)
    refunded = await shop.payments.refund(p.Refund(payment_id=payment.id))
    assert refunded.status == "refunded" and await shop.plan_of(1) == FREE
    assert len(shop.announced.events) == 2  # the purchase, then the fallback


async def test_the_reconciler_loop_completes_a_payment_whose_browser_never_came_back(shop):
    from billing.main import _reconcile_forever

    payment = await shop.checkout(1)
    await shop.pay(payment)  # paid at Zibal; no callback
    loop = asyncio.create_task(_reconcile_forever(shop.env.service, 1))
    try:
        for _ in range(600):
            if await shop.status(payment) == "completed":
                break
            await asyncio.sleep(0.05)
    finally:
        loop.cancel()
    assert await shop.status(payment) == "completed" and len(shop.announced.events) == 1
