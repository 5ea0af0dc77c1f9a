"""Plan catalog use cases for the admin API: list, get, create, update (PUT/PATCH), delete."""

from decimal import Decimal
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, Strict, ValidationError
from sqlalchemy.exc import IntegrityError

from billing import repository as repo
from billing.models import Plan
from billing.rules import floor_ms
from shared.clock import Clock
from shared.contracts import billing as b
from shared.db import SessionFactory, transaction
from shared.errors import Conflict, NotFound, ValidationFailed

# 10 billion: far above any real plan, and small enough for the limiter's exact integer arithmetic
Count = Annotated[int, Strict(), Field(ge=0, le=10_000_000_000)]
REQUIRED = ("name", "sku")


class PlanFields(BaseModel):
    """Everything an operator may set on a plan; `id` and `created_at` are read-only (ignored)."""

    model_config = ConfigDict(extra="ignore")

    name: str = Field(min_length=1, max_length=100)
    sku: str = Field(min_length=1, max_length=100)
    description: str = Field("", max_length=5_000)
    price: Decimal = Field(Decimal("0"), ge=0, le=Decimal("999999999999.99"), decimal_places=2)
    duration_days: Annotated[int, Strict(), Field(ge=0, le=36_500)] = 30  # 0: no end
    max_tokens: Count = 0
    max_tokens_free: Count = 0
    max_openrouter_cost_usd: Decimal = Field(Decimal("0"), ge=0, le=Decimal("1000000"), decimal_places=2)
    hourly_max_messages: Count = 0
    hourly_max_tokens: Count = 0
    three_hours_max_messages: Count = 0
    three_hours_max_tokens: Count = 0
    twelve_hours_max_messages: Count = 0
    twelve_hours_max_tokens: Count = 0
    daily_max_messages: Count = 0
    daily_max_tokens: Count = 0
    weekly_max_messages: Count = 0
    weekly_max_tokens: Count = 0
    monthly_max_messages: Count = 0
    monthly_max_tokens: Count = 0
    monthly_free_model_messages: Count = 0
    monthly_free_model_tokens: Count = 0
    daily_image_generation_limit: Count = 0
    weekly_image_generation_limit: Count = 0
    monthly_image_generation_limit: Count = 0
    is_active: Annotated[bool, Strict()] = True
    currency: str = Field("IRT", pattern=r"^[A-Z]{3,8}$")  # the default is BILLING_CURRENCY (PlanCatalog)
    is_purchasable: Annotated[bool, Strict()] = True


DEFAULTS = {name: f.default for name, f in PlanFields.model_fields.items() if name not in REQUIRED}


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
        values = _validate({**self.defaults, **q.fields})
        return await self._save(None, values)

    async def update(self, q: b.UpdatePlan) -> b.Plan:
        current = await self.get(q.plan_id)
        existing = current.model_dump()
        if q.partial:
            data = {**existing, **q.fields}
        else:  # PUT: omitted optional fields take their defaults; a missing required one is kept
            data = {**self.defaults, **{k: existing[k] for k in REQUIRED}, **q.fields}
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
