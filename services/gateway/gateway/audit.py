"""The audit log of staff changes (gateway's table `audit_log`): the admin routes record one entry
after each change the owning service committed; the console pages it newest first by id (keyset)."""

import logging
from collections.abc import Mapping
from datetime import UTC
from typing import Any

from sqlmodel import col, select

from gateway.models import AuditEntry, User
from shared.clock import Clock
from shared.db import SessionFactory, transaction

log = logging.getLogger(__name__)

# Read-only fields that every save rewrites or that say nothing about the change.
NOT_CHANGES = frozenset({"id", "created_at", "updated_at"})
MAX_SUMMARY = 500
MAX_PAGE = 200


def diff(before: Mapping[str, Any] | None, after: Mapping[str, Any] | None) -> dict[str, list[Any]]:
    """Field -> [old, new] for every field that differs (JSON values; a side that is absent is null)."""
    before, after = before or {}, after or {}
    changes = {}
    for key in [*before, *(k for k in after if k not in before)]:
        if key in NOT_CHANGES:
            continue
        old, new = before.get(key), after.get(key)
        if old != new:
            changes[key] = [old, new]
    return changes


def label(item: Mapping[str, Any] | None) -> str:
    """How a summary names an object: its name, code or phone when it has one."""
    item = item or {}
    for key in ("name", "code", "phone_number"):
        if item.get(key):
            return f" ({item[key]})"
    return ""


class AuditLog:
    def __init__(self, factory: SessionFactory, clock: Clock) -> None:
        self.factory = factory
        self.clock = clock

    async def record(self, actor: User, action: str, object_type: str, object_id: Any, summary: str,
                     changes: dict[str, Any] | None = None) -> None:
        """Called after the change committed (architecture §4: the commit decides the answer), so a
        refused or failed change writes nothing. The entry is written before the answer is sent."""
        entry = AuditEntry(
            at=self.clock.now(), actor_id=actor.id, action=action, object_type=object_type,
            object_id=str(object_id), summary=summary[:MAX_SUMMARY], changes=changes or {},
        )
        async with transaction(self.factory) as s:
            s.add(entry)

    async def changed(self, actor: User, object_type: str, object_id: Any, before: Mapping[str, Any] | None,
                      after: Mapping[str, Any] | None, *, action: str | None = None, note: str = "") -> None:
        """Create (no `before`), update or delete (no `after`) of a catalog-like object."""
        action = action or ("create" if before is None else "delete" if after is None else "update")
        changes = diff(before, after)
        kind = object_type.replace("_", " ")
        fields = f": {', '.join(changes)}" if action == "update" and changes else ""
        verb = {"create": "Created", "update": "Updated", "delete": "Deleted"}.get(action, action)
        summary = f"{verb} {kind} {object_id}{label(after or before)}{fields}{note}"
        await self.record(actor, action, object_type, object_id, summary, changes)

    async def page(self, *, limit: int, before: int | None = None, object_type: str | None = None,
                   actor_id: int | None = None) -> tuple[list[dict[str, Any]], bool]:
        """Newest first; `before` an id (keyset: stable while entries are added). Returns (entries, has_more)."""
        query = select(AuditEntry).order_by(col(AuditEntry.id).desc()).limit(limit + 1)
        if before is not None:
            query = query.where(col(AuditEntry.id) < before)
        if object_type is not None:
            query = query.where(AuditEntry.object_type == object_type)
        if actor_id is not None:
            query = query.where(AuditEntry.actor_id == actor_id)
        async with self.factory() as s:
            rows = list((await s.exec(query)).all())
            more = len(rows) > limit
            rows = rows[:limit]
            actors = {r.actor_id for r in rows}
            phones = dict((await s.exec(select(User.id, User.phone_number).where(col(User.id).in_(actors)))).all()) \
                if actors else {}
        return [
            {"id": r.id, "at": r.at if r.at.tzinfo else r.at.replace(tzinfo=UTC), "actor_id": r.actor_id, "actor_phone": phones.get(r.actor_id),
             "action": r.action, "object_type": r.object_type, "object_id": r.object_id, "summary": r.summary,
             "changes": r.changes}
            for r in rows
        ], more
