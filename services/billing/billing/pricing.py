"""Pure money rules of selling plans (payments.md): the upgrade credit and the discount, in exact
integer arithmetic on the currency's smallest unit, so no float or rounding context ever decides."""

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

# Decimal places of a currency's unit; the toman and rial are paid in whole units.
UNIT_PLACES = {"IRT": 0, "IRR": 0, "JPY": 0, "KRW": 0}
DEFAULT_PLACES = 2
MICROSECOND = timedelta(microseconds=1)


def places(currency: str) -> int:
    return UNIT_PLACES.get(currency.upper(), DEFAULT_PLACES)


def _units(value: Decimal, currency: str) -> int:
    """`value` in whole units of the currency, rounded down."""
    return int(value.scaleb(places(currency)).to_integral_value(rounding="ROUND_FLOOR"))


def _money(units: int, currency: str) -> Decimal:
    return Decimal(units).scaleb(-places(currency)).quantize(Decimal("0.01"))


def floor_to_unit(value: Decimal, currency: str) -> Decimal:
    return _money(_units(value, currency), currency)


def upgrade_credit(price: Decimal, currency: str, start: datetime, end: datetime | None, now: datetime,
                   new_price: Decimal, new_currency: str) -> Decimal:
    """What is left of the current paid period: price × time left ÷ period length, rounded down to
    the unit, at most the new plan's price. Nothing for a free, open-ended or other-currency plan."""
    if price <= 0 or end is None or end <= start or currency != new_currency:
        return Decimal("0.00")
    total = (end - start) // MICROSECOND
    left = min(max((end - now) // MICROSECOND, 0), total)
    credit = _units(price, currency) * left // total
    return min(_money(credit, currency), floor_to_unit(new_price, currency))


@dataclass(frozen=True)
class Amounts:
    original_amount: Decimal
    credit_amount: Decimal
    discount_amount: Decimal
    amount: Decimal


def amounts(original: Decimal, credit: Decimal, currency: str, discount_type: str | None = None,
            discount_value: Decimal = Decimal(0)) -> Amounts:
    """amount = original − credit − discount, never below 0; a percentage applies to what is left
    after the credit, a fixed discount is at most that."""
    original = floor_to_unit(original, currency)
    due = original - credit
    discount = Decimal(0)
    if discount_type == "percentage":
        discount = floor_to_unit(due * discount_value / 100, currency)
    elif discount_type == "fixed":
        discount = floor_to_unit(discount_value, currency)
    discount = min(max(discount, Decimal(0)), due)
    q = Decimal("0.01")
    return Amounts(original.quantize(q), credit.quantize(q), discount.quantize(q), (due - discount).quantize(q))
