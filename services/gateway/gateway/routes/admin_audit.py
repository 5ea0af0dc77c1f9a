"""Staff-only audit log: GET /api/admin/audit-log/ (newest first, keyset pages by id, CSV)."""

from typing import Annotated

from fastapi import APIRouter, Query, Request

from gateway import report_schemas as rs
from gateway.csv_export import csv_response
from gateway.deps import Audit, StaffUser, runtime
from gateway.routes.admin_reports import CSV, AsCsv
from gateway.schemas import MAX_ID

router = APIRouter(prefix="/api/admin", tags=["admin"])


@router.get("/audit-log/", response_model=rs.AuditPageOut, responses=CSV,
            summary="Staff changes, newest first; page with before=<id of the last entry>")
async def audit_log(
    request: Request,
    _: StaffUser,
    audit: Audit,
    limit: Annotated[int, Query(ge=1, le=200, description="Entries per page (1–200)")] = 50,
    before: Annotated[int | None, Query(ge=1, le=MAX_ID, description="Only entries older than this id")] = None,
    object_type: Annotated[rs.AuditObject | None, Query(description="Only changes of this kind of object")] = None,
    actor_id: Annotated[int | None, Query(ge=1, le=MAX_ID, description="Only changes by this staff user")] = None,
    fmt: AsCsv = "json",
):
    entries, more = await audit.page(limit=limit, before=before, object_type=object_type, actor_id=actor_id)
    page = rs.AuditPageOut(results=entries, has_more=more)
    if fmt == "csv":
        today = runtime(request).clock.now().date().isoformat()
        rows = [entry.model_dump(mode="json") for entry in page.results]
        return csv_response(f"audit-log-{today}-{today}", rows, list(rs.AuditEntryOut.model_fields))
    return page
