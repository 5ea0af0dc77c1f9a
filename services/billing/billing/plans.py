"""Plan catalog use cases for the admin API: list, get, create, update (PUT/PATCH), delete."""

from decimal import Decimal
from typing import Annotated, Any

from pydantic import ConfigDict, Field, Strict, ValidationError, create_model
from sqlalchemy.exc import IntegrityError

from billing import repository as repo
from billing.models import Plan
from billing.rules import floor_ms
from shared.bounds import (
    MAX_DESCRIPTION_CHARS,
    MAX_DURATION_DAYS,
    MAX_PLAN_COST_USD,
    MAX_PLAN_COUNT,
    MAX_PLAN_NAME_CHARS,
    MAX_PLAN_PRICE,
    MAX_SKU_CHARS,
    MONEY_PLACES,
)
from shared.clock import Clock
from shared.contracts import billing as b
from shared.contracts.plans import limit_fields
from shared.db import SessionFactory, transaction
from shared.errors import Conflict, NotFound, ValidationFailed
from shared.text import Text

# Limits are 32-bit integer columns; the bound is shared with the gateway's admin schema.
Count = Annotated[int, Strict(), Field(ge=0, le=MAX_PLAN_COUNT)]
REQUIRED = ("name", "sku")
# The text rule (no NUL, not blank) here too: a NUL would fail PostgreSQL's insert.
Name = Text(MAX_PLAN_NAME_CHARS, strip=False)
Sku = Text(MAX_SKU_CHARS, strip=False)
Description = Text(MAX_DESCRIPTION_CHARS, blank_ok=True, strip=False)


CostUsd = Annotated[Decimal, Field(ge=0, le=MAX_PLAN_COST_USD, decimal_places=MONEY_PLACES)]

# Everything an operator may set on a plan (`id` and `created_at` are read-only: ignored). The limit
# fields come from the one limit table (shared.contracts.plans).
PlanFields = create_model(
    "PlanFields",
    __config__=ConfigDict(extra="ignore"),
    __module__=__name__,
    __doc__="Everything an operator may set on a plan; `id` and `created_at` are read-only (ignored).",
    name=(Name, ...),
    sku=(Sku, ...),
    description=(Description, ""),
    price=(Decimal, Field(Decimal(0), ge=0, le=MAX_PLAN_PRICE, decimal_places=MONEY_PLACES)),
    # 0 (no end): internal callers and tests; the admin API asks for MIN_DURATION_DAYS or more.
    duration_days=(Annotated[int, Strict(), Field(ge=0, le=MAX_DURATION_DAYS)], 30),
    **limit_fields(Count, CostUsd),
    is_active=(Annotated[bool, Strict()], True),
    currency=(str, Field("IRT", pattern=r"^[A-Z]{3,8}$")),  # the default is BILLING_CURRENCY (PlanCatalog)
    is_purchasable=(Annotated[bool, Strict()], True),
)


DEFAULTS = {name: f.default for name, f in PlanFields.model_fields.items() if name not in REQUIRED}
WRITABLE = tuple(PlanFields.model_fields)


def _missing(fields: dict[str, Any]) -> ValidationFailed | None:
    """PUT replaces the whole plan: an omitted field is an error, never a silent reset to its default."""
    missing = [k for k in WRITABLE if k not in fields]
    if not missing:
        return None
    return ValidationFailed("Required fields are missing.", fields={k: ["This field is required."] for k in missing})


def plan_out(plan: Plan) -> b.Plan:
    return b.Plan.model_validate(plan, from_attributes=True)


def _validate(data: dict[str, Any]) -> PlanFields:
    missing = [k for k in REQUIRED if data.get(k) in (None, "")]
    if missing:
        raise ValidationFailed("Required fields are missing.", fields={k: ["This field is required."] for k in missing})
    try:
        return PlanFields.model_validate(data)
    except ValidationError as exc:
        fields: dict[str, list[str]] = {}
        for error in exc.errors():
            name = str(error["loc"][0]) if error["loc"] else "non_field_errors"
            fields.setdefault(name, []).append(error["msg"])
        raise ValidationFailed("Invalid plan.", fields=fields) from exc


class PlanCatalog:
    def __init__(self, factory: SessionFactory, clock: Clock, default_sku: str, currency: str = "IRT") -> None:
        self.defaults = {**DEFAULTS, "currency": currency}
        self.factory = factory
        self.clock = clock
        self.default_sku = default_sku

    async def list(self) -> list[b.Plan]:
        async with self.factory() as s:
            return [plan_out(p) for p in await repo.list_plans(s)]

    async def get(self, plan_id: int) -> b.Plan:
        async with self.factory() as s:
            plan = await repo.get_plan(s, plan_id)
            if plan is None:
                raise NotFound()
            return plan_out(plan)

    async def create(self, q: b.CreatePlan) -> b.Plan:
        return await self.add(q.fields.sent())

    async def add(self, fields: dict[str, Any]) -> b.Plan:
        """A new plan from field values as billing's own model allows them: internal callers and tests may
        ask for what the admin contract refuses (`duration_days` 0: a period that never ends)."""
        return await self._save(None, _validate({**self.defaults, **fields}))

    async def update(self, q: b.UpdatePlan) -> b.Plan:
        current = await self.get(q.plan_id)
        existing = current.model_dump()
        fields = q.fields.sent()
        if q.partial:
            data = {**existing, **fields}
        else:  # PUT: every writable field is given (the gateway checks it too)
            if (problem := _missing(fields)) is not None:
                raise problem
            data = fields
        return await self._save(q.plan_id, _validate(data))

    async def _save(self, plan_id: int | None, values: PlanFields) -> b.Plan:
        try:
            async with transaction(self.factory) as s:
                for unique in REQUIRED:
                    if await repo.plan_clash(s, unique, getattr(values, unique), plan_id):
                        message = f"A plan with this {unique} already exists."
                        raise ValidationFailed(message, fields={unique: [message]})
                if plan_id is None:
                    plan = Plan(**values.model_dump(), created_at=floor_ms(self.clock.now()))
                else:
                    plan = await repo.get_plan(s, plan_id)
                    if plan is None:
                        raise NotFound()
                    if plan.sku == self.default_sku and values.sku != plan.sku:
                        raise ValidationFailed(
                            "The default plan's sku cannot change.", fields={"sku": ["The default plan's sku cannot change."]}
                        )
                    for key, value in values.model_dump().items():
                        setattr(plan, key, value)
                s.add(plan)
                await s.flush()
                return plan_out(plan)
        except IntegrityError as exc:  # a concurrent save took the name or sku first
            raise ValidationFailed("A plan with this name or sku already exists.",
                                   fields={"sku": ["A plan with this name or sku already exists."]}) from exc

    async def delete(self, plan_id: int) -> None:
        async with transaction(self.factory) as s:
            plan = await repo.get_plan(s, plan_id)
            if plan is None:
                raise NotFound()
            if plan.sku == self.default_sku:
                raise Conflict("The default plan cannot be deleted.", code="default_plan")
            if await repo.plan_in_use(s, plan_id):
                raise Conflict("Subscriptions use this plan; set is_active to false instead.", code="in_use")
            await s.delete(plan)
