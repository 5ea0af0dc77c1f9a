"""Staff-only reports of the operator console: /api/admin/reports/ (billing computes them from its
ledger; the gateway adds phone numbers and catalog names, and serves CSV)."""

from datetime import date, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request

from gateway import report_schemas as rs
from gateway.backends import Rpc
from gateway.csv_export import csv_response, flatten
from gateway.deps import StaffUser, runtime
from shared.contracts import chat as c
from shared.contracts import reports as r
from shared.errors import ValidationFailed

router = APIRouter(prefix="/api/admin/reports", tags=["admin"])
R = r.RpcNames
DEFAULT_DAYS = 30
MAX_DAYS = 366
CSV = {200: {"content": {"text/csv": {"schema": {"type": "string"}}},
             "description": "With `format=csv`: one row per list item"}}
DAY_PATTERN = r"^\d{4}-\d{2}-\d{2}$"


# Days a report can name: the arithmetic of a range (a day before, the day after) stays in range.
FIRST_DAY, LAST_DAY = date(2000, 1, 1), date(2999, 12, 31)


def _day(raw: str | None, field: str) -> date | None:
    if raw is None:
        return None
    try:
        day = date.fromisoformat(raw)
    except ValueError:
        day = None
    if day is None or not FIRST_DAY <= day <= LAST_DAY:
        raise ValidationFailed("Enter a valid date.", fields={field: ["Enter a valid date."]})
    return day


async def report_range(
    request: Request,
    start: Annotated[str | None, Query(alias="from", pattern=DAY_PATTERN, description="YYYY-MM-DD (UTC), included; "
                                       "default: 29 days before `to`")] = None,
    end: Annotated[str | None, Query(alias="to", pattern=DAY_PATTERN,
                                     description="YYYY-MM-DD (UTC), included; default: today")] = None,
) -> r.ReportRange:
    last = _day(end, "to") or runtime(request).clock.now().date()
    first = _day(start, "from") or max(FIRST_DAY, last - timedelta(days=DEFAULT_DAYS - 1))
    if first > last:
        raise ValidationFailed("The start date is after the end date.",
                               fields={"from": ["The start date is after the end date."]})
    if (last - first).days + 1 > MAX_DAYS:
        message = f"A report covers at most {MAX_DAYS} days."
        raise ValidationFailed(message, fields={"to": [message]})
    return r.ReportRange(start=first, end=last)


Range = Annotated[r.ReportRange, Depends(report_range)]
Limit = Annotated[int, Query(ge=1, le=100, description="How many (1–100)")]
AsCsv = Annotated[rs.Format, Query(alias="format", description="`csv` for a download")]


def _name(kind: str, q: r.ReportRange) -> str:
    return f"{kind}-{q.start.isoformat()}-{q.end.isoformat()}"


@router.get("/overview/", response_model=rs.OverviewOut, responses=CSV,
            summary="Revenue, payments, messages, tokens, provider cost and failures per UTC day")
async def report_overview(q: Range, _: StaffUser, rpc: Rpc, fmt: AsCsv = "json"):
    report = await rpc.call(R.OVERVIEW, q, r.Overview)
    out = rs.OverviewOut.model_validate({**report.model_dump(), "from": q.start, "to": q.end})
    if fmt == "csv":
        rows = [flatten(day.model_dump(mode="json"), ("revenue", "refunded")) for day in out.days]
        return csv_response(_name("overview", q), rows)
    return out


@router.get("/top-users/", response_model=rs.TopUsersOut, responses=CSV,
            summary="Users by provider cost, then messages")
async def report_top_users(q: Range, _: StaffUser, rpc: Rpc, request: Request, fmt: AsCsv = "json", limit: Limit = 10):
    figures = await rpc.call(R.TOP_USERS, r.TopQuery(start=q.start, end=q.end, limit=limit), list[r.UserFigures])
    ids = [f.user_id for f in figures]
    phones = await runtime(request).auth.phone_numbers(ids)
    results = [rs.TopUserOut(**f.model_dump(), phone_number=phones.get(f.user_id)) for f in figures]
    out = rs.TopUsersOut.model_validate({"from": q.start, "to": q.end, "results": results})
    if fmt == "csv":
        return csv_response(_name("top-users", q), [x.model_dump(mode="json") for x in out.results],
                            list(rs.TopUserOut.model_fields))
    return out


@router.get("/top-models/", response_model=rs.TopModelsOut, responses=CSV,
            summary="Models by provider cost, then messages")
async def report_top_models(q: Range, _: StaffUser, rpc: Rpc, fmt: AsCsv = "json", limit: Limit = 10):
    figures = await rpc.call(R.TOP_MODELS, r.TopQuery(start=q.start, end=q.end, limit=limit), list[r.ModelFigures])
    # Names come from the catalog (chat's); the ledger keeps the slug that answered.
    catalog = {m.model_id: m for m in await rpc.call(c.AdminRpcNames.LIST_MODELS, c.AdminList(), list[c.AdminAiModel])}
    results = []
    for f in figures:
        known = catalog.get(f.model)
        results.append(rs.TopModelOut(
            ai_model_id=known.id if known else None, model_id=f.model, model_name=known.name if known else f.model,
            is_free=known.is_free if known else f.is_free, messages=f.messages, tokens=f.tokens,
            provider_cost_usd=f.provider_cost_usd,
        ))
    out = rs.TopModelsOut.model_validate({"from": q.start, "to": q.end, "results": results})
    if fmt == "csv":
        return csv_response(_name("top-models", q), [x.model_dump(mode="json") for x in out.results],
                            list(rs.TopModelOut.model_fields))
    return out
