"""Billing's broker face: RPC responders and event consumers, thin over BillingService."""

from faststream.rabbit import RabbitRouter

from billing.service import BillingService
from shared import topology
from shared.consumers import redeliver_on_error
from shared.contracts import billing as b
from shared.contracts import payments as p
from shared.contracts import reports as r
from shared.contracts.chat import ExchangeAbandoned
from shared.contracts.gateway import UserRegistered
from shared.contracts.llm import ReplyCompleted, ReplyFailed, TitleGenerated
from shared.errors import NotFound
from shared.rpc import responder


def build_router(service: BillingService) -> RabbitRouter:
    router = RabbitRouter()
    Q = b.RpcNames

    @responder(router, Q.PING)
    async def answer_ping(body: dict) -> dict:
        return {"pong": True}

    @responder(router, Q.GET_SUBSCRIPTION)
    async def answer_get_subscription(q: b.GetSubscription) -> b.Subscription:
        return await service.get_subscription(q)

    @responder(router, Q.START_SUBSCRIPTION)
    async def answer_start_subscription(q: b.StartSubscription) -> b.Subscription:
        return await service.start_subscription(q)

    @responder(router, Q.ADMIT)
    async def answer_admit(q: b.AdmitExchange) -> b.Admission:
        return await service.admit(q)

    @responder(router, Q.GET_USAGE)
    async def answer_get_usage(q: b.UserQuery) -> b.UsageReport:
        return await service.usage(q)

    @responder(router, Q.LIST_SESSION_USAGES)
    async def answer_list_session_usages(q: b.UserQuery) -> list[b.SessionUsage]:
        return await service.session_usages(q)

    @responder(router, Q.PAGE_SESSION_USAGES)
    async def answer_page_session_usages(q: b.SessionUsagesPageQuery) -> b.SessionUsagePage:
        return await service.session_usage_page(q)

    @responder(router, Q.LIST_PLANS)
    async def answer_list_plans(q: b.ListPlans) -> list[b.Plan]:
        return await service.plans.list()

    @responder(router, Q.GET_PLAN)
    async def answer_get_plan(q: b.PlanQuery) -> b.Plan:
        return await service.plans.get(q.plan_id)

    @responder(router, Q.CREATE_PLAN)
    async def answer_create_plan(q: b.CreatePlan) -> b.Plan:
        return await service.plans.create(q)

    @responder(router, Q.UPDATE_PLAN)
    async def answer_update_plan(q: b.UpdatePlan) -> b.Plan:
        return await service.plans.update(q)

    @responder(router, Q.DELETE_PLAN)
    async def answer_delete_plan(q: b.PlanQuery) -> None:
        await service.plans.delete(q.plan_id)

    P = p.RpcNames

    @responder(router, P.LIST_PLANS_FOR_SALE)
    async def answer_plans_for_sale(q: p.ListPlansForSale) -> list[b.Plan]:
        return await service.payments.plans_for_sale()

    @responder(router, P.QUOTE)
    async def answer_quote(q: p.Quote) -> p.Quoted:
        return await service.payments.quote(q)

    @responder(router, P.CHECKOUT)
    async def answer_checkout(q: p.Checkout) -> p.Payment:
        return await service.payments.checkout(q)

    @responder(router, P.LIST_PAYMENTS)
    async def answer_list_payments(q: p.ListPayments) -> p.PaymentPage:
        return await service.payments.list(q)

    @responder(router, P.GET_PAYMENT)
    async def answer_get_payment(q: p.GetPayment) -> p.Payment:
        return await service.payments.get(q)

    @responder(router, P.ZIBAL_CALLBACK)
    async def answer_zibal_callback(q: p.ZibalCallback) -> p.CallbackOutcome:
        return await service.payments.zibal_callback(q)

    @responder(router, P.STRIPE_WEBHOOK)
    async def answer_stripe_webhook(q: p.StripeWebhook) -> p.WebhookOutcome:
        return await service.payments.stripe_webhook(q)

    @responder(router, P.RECONCILE)
    async def answer_reconcile(q: p.Reconcile) -> p.Reconciled:
        return await service.payments.reconcile()

    @responder(router, P.REFUND)
    async def answer_refund(q: p.Refund) -> p.Payment:
        return await service.payments.refund(q)

    @responder(router, P.LIST_DISCOUNT_CODES)
    async def answer_list_discount_codes(q: p.ListDiscountCodes) -> list[p.DiscountCode]:
        return await service.discounts.list()

    @responder(router, P.GET_DISCOUNT_CODE)
    async def answer_get_discount_code(q: p.DiscountCodeQuery) -> p.DiscountCode:
        return await service.discounts.get(q.code_id)

    @responder(router, P.CREATE_DISCOUNT_CODE)
    async def answer_create_discount_code(q: p.SaveDiscountCode) -> p.DiscountCode:
        return await service.discounts.save(q.model_copy(update={"code_id": None}))

    @responder(router, P.UPDATE_DISCOUNT_CODE)
    async def answer_update_discount_code(q: p.SaveDiscountCode) -> p.DiscountCode:
        if q.code_id is None:
            raise NotFound()
        return await service.discounts.save(q)

    @responder(router, P.DELETE_DISCOUNT_CODE)
    async def answer_delete_discount_code(q: p.DiscountCodeQuery) -> None:
        await service.discounts.delete(q.code_id)

    R = r.RpcNames

    @responder(router, R.OVERVIEW)
    async def answer_report_overview(q: r.ReportRange) -> r.Overview:
        return await service.admin_reports.overview(q)

    @responder(router, R.TOP_USERS)
    async def answer_report_top_users(q: r.TopQuery) -> list[r.UserFigures]:
        return await service.admin_reports.top_users(q)

    @responder(router, R.TOP_MODELS)
    async def answer_report_top_models(q: r.TopQuery) -> list[r.ModelFigures]:
        return await service.admin_reports.top_models(q)

    @router.subscriber(topology.BILLING_USER_REGISTERED, exchange=topology.EVENTS)
    @redeliver_on_error(topology.BILLING_USER_REGISTERED.name)
    async def on_user_registered(event: UserRegistered) -> None:
        await service.on_user_registered(event)

    @router.subscriber(topology.BILLING_REPLY_COMPLETED, exchange=topology.EVENTS)
    @redeliver_on_error(topology.BILLING_REPLY_COMPLETED.name)
    async def on_reply_completed(event: ReplyCompleted) -> None:
        await service.on_reply_completed(event)

    @router.subscriber(topology.BILLING_REPLY_FAILED, exchange=topology.EVENTS)
    @redeliver_on_error(topology.BILLING_REPLY_FAILED.name)
    async def on_reply_failed(event: ReplyFailed) -> None:
        await service.on_reply_failed(event)

    @router.subscriber(topology.BILLING_EXCHANGE_ABANDONED, exchange=topology.EVENTS)
    @redeliver_on_error(topology.BILLING_EXCHANGE_ABANDONED.name)
    async def on_exchange_abandoned(event: ExchangeAbandoned) -> None:
        await service.on_exchange_abandoned(event)

    @router.subscriber(topology.BILLING_TITLE_GENERATED, exchange=topology.EVENTS)
    @redeliver_on_error(topology.BILLING_TITLE_GENERATED.name)
    async def on_title_generated(event: TitleGenerated) -> None:
        await service.on_title_generated(event)

    return router
