"""Discount codes: the admin CRUD, checking a code for a checkout, and its uses.

A use is held by a pending checkout and counted when the payment completes; a payment that does not
complete gives it back. Holding is one UPDATE whose WHERE clause is the limit, so however many
checkouts race, `times_used + held` never passes `max_uses`.
"""

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, Strict, ValidationError, model_validator
from sqlalchemy import func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlmodel.ext.asyncio.session import AsyncSession

from billing.models import DiscountCode, Payment
from billing.rules import floor_ms
from shared.clock import Clock
from shared.contracts import payments as p
from shared.db import SessionFactory, transaction
from shared.errors import NotFound, ValidationFailed

CODE = DiscountCode.__table__
PAY = Payment.__table__
# A payment holding or having used a code counts against the user's own limit.
USING = ("pending", "completed")
FIELD = "discount_code"

# Why a code cannot be used; the gateway shows each in the user's language (gateway/error_texts.py).
REASONS = {
    "unknown": "This discount code does not exist.",
    "inactive": "This discount code is not active.",
    "not_started": "This discount code is not valid yet.",
    "expired": "This discount code has expired.",
    "wrong_plan": "This discount code is not for this plan.",
    "used_up": "This discount code has been used up.",
    "used_up_for_user": "You have already used this discount code.",
}


def refused(reason: str) -> ValidationFailed:
    return ValidationFailed(REASONS[reason], fields={FIELD: [REASONS[reason]]}, reason=reason)


class CodeFields(BaseModel):
    model_config = ConfigDict(extra="ignore")

    code: str = Field(min_length=1, max_length=64, pattern=r"^\S+$")
    discount_type: Literal["percentage", "fixed"]
    discount_value: Decimal = Field(ge=0, le=Decimal("999999999999.99"), decimal_places=2)
    subscription_type_ids: list[Annotated[int, Strict(), Field(ge=1)]] = Field(default_factory=list, max_length=1000)
    max_uses: Annotated[int, Strict(), Field(ge=1, le=2_000_000_000)] | None = None
    max_uses_per_user: Annotated[int, Strict(), Field(ge=1, le=2_000_000_000)] = 1
    valid_from: datetime | None = None  # None: now
    valid_until: datetime | None = None
    is_active: Annotated[bool, Strict()] = True

    @model_validator(mode="after")
    def _consistent(self) -> "CodeFields":
        if self.discount_type == "percentage" and self.discount_value > 100:
            raise ValueError("discount_value: a percentage is at most 100.")
        if self.valid_until and self.valid_from and self.valid_until <= self.valid_from:
            raise ValueError("valid_until: must be after valid_from.")
        return self


REQUIRED = ("code", "discount_type", "discount_value")
WRITABLE = tuple(CodeFields.model_fields)


def _validate(data: dict[str, Any]) -> CodeFields:
    missing = [k for k in REQUIRED if data.get(k) in (None, "")]
    if missing:
        raise ValidationFailed("Required fields are missing.", fields={k: ["This field is required."] for k in missing})
    try:
        return CodeFields.model_validate(data)
    except ValidationError as exc:
        fields: dict[str, list[str]] = {}
        for error in exc.errors():
            name = str(error["loc"][0]) if error["loc"] else ""
            message = str(error["msg"]).removeprefix("Value error, ")
            if not name and ": " in message:
                name, message = message.split(": ", 1)
            fields.setdefault(name or "non_field_errors", []).append(message)
        raise ValidationFailed("Invalid discount code.", fields=fields) from exc


def code_out(row: DiscountCode) -> p.DiscountCode:
    return p.DiscountCode.model_validate(row, from_attributes=True)


