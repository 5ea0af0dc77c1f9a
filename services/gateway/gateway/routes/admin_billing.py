"""Staff-only plans and users: /api/admin/subscription-types/, /api/admin/users/ (api.md §5)."""

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel

from gateway import admin_schemas as a
from gateway.admin_schemas import StaffBody, StartSubscriptionBody
from gateway.audit import diff
from gateway.backends import Rpc
from gateway.deps import Audit, StaffUser, runtime
from gateway.models import User
from gateway.pagination import Pages, envelope, paged_list
from gateway.schemas import PathId, PlanOut, SubscriptionOut, conflict
from shared.contracts import billing as b
from shared.errors import NotFound
from shared.rpc import RpcClient

router = APIRouter(prefix="/api/admin", tags=["admin"])
Q = b.RpcNames


class AdminUser(BaseModel):
    id: int
    phone_number: str
    name: str
    is_verified: bool
    is_staff: bool
    date_joined: datetime
    subscription: SubscriptionOut | None


def _shown(plan: dict) -> dict:
    """The plan as the API shows it: money with two places however billing wrote it ("1000" after a
    save, "1000.00" read back), so the audit diff holds only real changes."""
    return PlanOut.model_validate(plan).model_dump(mode="json")


@router.get("/subscription-types/", response_model=list[PlanOut] | dict)
async def list_plans(request: Request, _: StaffUser, rpc: Rpc, params: Pages):
    async def fetch() -> list[dict]:
        # Shaped here: an envelope's results are not passed through the response model.
        return [PlanOut.model_validate(p).model_dump(mode="json") for p in await rpc.call(Q.LIST_PLANS, b.ListPlans())]

    return await paged_list(request, params, fetch)


@router.post("/subscription-types/", status_code=201, response_model=PlanOut)
async def create_plan(body: a.PlanCreate, staff: StaffUser, rpc: Rpc, audit: Audit):
    plan = await rpc.call(Q.CREATE_PLAN, b.CreatePlan(fields=body.sent()))
    await audit.changed(staff, "plan", plan["id"], None, _shown(plan))
    return plan


@router.get("/subscription-types/{plan_id}/", response_model=PlanOut)
async def get_plan(plan_id: PathId, _: StaffUser, rpc: Rpc):
    return await rpc.call(Q.GET_PLAN, b.PlanQuery(plan_id=plan_id))


@router.put("/subscription-types/{plan_id}/", response_model=PlanOut)
async def replace_plan(plan_id: PathId, body: a.PlanFields, staff: StaffUser, rpc: Rpc, audit: Audit):
    before = await rpc.call(Q.GET_PLAN, b.PlanQuery(plan_id=plan_id))
    plan = await rpc.call(Q.UPDATE_PLAN, b.UpdatePlan(plan_id=plan_id, fields=body.sent()))
    await audit.changed(staff, "plan", plan_id, _shown(before), _shown(plan))
    return plan


@router.patch("/subscription-types/{plan_id}/", response_model=PlanOut)
async def update_plan(plan_id: PathId, body: a.PlanPatch, staff: StaffUser, rpc: Rpc, audit: Audit):
    before = await rpc.call(Q.GET_PLAN, b.PlanQuery(plan_id=plan_id))
    plan = await rpc.call(Q.UPDATE_PLAN, b.UpdatePlan(plan_id=plan_id, partial=True, fields=body.sent()))
    await audit.changed(staff, "plan", plan_id, _shown(before), _shown(plan))
    return plan


@router.delete("/subscription-types/{plan_id}/", status_code=204, response_class=Response,
               responses=conflict("The default plan, or subscriptions use it (`code`: default_plan, in_use)"))
async def delete_plan(plan_id: PathId, staff: StaffUser, rpc: Rpc, audit: Audit):
    before = await rpc.call(Q.GET_PLAN, b.PlanQuery(plan_id=plan_id))
    await rpc.call(Q.DELETE_PLAN, b.PlanQuery(plan_id=plan_id))
    await audit.changed(staff, "plan", plan_id, _shown(before), None)
    return Response(status_code=204)


