"""The billing use cases behind the broker handlers, wired from their parts."""

from uuid import UUID

from redis.asyncio import Redis

from billing.accounting import Accounting
from billing.admin_reports import AdminReports
from billing.admission import Admissions
from billing.batcher import WriteBatcher
from billing.discounts import DiscountCodes
from billing.limiter import UsageLimiter
from billing.payments import Payments
from billing.plans import PlanCatalog
from billing.providers import PaymentProvider
from billing.reports import Reports
from billing.rules import MIN_REPLY_TOKENS
from billing.settings import BillingSettings
from billing.subscriptions import Announcer, Subscriptions
from billing.windows import Windows
from shared.clock import Clock
from shared.contracts import billing as b
from shared.contracts.chat import ExchangeAbandoned
from shared.contracts.gateway import UserRegistered
from shared.contracts.llm import ReplyCompleted, ReplyFailed, TitleGenerated
from shared.db import SessionFactory


class BillingService:
    def __init__(self, factory: SessionFactory, redis: Redis, settings: BillingSettings, clock: Clock,
                 *, redis_prefix: str = "billing", events: Announcer | None = None,
                 providers: dict[str, PaymentProvider] | None = None) -> None:
        self.limiter = UsageLimiter(
            redis, reservation_ttl_seconds=settings.reservation_ttl_seconds, min_reply_tokens=MIN_REPLY_TOKENS,
            prefix=redis_prefix,
        )
        engine = factory.kw["bind"]
        self.batcher = WriteBatcher(engine)
        self.subscriptions = Subscriptions(engine, factory, clock, settings.default_plan_sku, events)
        self.windows = Windows(self.limiter, factory, clock)
        self.plans = PlanCatalog(factory, clock, settings.default_plan_sku, settings.billing_currency)
        self.discounts = DiscountCodes(factory, clock)
        self.payments = Payments(
            factory, clock, self.subscriptions, self.discounts, providers or {},
            default_provider=settings.payment_provider, expire_minutes=settings.payment_expire_minutes,
            default_sku=settings.default_plan_sku,
            stripe_webhook_secret=settings.stripe_webhook_secret.get_secret_value(),
        )
        self.admissions = Admissions(
            self.batcher, self.limiter, self.windows, self.subscriptions, clock,
            prompt_margin_percent=settings.prompt_margin_percent,
            unpriced_usd_per_mtok=settings.unpriced_model_usd_per_mtok,
        )
        self.accounting = Accounting(self.batcher, self.limiter, clock)
        self.reports = Reports(factory, self.limiter, self.windows, self.subscriptions, clock)
        self.admin_reports = AdminReports(engine, clock, settings.billing_currency)

    # queries
    async def get_subscription(self, q: b.GetSubscription) -> b.Subscription:
        return await self.subscriptions.get(q.user_id)

    async def start_subscription(self, q: b.StartSubscription) -> b.Subscription:
        return await self.subscriptions.start(q)

    async def admit(self, q: b.AdmitExchange) -> b.Admission:
        return await self.admissions.admit(q)

    async def release(self, exchange_id: UUID, user_id: int, reason: str = "released") -> None:
        await self.admissions.release(exchange_id, user_id, reason)

    async def usage(self, q: b.UserQuery) -> b.UsageReport:
        return await self.reports.usage(q.user_id)

    async def session_usages(self, q: b.UserQuery) -> list[b.SessionUsage]:
        return await self.reports.session_usages(q.user_id)

    async def session_usage_page(self, q: b.SessionUsagesPageQuery) -> b.SessionUsagePage:
        return await self.reports.session_usage_page(q)

    # events
    async def on_user_registered(self, event: UserRegistered) -> None:
        await self.subscriptions.current(event.user_id)

    async def on_reply_completed(self, event: ReplyCompleted) -> None:
        await self.accounting.commit(event)

    async def on_reply_failed(self, event: ReplyFailed) -> None:
        # a failed reply costs nothing
        await self.release(event.exchange_id, event.user_id, reason="failed")

    async def on_exchange_abandoned(self, event: ExchangeAbandoned) -> None:
        # an exchange admitted but never stored, given up, or stuck past the reply deadline
        await self.release(event.exchange_id, event.user_id, reason=event.reason or "abandoned")

    async def on_title_generated(self, event: TitleGenerated) -> None:
        await self.accounting.record_title(event)
