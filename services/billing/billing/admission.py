"""Admission (business-rules §5): decide and reserve one exchange atomically, or deny it with the
first limit that fails; and release what an exchange that will never complete still holds."""

import logging
from datetime import datetime, timedelta
from decimal import Decimal
from uuid import UUID

from billing import repository as repo
from billing.batcher import WriteBatcher
from billing.limiter import PERIOD, Admitted, AlreadyCommitted, Denied, ExchangeTerms, UsageLimiter
from billing.rules import (
    LIMITS,
    effective_tokens,
    floor_ms,
    multiplier_fraction,
    nano_to_usd,
    plan_limits,
    price_nano_per_token,
    seconds_ceil,
    to_ms,
    usd_text,
    with_margin,
)
from billing.subscriptions import Period, Subscriptions
from billing.windows import Windows
from shared import metrics
from shared.bounds import (
    MAX_MODEL_TOKENS,
    MAX_PRICE_USD_PER_MTOK,
    MAX_TOKEN_COST_MULTIPLIER,
    PRICE_PLACES,
    decimal_within,
)
from shared.clock import Clock
from shared.contracts import billing as b
from shared.errors import Conflict, LimitExceeded, Unavailable, ValidationFailed

log = logging.getLogger(__name__)
# The bounds the admin API enforces (shared.bounds): they also keep every product the Lua script forms
# below 2^53, where its doubles stop being exact. A model the admin accepts is always admitted.
MAX_TOKENS_ANY = MAX_MODEL_TOKENS
MAX_MULTIPLIER = MAX_TOKEN_COST_MULTIPLIER
MAX_PRICE = MAX_PRICE_USD_PER_MTOK  # USD per million tokens
MULTIPLIER_PLACES = 4  # wider than the admin's 2 places: the limiter's arithmetic is exact to 4
# What a model whose prices are unknown is reserved at, per million prompt and completion tokens:
# the highest price OpenRouter lists for any model (o1-pro's completion price), so the estimate
# bounds the real cost of whatever model it is. Setting UNPRICED_MODEL_USD_PER_MTOK overrides it.
UNPRICED_USD_PER_MTOK = Decimal("600")


def _decimal_ok(value: Decimal, top: Decimal, places: int) -> bool:
    return decimal_within(value, top, places)


def _check(q: b.AdmitExchange) -> None:
    problems = {}
    if not 0 <= q.prompt_tokens <= MAX_TOKENS_ANY:
        problems["prompt_tokens"] = [f"Must be from 0 to {MAX_TOKENS_ANY}."]
    if not 1 <= q.max_reply_tokens <= MAX_TOKENS_ANY:
        problems["max_reply_tokens"] = [f"Must be from 1 to {MAX_TOKENS_ANY}."]
    if not _decimal_ok(q.token_cost_multiplier, MAX_MULTIPLIER, MULTIPLIER_PLACES):
        problems["token_cost_multiplier"] = [f"Must be from 0 to {MAX_MULTIPLIER}, at most {MULTIPLIER_PLACES} decimals."]
    for name in ("prompt_price_usd_per_mtok", "completion_price_usd_per_mtok"):
        price = getattr(q, name)
        if price is not None and not _decimal_ok(price, MAX_PRICE, PRICE_PLACES):
            problems[name] = [f"Must be from 0 to {MAX_PRICE}, at most {PRICE_PLACES} decimals."]
    if problems:
        raise ValidationFailed("Invalid admission request.", fields=problems)


def denial_message(name: str) -> str:
    return f"You have reached your {name.replace('_', ' ')} limit."


