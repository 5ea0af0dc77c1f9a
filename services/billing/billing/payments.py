"""Selling plans (payments.md): quote, checkout, the provider's answer, reconciliation and refunds.

Every status change is one compare-and-set on the current status (`UPDATE … WHERE status =
'pending'`), and completing a payment opens its period in the same transaction: whatever is
redelivered, replayed or retried, a payment starts at most one period, and only with the amount the
provider confirmed.
"""

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from uuid import UUID, uuid4

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from billing import repository as repo
from billing.discounts import DiscountCodes, count_use, give_back, hold_use, refused
from billing.models import DiscountCode, Payment, Plan, StripeEvent
from billing.plans import plan_out
from billing.pricing import Amounts, amounts, upgrade_credit
from billing.providers import Outcome, PaymentProvider, ProviderError, Stripe, stripe_outcome
from billing.rules import floor_ms
from billing.subscriptions import Period, Subscriptions
from shared.clock import Clock
from shared.contracts import billing as b
from shared.contracts import payments as p
from shared.db import SessionFactory, transaction
from shared.errors import Conflict, NotFound, Unavailable, ValidationFailed

log = logging.getLogger(__name__)
PAY = Payment.__table__
ATTEMPTS = 5
RECONCILE_BATCH = 200
UNKNOWN = "unknown"


class _Retry(Exception):
    """A concurrent change ended the user's period first: run the completion again."""


def payment_out(row: Payment) -> p.Payment:
    return p.Payment(
        id=row.id, user_id=row.user_id, status=row.status, subscription_type_id=row.plan_id,
        original_amount=row.original_amount, credit_amount=row.credit_amount, discount_amount=row.discount_amount,
        amount=row.amount, currency=row.currency, provider=row.provider, redirect_url=row.redirect_url,
        created_at=row.created_at, completed_at=row.completed_at,
    )


def for_sale(plan: Plan) -> bool:
    return plan.is_active and plan.is_purchasable and plan.price > 0


@dataclass
class Priced:
    plan: Plan
    amounts: Amounts
    code: DiscountCode | None


