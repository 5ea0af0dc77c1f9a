"""Billing's broker face: RPC responders and event consumers, thin over BillingService."""

from faststream.rabbit import RabbitRouter

from billing.admin_reports import AdminReports
from billing.payments import Payments
from billing.plans import PlanCatalog
from billing.service import BillingService
from shared import topology
from shared.contracts import billing as b
from shared.contracts import payments as p
from shared.contracts import reports as r
from shared.delegates import answer_with, consume_with
from shared.errors import NotFound
from shared.rpc import responder


def build_router(service: BillingService) -> RabbitRouter:
    router = RabbitRouter()
    Q, P, R = b.RpcNames, p.RpcNames, r.RpcNames

    @responder(router, Q.PING)
    async def answer_ping(body: dict) -> dict:
        return {"pong": True}

    answer_with(router, lambda: service, {
        Q.GET_SUBSCRIPTION: BillingService.get_subscription,
        Q.START_SUBSCRIPTION: BillingService.start_subscription,
        Q.ADMIT: BillingService.admit,
        Q.GET_USAGE: BillingService.usage,
        Q.LIST_SESSION_USAGES: BillingService.session_usages,
        Q.PAGE_SESSION_USAGES: BillingService.session_usage_page,
    })
    answer_with(router, lambda: service.plans, {Q.CREATE_PLAN: PlanCatalog.create, Q.UPDATE_PLAN: PlanCatalog.update})
    answer_with(router, lambda: service.payments, {
        P.QUOTE: Payments.quote,
        P.CHECKOUT: Payments.checkout,
        P.LIST_PAYMENTS: Payments.list,
        P.GET_PAYMENT: Payments.get,
        P.ZIBAL_CALLBACK: Payments.zibal_callback,
        P.STRIPE_WEBHOOK: Payments.stripe_webhook,
        P.REFUND: Payments.refund,
    })
    answer_with(router, lambda: service.admin_reports, {
        R.OVERVIEW: AdminReports.overview,
        R.TOP_USERS: AdminReports.top_users,
        R.TOP_MODELS: AdminReports.top_models,
    })

    # The queries whose request carries nothing the use case takes, or only an id.
    @responder(router, Q.LIST_PLANS)
    async def answer_list_plans(q: b.ListPlans) -> list[b.Plan]:
        return await service.plans.list()

    @responder(router, Q.GET_PLAN)
    async def answer_get_plan(q: b.PlanQuery) -> b.Plan:
        return await service.plans.get(q.plan_id)

    @responder(router, Q.DELETE_PLAN)
    async def answer_delete_plan(q: b.PlanQuery) -> None:
        await service.plans.delete(q.plan_id)

    @responder(router, P.LIST_PLANS_FOR_SALE)
    async def answer_plans_for_sale(q: p.ListPlansForSale) -> list[b.Plan]:
        return await service.payments.plans_for_sale()

    @responder(router, P.RECONCILE)
    async def answer_reconcile(q: p.Reconcile) -> p.Reconciled:
        return await service.payments.reconcile()

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

    consume_with(router, lambda: service, {
        topology.BILLING_USER_REGISTERED: BillingService.on_user_registered,
        topology.BILLING_REPLY_COMPLETED: BillingService.on_reply_completed,
        topology.BILLING_REPLY_FAILED: BillingService.on_reply_failed,
        topology.BILLING_EXCHANGE_ABANDONED: BillingService.on_exchange_abandoned,
        topology.BILLING_TITLE_GENERATED: BillingService.on_title_generated,
    })

    return router