class Admissions:
    def __init__(self, batcher: WriteBatcher, limiter: UsageLimiter, windows: Windows,
                 subscriptions: Subscriptions, clock: Clock, *, prompt_margin_percent: int = 0,
                 unpriced_usd_per_mtok: Decimal = UNPRICED_USD_PER_MTOK) -> None:
        self.batcher = batcher
        self.unpriced = unpriced_usd_per_mtok
        self.limiter = limiter
        self.windows = windows
        self.subscriptions = subscriptions
        self.clock = clock
        self.margin = prompt_margin_percent

    async def admit(self, q: b.AdmitExchange) -> b.Admission:
        _check(q)
        sub, plan = await self.subscriptions.current(q.user_id)
        now = floor_ms(self.clock.now())
        num, den = multiplier_fraction(q.token_cost_multiplier, q.is_free_model)
        # Every reservation carries a cost estimate, so the cost cap holds under concurrency like every
        # other limit: a price the catalog does not know is reserved at the deliberately high
        # UNPRICED_MODEL_USD_PER_MTOK (business-rules §5). The commit still bills the real cost.
        prompt_price = q.prompt_price_usd_per_mtok if q.prompt_price_usd_per_mtok is not None else self.unpriced
        completion_price = (q.completion_price_usd_per_mtok if q.completion_price_usd_per_mtok is not None
                            else self.unpriced)
        terms = ExchangeTerms(
            exchange_id=q.exchange_id,
            period_start_ms=to_ms(sub.start_date),
            is_free=q.is_free_model,
            multiplier_num=num,
            multiplier_den=den,
            prompt_tokens=with_margin(q.prompt_tokens, self.margin),
            max_reply_tokens=q.max_reply_tokens,
            is_image=q.is_image,
            prompt_nano_per_token=price_nano_per_token(prompt_price),
            completion_nano_per_token=price_nano_per_token(completion_price),
        )
        limits = plan_limits(plan)
        result = await self.windows.run(
            q.user_id, sub, lambda: self.limiter.admit(q.user_id, to_ms(now), terms, limits)
        )
        if isinstance(result, Denied):
            metrics.record_denial(LIMITS[result.index].name)
            raise self._denial(result, sub, plan, now)
        if isinstance(result, AlreadyCommitted):
            raise Conflict("This exchange has already been billed.", code="exchange_already_billed")
        await self._record(q, sub, terms, result, now)
        metrics.ADMISSIONS.labels("admitted").inc()
        rate = None
        if result.rate_limit is not None:
            limit, remaining, reset_ms = result.rate_limit
            rate = b.RateLimitInfo(limit=limit, remaining=remaining, reset_seconds=seconds_ceil(reset_ms))
        return b.Admission(exchange_id=q.exchange_id, max_tokens=result.max_tokens, rate_limit=rate)

    async def _record(self, q: b.AdmitExchange, sub: Period, terms: ExchangeTerms, result: Admitted,
                      now: datetime) -> None:
        """The durable copy of the reservation: its commit is billed on these terms, and a rebuild
        of the windows counts it while it is open."""
        cap = result.max_tokens
        cost = 0
        if terms.prompt_nano_per_token is not None and terms.completion_nano_per_token is not None:
            cost = terms.prompt_tokens * terms.prompt_nano_per_token + cap * terms.completion_nano_per_token
        values = dict(
            exchange_id=q.exchange_id, user_id=q.user_id, session_id=q.session_id, subscription_id=sub.id,
            model=q.model, is_free_model=q.is_free_model, token_cost_multiplier=q.token_cost_multiplier,
            prompt_tokens=terms.prompt_tokens, max_tokens=cap,
            reserved_tokens=effective_tokens(terms.prompt_tokens + cap, q.token_cost_multiplier, q.is_free_model),
            reserved_cost_nano=cost, is_image=q.is_image, prompt_price_usd_per_mtok=q.prompt_price_usd_per_mtok,
            completion_price_usd_per_mtok=q.completion_price_usd_per_mtok, admitted_at=now,
            expires_at=now + timedelta(milliseconds=self.limiter.ttl_ms), status="open",
        )
        try:
            await self.batcher.run(lambda conn: repo.insert_reservation(conn, values))
        except Exception:
            # without its durable copy the reservation must not hold budget, nor be billed later
            await self._release_quietly(q.user_id, q.exchange_id)
            raise
        # A rebuild between the reservation and its row would have missed it: rebuild again, now
        # that the row exists.
        if await self.limiter.epoch(q.user_id) != result.epoch:
            await self.windows.rebuild(q.user_id, sub, force=True)

    async def _release_quietly(self, user_id: int, exchange_id: UUID) -> None:
        try:
            await self.limiter.release(user_id, to_ms(floor_ms(self.clock.now())), exchange_id)
        except Unavailable:
            log.warning("could not release reservation %s; it expires by itself", exchange_id)

    def _denial(self, denied: Denied, sub: Period, plan: b.Plan, now: datetime) -> LimitExceeded:
        spec = LIMITS[denied.index]
        if denied.retry_ms is None or denied.retry_ms == PERIOD:
            # Never by itself, or a period total (max_tokens, max_tokens_free, the cost cap): only a
            # new subscription resets those, so there is no time to promise (api.md §4: null, and
            # no Retry-After header). A period's end is no promise either: the next period may be
            # on a plan with the same totals, and an operator may change the subscription first.
            retry = None
        else:
            retry = seconds_ceil(denied.retry_ms)
        limit: int | str = denied.limit
        used: int | str = denied.used
        if spec.kind == "cost":
            limit = str(plan.max_openrouter_cost_usd)
            used = usd_text(nano_to_usd(denied.used))
        info = b.DeniedLimit(name=spec.name, limit=limit, used=used, retry_after=retry)
        return LimitExceeded(denial_message(spec.name), limit=info.model_dump())

    async def release(self, exchange_id: UUID, user_id: int, reason: str = "released") -> None:
        """Free what an exchange holds (`ReplyFailed`, `ExchangeAbandoned`); a no-op once committed.
        A release is only ever an event: it is never lost, and a redelivery changes nothing. `reason`
        is kept for the reports (failed replies)."""
        at = floor_ms(self.clock.now())
        if not await self.batcher.run(lambda conn: repo.release_reservation(conn, exchange_id, user_id, reason, at)):
            return  # unknown, another user's, or released before
        metrics.RESERVATIONS.labels("released").inc()
        try:
            await self.limiter.release(user_id, to_ms(floor_ms(self.clock.now())), exchange_id)
        except Unavailable:
            # the ledger says released; the next admission rebuilds the windows from it
            now = floor_ms(self.clock.now())
            await self.batcher.run(lambda conn: repo.mark_windows_stale(conn, user_id, now))