async def _admin_view(rpc: RpcClient, user: User) -> dict:
    try:
        subscription = await rpc.call(Q.GET_SUBSCRIPTION, b.GetSubscription(user_id=user.id))
    except NotFound:
        subscription = None
    return AdminUser(
        id=user.id, phone_number=user.phone_number, name=user.name, is_verified=user.is_verified,
        is_staff=user.is_staff, date_joined=user.joined_utc, subscription=subscription,
    ).model_dump(mode="json")


@router.get("/users/", response_model=list[AdminUser] | dict)
async def list_users(
    request: Request,
    _: StaffUser,
    rpc: Rpc,
    params: Pages,
    phone: Annotated[str | None, Query(max_length=32, description="Digits the phone number contains")] = None,
):
    digits = "".join(ch for ch in (phone or "") if ch.isdigit()) or None
    # Without ?page, every matching user (api.md §5: a plain list is never silently cut).
    limit = params.size if params.page else None
    count, users = await runtime(request).auth.search_users(digits, params.offset if params.page else 0, limit)
    results = [await _admin_view(rpc, user) for user in users]
    return envelope(request, params, count, results) if params.page else results


@router.post("/users/{user_id}/subscription/", response_model=SubscriptionOut)
async def start_subscription(user_id: PathId, body: StartSubscriptionBody, staff: StaffUser, rpc: Rpc,
                             request: Request, audit: Audit):
    user = await runtime(request).auth.get_user(user_id)
    if user is None:
        raise NotFound()
    try:
        before = await rpc.call(Q.GET_SUBSCRIPTION, b.GetSubscription(user_id=user_id))
    except NotFound:
        before = None
    command = b.StartSubscription(user_id=user_id, plan_id=body.subscription_type_id, duration_days=body.duration_days)
    subscription = await rpc.call(Q.START_SUBSCRIPTION, command)
    await runtime(request).plans.forget(user_id)  # the new plan applies to the user's next request
    await audit.record(staff, "change_plan", "user", user_id,
                       f"Moved user {user_id} ({user.phone_number}) to plan {subscription['subscription_type']['name']}",
                       _period_changes(before, subscription))
    return subscription


def _period_changes(before: dict | None, after: dict) -> dict:
    def facts(sub: dict | None) -> dict:
        if sub is None:
            return {}
        return {"subscription_type_id": sub["subscription_type"]["id"], "plan": sub["subscription_type"]["name"],
                "start_date": sub["start_date"], "end_date": sub["end_date"]}

    return diff(facts(before), facts(after))


@router.post("/users/{user_id}/staff/", response_model=AdminUser,
             responses=conflict("The last staff user cannot lose the flag (`code`: last_staff_user)"))
async def set_staff(user_id: PathId, body: StaffBody, staff: StaffUser, rpc: Rpc, request: Request, audit: Audit):
    was = await runtime(request).auth.get_user(user_id, fresh=True)
    user = await runtime(request).auth.set_staff(user_id, body.is_staff)
    if user is None or was is None:
        raise NotFound()
    verb = "Granted" if body.is_staff else "Removed"
    await audit.record(staff, "set_staff", "user", user_id, f"{verb} staff for user {user_id} ({user.phone_number})",
                       diff({"is_staff": was.is_staff}, {"is_staff": user.is_staff}))
    return await _admin_view(rpc, user)


@router.get("/users/{user_id}/usage/", response_model=b.UsageReport,
            summary="A user's limits: used, remaining, resets (as GET /api/users/usage/ shows them)")
async def user_usage(user_id: PathId, _: StaffUser, rpc: Rpc, request: Request):
    if await runtime(request).auth.get_user(user_id) is None:
        raise NotFound()
    return await rpc.call(Q.GET_USAGE, b.UserQuery(user_id=user_id))