class DiscountCodes:
    def __init__(self, factory: SessionFactory, clock: Clock) -> None:
        self.factory = factory
        self.clock = clock

    # --- admin ------------------------------------------------------------------------------------

    async def list(self) -> list[p.DiscountCode]:
        async with self.factory() as s:
            rows = (await s.exec(select(DiscountCode).order_by(DiscountCode.id))).scalars().all()
            return [code_out(r) for r in rows]

    async def get(self, code_id: int) -> p.DiscountCode:
        async with self.factory() as s:
            row = await s.get(DiscountCode, code_id)
            if row is None:
                raise NotFound()
            return code_out(row)

    async def save(self, q: p.SaveDiscountCode) -> p.DiscountCode:
        fields = {k: v for k, v in q.fields.sent().items() if k in WRITABLE}
        if q.code_id is not None:
            current = (await self.get(q.code_id)).model_dump()
            base = {k: current[k] for k in WRITABLE} if q.partial else {k: current[k] for k in REQUIRED}
            fields = {**base, **fields}
        values = _validate(fields)
        now = floor_ms(self.clock.now())
        data = values.model_dump()
        data["valid_from"] = data["valid_from"] or now
        try:
            async with transaction(self.factory) as s:
                clash = (await s.exec(select(DiscountCode.id).where(DiscountCode.code_key == values.code.lower()))).first()
                if clash is not None and clash[0] != q.code_id:
                    raise _taken()
                if q.code_id is None:
                    row = DiscountCode(**data, code_key=values.code.lower(), created_at=now)
                else:
                    row = await s.get(DiscountCode, q.code_id)
                    if row is None:
                        raise NotFound()
                    for key, value in data.items():
                        setattr(row, key, value)
                    row.code_key = values.code.lower()
                s.add(row)
                await s.flush()
                return code_out(row)
        except IntegrityError as exc:  # a concurrent save took the code first
            raise _taken() from exc

    async def delete(self, code_id: int) -> None:
        async with transaction(self.factory) as s:
            row = await s.get(DiscountCode, code_id)
            if row is None:
                raise NotFound()
            used = (await s.exec(select(func.count()).select_from(PAY).where(PAY.c.discount_code_id == code_id))).one()
            if used[0]:
                # payments keep pointing at it; deactivate instead
                row.is_active = False
                s.add(row)
            else:
                await s.delete(row)

    # --- checkout ---------------------------------------------------------------------------------

    async def find_usable(self, s: AsyncSession, code: str, plan_id: int, user_id: int, now: datetime) -> DiscountCode:
        """The code, if this user may use it on this plan now (refused() says why not)."""
        row = (await s.exec(select(DiscountCode).where(DiscountCode.code_key == code.strip().lower()))).scalars().first()
        if row is None:
            raise refused("unknown")
        if not row.is_active:
            raise refused("inactive")
        if row.valid_from > now:
            raise refused("not_started")
        if row.valid_until is not None and row.valid_until <= now:
            raise refused("expired")
        if row.subscription_type_ids and plan_id not in row.subscription_type_ids:
            raise refused("wrong_plan")
        if row.max_uses is not None and row.times_used + row.held >= row.max_uses:
            raise refused("used_up")
        mine = select(func.count()).select_from(PAY).where(
            PAY.c.discount_code_id == row.id, PAY.c.user_id == user_id, PAY.c.status.in_(USING)
        )
        if (await s.exec(mine)).one()[0] >= row.max_uses_per_user:
            raise refused("used_up_for_user")
        return row


async def hold_use(s: AsyncSession, code_id: int) -> bool:
    """Take one use for a pending checkout; False when none is left (concurrent checkouts lost)."""
    result = await s.exec(
        update(CODE)
        .where(CODE.c.id == code_id, or_(CODE.c.max_uses.is_(None), CODE.c.times_used + CODE.c.held < CODE.c.max_uses))
        .values(held=CODE.c.held + 1)
    )
    return result.rowcount == 1


async def count_use(s: AsyncSession, code_id: int) -> None:
    """The payment completed: its held use becomes a use."""
    await s.exec(update(CODE).where(CODE.c.id == code_id).values(held=CODE.c.held - 1, times_used=CODE.c.times_used + 1))


async def give_back(s: AsyncSession, code_id: int) -> None:
    """The payment failed, was cancelled or expired: its held use is free again."""
    await s.exec(update(CODE).where(CODE.c.id == code_id, CODE.c.held > 0).values(held=CODE.c.held - 1))


def _taken() -> ValidationFailed:
    message = "A discount code with this code already exists."
    return ValidationFailed(message, fields={"code": [message]})
