"""Staff-only selling: /api/admin/discount-codes/ (CRUD), /api/admin/payments/ and refunds (payments.md)."""

import uuid
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel

from gateway.admin_schemas import DiscountCodeBody
from gateway.backends import Rpc
from gateway.deps import Audit, StaffUser, runtime
from gateway.pagination import Pages, envelope, paged_list
from gateway.routes.payments import PaymentOut, shaped
from gateway.schemas import Money, PathId, conflict
from shared.contracts import payments as p
from shared.errors import NotFound

router = APIRouter(prefix="/api/admin", tags=["admin"])
P = p.RpcNames
Status = Literal["pending", "completed", "failed", "cancelled", "expired", "refunded"]


class DiscountCodeOut(BaseModel):
    id: int
    code: str
    discount_type: Literal["percentage", "fixed"]
    discount_value: Money
    subscription_type_ids: list[int]
    max_uses: int | None
    max_uses_per_user: int
    valid_from: datetime
    valid_until: datetime | None
    is_active: bool
    times_used: int
    created_at: datetime


class AdminPaymentOut(PaymentOut):
    user_id: int


def _code(data) -> dict:
    return DiscountCodeOut.model_validate(data).model_dump(mode="json")


@router.get("/discount-codes/", response_model=list[DiscountCodeOut] | dict)
async def list_codes(request: Request, _: StaffUser, rpc: Rpc, params: Pages):
    async def fetch() -> list[dict]:
        return [_code(c) for c in await rpc.call(P.LIST_DISCOUNT_CODES, p.ListDiscountCodes())]

    return await paged_list(request, params, fetch)


@router.post("/discount-codes/", status_code=201, response_model=DiscountCodeOut)
async def create_code(body: DiscountCodeBody, staff: StaffUser, rpc: Rpc, audit: Audit):
    code = _code(await rpc.call(P.CREATE_DISCOUNT_CODE, p.SaveDiscountCode(fields=body.sent())))
    await audit.changed(staff, "discount_code", code["id"], None, code)
    return code


@router.get("/discount-codes/{code_id}/", response_model=DiscountCodeOut)
async def get_code(code_id: PathId, _: StaffUser, rpc: Rpc):
    return _code(await rpc.call(P.GET_DISCOUNT_CODE, p.DiscountCodeQuery(code_id=code_id)))


@router.put("/discount-codes/{code_id}/", response_model=DiscountCodeOut)
async def replace_code(code_id: PathId, body: DiscountCodeBody, staff: StaffUser, rpc: Rpc, audit: Audit):
    before = _code(await rpc.call(P.GET_DISCOUNT_CODE, p.DiscountCodeQuery(code_id=code_id)))
    code = _code(await rpc.call(P.UPDATE_DISCOUNT_CODE, p.SaveDiscountCode(code_id=code_id, fields=body.sent())))
    await audit.changed(staff, "discount_code", code_id, before, code)
    return code


@router.patch("/discount-codes/{code_id}/", response_model=DiscountCodeOut)
async def update_code(code_id: PathId, body: DiscountCodeBody, staff: StaffUser, rpc: Rpc, audit: Audit):
    before = _code(await rpc.call(P.GET_DISCOUNT_CODE, p.DiscountCodeQuery(code_id=code_id)))
    query = p.SaveDiscountCode(code_id=code_id, partial=True, fields=body.sent())
    code = _code(await rpc.call(P.UPDATE_DISCOUNT_CODE, query))
    await audit.changed(staff, "discount_code", code_id, before, code)
    return code


@router.delete("/discount-codes/{code_id}/", status_code=204, response_class=Response,
               summary="Delete a code; one that payments used is deactivated instead")
async def delete_code(code_id: PathId, staff: StaffUser, rpc: Rpc, audit: Audit):
    before = _code(await rpc.call(P.GET_DISCOUNT_CODE, p.DiscountCodeQuery(code_id=code_id)))
    await rpc.call(P.DELETE_DISCOUNT_CODE, p.DiscountCodeQuery(code_id=code_id))
    try:  # a code that payments used is kept, deactivated
        after = _code(await rpc.call(P.GET_DISCOUNT_CODE, p.DiscountCodeQuery(code_id=code_id)))
    except NotFound:
        after = None
    note = " (deactivated: payments used it)" if after is not None else ""
    await audit.changed(staff, "discount_code", code_id, before, after, action="delete", note=note)
    return Response(status_code=204)


@router.get("/payments/", response_model=list[AdminPaymentOut] | dict, summary="Every payment, newest first")
async def list_payments(
    request: Request,
    _: StaffUser,
    rpc: Rpc,
    params: Pages,
    user: Annotated[int | None, Query(ge=1, le=2**31 - 1, description="Only this user's")] = None,
    status: Annotated[Status | None, Query()] = None,
):
    limit = params.size if params.page else 100
    query = p.ListPayments(user_id=user, status=status, offset=params.offset if params.page else 0, limit=limit)
    page = await rpc.call(P.LIST_PAYMENTS, query, p.PaymentPage)
    results = [shaped(item, AdminPaymentOut) for item in page.results]
    return envelope(request, params, page.count, results) if params.page else results


@router.post("/payments/{payment_id}/refund/", response_model=AdminPaymentOut,
             responses=conflict("Only a completed payment can be refunded (`code`: not_refundable)"),
             summary="Refund a completed payment; a current period falls back to the default plan")
async def refund(payment_id: uuid.UUID, staff: StaffUser, rpc: Rpc, request: Request, audit: Audit):
    payment = await rpc.call(P.REFUND, p.Refund(payment_id=payment_id), p.Payment)
    await runtime(request).plans.forget(payment.user_id)
    await audit.record(staff, "refund", "payment", payment_id,
                       f"Refunded payment {payment_id} of user {payment.user_id}: {payment.amount} {payment.currency}",
                       {"status": ["completed", payment.status]})
    return shaped(payment, AdminPaymentOut)