class Payments:
    def __init__(self, factory: SessionFactory, clock: Clock, subscriptions: Subscriptions, discounts: DiscountCodes,
                 providers: dict[str, PaymentProvider], *, default_provider: str, expire_minutes: int,
                 default_sku: str, stripe_webhook_secret: str = "") -> None:
        self.factory = factory
        self.clock = clock
        self.subscriptions = subscriptions
        self.discounts = discounts
        self.providers = providers
        self.default_provider = default_provider
        self.expire_after = timedelta(minutes=expire_minutes)
        self.default_sku = default_sku
        self.stripe_webhook_secret = stripe_webhook_secret

    # --- plans for sale ---------------------------------------------------------------------------

    async def plans_for_sale(self) -> list[b.Plan]:
        """The purchasable plans, cheapest first, and the free (default) plan."""
        async with self.factory() as s:
            plans = await repo.list_plans(s)
        chosen = [plan for plan in plans if for_sale(plan) or plan.sku == self.default_sku]
        return [plan_out(plan) for plan in sorted(chosen, key=lambda plan: (plan.price, plan.id))]

    # --- quote and checkout -----------------------------------------------------------------------

    async def _price(self, s, user_id: int, plan_id: int, code: str | None, now: datetime,
                     held: tuple[Period, b.Plan]) -> Priced:
        plan = await repo.get_plan(s, plan_id)
        if plan is None or not for_sale(plan):
            message = "This plan is not for sale."
            raise ValidationFailed(message, fields={"subscription_type_id": [message]}, reason="not_for_sale")
        period, current = held
        credit = upgrade_credit(current.price, current.currency, period.start_date, period.end_date, now,
                                plan.price, plan.currency)
        row = await self.discounts.find_usable(s, code, plan.id, user_id, now) if code else None
        priced = amounts(plan.price, credit, plan.currency, row.discount_type if row else None,
                         row.discount_value if row else Decimal(0))
        return Priced(plan, priced, row)

    async def quote(self, q: p.Quote) -> p.Quoted:
        held = await self.subscriptions.current(q.user_id)  # before the session: one connection at a time
        now = floor_ms(self.clock.now())
        async with self.factory() as s:
            priced = await self._price(s, q.user_id, q.plan_id, q.discount_code, now, held)
        return p.Quoted(**vars(priced.amounts), currency=priced.plan.currency,
                        discount_code=priced.code.code if priced.code else None)

    def _provider_for(self, asked: str | None, currency: str) -> PaymentProvider:
        """The provider asked for; else the default one, or the first set up that takes the plan's
        currency (a dollar plan goes to Stripe even where Zibal is the default)."""
        if asked is not None:
            provider = self.providers.get(asked)
            if provider is None:
                message = f"Choose one of: {', '.join(sorted(self.providers))}."
                raise ValidationFailed(message, fields={"provider": [message]})
            return provider
        default = self.providers[self.default_provider]
        if default.takes(currency):
            return default
        return next((p for p in self.providers.values() if p.takes(currency)), default)

    async def checkout(self, q: p.Checkout) -> p.Payment:
        held = await self.subscriptions.current(q.user_id)  # before the transaction: one connection at a time
        now = floor_ms(self.clock.now())
        async with transaction(self.factory) as s:
            priced = await self._price(s, q.user_id, q.plan_id, q.discount_code, now, held)
            provider = self._provider_for(q.provider, priced.plan.currency)
            if priced.code is not None and not await hold_use(s, priced.code.id):
                raise refused("used_up")  # concurrent checkouts took the last uses
            row = Payment(
                id=uuid4(), user_id=q.user_id, plan_id=priced.plan.id, status="pending", **vars(priced.amounts),
                currency=priced.plan.currency, provider=provider.name,
                discount_code_id=priced.code.id if priced.code else None, created_at=now,
            )
            s.add(row)
            await s.flush()
            payment_id, amount, currency, plan_name = row.id, row.amount, row.currency, priced.plan.name
        if amount == 0:  # fully discounted or credited: nothing to pay
            await self._complete(payment_id, None)
            return await self.get(p.GetPayment(payment_id=payment_id))
        try:
            opened = await provider.open(payment_id, amount, currency, q.callback_url, f"MobixAI {plan_name}")
        except ProviderError as exc:
            log.warning("payment %s: %s could not open a payment: %s", payment_id, provider.name, exc)
            await self._settle(payment_id, "failed", f"provider: {exc}")
            raise Unavailable("The payment provider is unavailable; please try again shortly.") from exc
        async with transaction(self.factory) as s:
            await s.exec(update(Payment).where(Payment.id == payment_id)
                         .values(provider_ref=opened.ref, redirect_url=opened.redirect_url))
        return await self.get(p.GetPayment(payment_id=payment_id))

    # --- reading ----------------------------------------------------------------------------------

    async def get(self, q: p.GetPayment) -> p.Payment:
        async with self.factory() as s:
            row = await s.get(Payment, q.payment_id)
        if row is None or (q.user_id is not None and row.user_id != q.user_id):
            raise NotFound()
        return payment_out(row)

    async def list(self, q: p.ListPayments) -> p.PaymentPage:
        where = []
        if q.user_id is not None:
            where.append(PAY.c.user_id == q.user_id)
        if q.status is not None:
            where.append(PAY.c.status == q.status)
        async with self.factory() as s:
            count = (await s.exec(select(func.count()).select_from(PAY).where(*where))).one()[0]
            query = (select(Payment).where(*where).order_by(PAY.c.created_at.desc(), PAY.c.id.desc())
                     .offset(q.offset).limit(q.limit))
            rows = (await s.exec(query)).scalars().all()
        return p.PaymentPage(count=count, results=[payment_out(r) for r in rows])

    # --- the provider's answer --------------------------------------------------------------------

    async def zibal_callback(self, q: p.ZibalCallback) -> p.CallbackOutcome:
        """The browser is back from Zibal. Its parameters only name the payment: what happened is
        asked of Zibal (verify, then inquiry)."""
        async with self.factory() as s:
            row = (await s.exec(select(Payment).where(Payment.provider == "zibal",
                                                      Payment.provider_ref == q.track_id))).scalars().first()
        if row is None or str(row.id) != q.order_id:
            log.warning("zibal callback for an unknown payment: trackId=%r orderId=%r", q.track_id, q.order_id)
            return p.CallbackOutcome(payment_id=None, status=UNKNOWN)
        if q.user_id is not None and q.user_id != row.user_id:
            log.warning("zibal callback for payment %s brought by another user (%s)", row.id, q.user_id)
            return p.CallbackOutcome(payment_id=None, status=UNKNOWN)
        if row.status == "pending":
            await self._ask(row, confirm=True)
        return p.CallbackOutcome(payment_id=row.id, status=(await self.get(p.GetPayment(payment_id=row.id))).status)

    async def stripe_webhook(self, q: p.StripeWebhook) -> p.WebhookOutcome:
        """An event from Stripe. Its signature proves where it came from; its id is taken in once
        (a replayed event changes nothing), and its PaymentIntent names the payment."""
        stripe = self.providers.get("stripe")
        if not isinstance(stripe, Stripe) or not self.stripe_webhook_secret:
            log.warning("a stripe webhook came, but stripe is not configured")
            return p.WebhookOutcome(accepted=False)
        try:
            event = stripe.event(q.payload, q.signature, self.stripe_webhook_secret)
        except ValueError as exc:
            log.warning("stripe webhook refused: %s", exc)
            return p.WebhookOutcome(accepted=False)
        intent = (event.get("data") or {}).get("object") or {}
        if not str(event.get("id") or "") or intent.get("object") != "payment_intent" or not intent.get("id"):
            return p.WebhookOutcome(accepted=True)  # not about a payment of ours: nothing to do
        async with self.factory() as s:
            row = (await s.exec(select(Payment).where(Payment.provider == "stripe",
                                                      Payment.provider_ref == str(intent["id"])))).scalars().first()
        if row is not None and (intent.get("metadata") or {}).get("payment_id") not in (None, str(row.id)):
            log.warning("stripe event %s: intent %s names payment %r, not %s", event["id"], intent["id"],
                        intent["metadata"].get("payment_id"), row.id)
            row = None
        try:
            async with transaction(self.factory) as s:
                s.add(StripeEvent(id=str(event["id"])[:255], type=str(event.get("type") or "")[:255],
                                  object_id=str(intent["id"])[:255], payment_id=row.id if row else None,
                                  received_at=floor_ms(self.clock.now())))
        except IntegrityError:
            log.info("stripe event %s replayed: nothing changes", event["id"])
            status = (await self.get(p.GetPayment(payment_id=row.id))).status if row else UNKNOWN
            return p.WebhookOutcome(accepted=True, payment_id=row.id if row else None, status=status, replayed=True)
        if row is None:
            log.warning("stripe event %s about an unknown payment intent %s", event["id"], intent["id"])
            return p.WebhookOutcome(accepted=True)
        if row.status == "pending":
            outcome = stripe_outcome(intent, row.currency)
            if outcome.reason and outcome.state == "paid":
                log.error("payment %s: %s", row.id, outcome.reason)
            await self._apply(row, outcome)
        status = (await self.get(p.GetPayment(payment_id=row.id))).status
        return p.WebhookOutcome(accepted=True, payment_id=row.id, status=status)

    async def reconcile(self) -> p.Reconciled:
        """Ask the provider again about every pending payment (lost callbacks, timed-out verifies);
        expire what is still unpaid after PAYMENT_EXPIRE_MINUTES."""
        async with self.factory() as s:
            query = select(Payment).where(Payment.status == "pending").order_by(PAY.c.created_at).limit(RECONCILE_BATCH)
            rows = (await s.exec(query)).scalars().all()
        settled = 0
        for row in rows:
            if row.provider_ref is None:  # the provider never opened it (a crash mid-checkout)
                if self._expired(row):
                    settled += await self._settle(row.id, "expired", "never opened")
                continue
            settled += await self._ask(row, confirm=False)
        return p.Reconciled(checked=len(rows), settled=settled)

    def _expired(self, row: Payment) -> bool:
        return row.created_at + self.expire_after <= self.clock.now()

    async def _ask(self, row: Payment, *, confirm: bool) -> bool:
        provider = self.providers.get(row.provider)
        if provider is None or row.provider_ref is None:
            return False
        try:
            outcome = await (provider.confirm(row.provider_ref) if confirm else provider.inquire(row.provider_ref))
        except ProviderError as exc:
            log.warning("payment %s: %s did not answer: %s", row.id, row.provider, exc)
            outcome = Outcome("pending", reason=str(exc))
        return await self._apply(row, outcome)

    async def _apply(self, row: Payment, outcome: Outcome) -> bool:
        if outcome.state == "paid":
            return await self._complete(row.id, outcome.amount)
        if outcome.state in ("cancelled", "failed"):
            return await self._settle(row.id, outcome.state, outcome.reason)
        if self._expired(row):
            if not await self._abandon(row):
                return False
            return await self._settle(row.id, "expired", outcome.reason or "not paid in time")
        async with transaction(self.factory) as s:
            await s.exec(update(Payment).where(Payment.id == row.id).values(checked_at=floor_ms(self.clock.now())))
        return False

    async def _abandon(self, row: Payment) -> bool:
        """Before expiring a payment, make sure the provider will not take money for it any more."""
        provider = self.providers.get(row.provider)
        if provider is None or row.provider_ref is None:
            return True
        try:
            await provider.abandon(row.provider_ref)
        except ProviderError as exc:
            log.warning("payment %s: not expired, %s could not close it: %s", row.id, row.provider, exc)
            return False
        return True

    async def _settle(self, payment_id: UUID, status: str, reason: str) -> bool:
        """pending → failed | cancelled | expired, once; the held discount use is given back."""
        async with transaction(self.factory) as s:
            moved = await s.exec(
                update(Payment).where(Payment.id == payment_id, Payment.status == "pending")
                .values(status=status, failure_reason=reason[:500], settled_at=floor_ms(self.clock.now()))
            )
            if moved.rowcount != 1:
                return False
            row = await s.get(Payment, payment_id)
            if row.discount_code_id is not None:
                await give_back(s, row.discount_code_id)
        log.info("payment %s %s: %s", payment_id, status, reason)
        return True

    async def _complete(self, payment_id: UUID, paid: Decimal | None) -> bool:
        """pending → completed and a new period on the plan, in one transaction, once. `paid` is
        what the provider took (None: nothing was due); any other amount fails the payment."""
        for _ in range(ATTEMPTS):
            now = floor_ms(self.clock.now())
            try:
                async with transaction(self.factory) as s:
                    row = await s.get(Payment, payment_id)
                    if row is None or row.status != "pending":
                        return False
                    if paid is not None and paid != row.amount:
                        log.error("payment %s: the provider confirmed %s %s, %s was asked; failing it for the "
                                  "operator to look at", payment_id, paid, row.currency, row.amount)
                        break
                    moved = await s.exec(
                        update(Payment).where(Payment.id == payment_id, Payment.status == "pending")
                        .values(status="completed", completed_at=now, settled_at=now)
                    )
                    if moved.rowcount != 1:
                        return False
                    plan = await repo.get_plan(s, row.plan_id)
                    sub = await self.subscriptions.open_period(s, row.user_id, plan, now)
                    if sub is None:
                        raise _Retry()
                    await s.exec(update(Payment).where(Payment.id == payment_id).values(subscription_id=sub.id))
                    if row.discount_code_id is not None:
                        await count_use(s, row.discount_code_id)
            except (_Retry, IntegrityError):
                continue
            log.info("payment %s completed: subscription %s of user %s", payment_id, sub.id, sub.user_id)
            await self.subscriptions.announce(sub, payment_id)
            return True
        else:
            raise Unavailable("could not complete the payment")
        return await self._settle(payment_id, "failed", f"amount mismatch: {paid} confirmed")

    # --- refunds (staff) --------------------------------------------------------------------------

    async def refund(self, q: p.Refund) -> p.Payment:
        """completed → refunded, once; if its period is still the user's current one, the user falls
        back to the default plan from now."""
        async with self.factory() as s:
            row = await s.get(Payment, q.payment_id)
        if row is None:
            raise NotFound()
        if row.status != "completed":
            raise Conflict("Only a completed payment can be refunded.", code="not_refundable")
        provider = self.providers.get(row.provider)
        if provider is not None and row.provider_ref and row.amount > 0:
            try:
                if not await provider.refund(row.provider_ref, row.amount):
                    log.warning("payment %s: %s has no refund API; return %s %s by hand", row.id, row.provider,
                                row.amount, row.currency)
            except ProviderError as exc:
                raise Unavailable(f"the provider could not refund: {exc}") from exc
        fallback = None
        for _ in range(ATTEMPTS):
            now = floor_ms(self.clock.now())
            try:
                async with transaction(self.factory) as s:
                    moved = await s.exec(update(Payment).where(Payment.id == row.id, Payment.status == "completed")
                                         .values(status="refunded", settled_at=now))
                    if moved.rowcount != 1:
                        raise Conflict("Only a completed payment can be refunded.", code="not_refundable")
                    current = await repo.active_subscription(s, row.user_id)
                    if (current is not None and current.id == row.subscription_id
                            and (current.end_date is None or current.end_date > now)):
                        default = await repo.plan_by_sku(s, self.default_sku)
                        fallback = await self.subscriptions.open_period(s, row.user_id, default, now, 0)
                        if fallback is None:
                            raise _Retry()
                break
            except (_Retry, IntegrityError):
                continue
        else:
            raise Unavailable("could not refund the payment")
        if fallback is not None:
            await self.subscriptions.announce(fallback, row.id)
        return await self.get(p.GetPayment(payment_id=row.id))
