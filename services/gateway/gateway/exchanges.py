"""The send / edit / regenerate flow (architecture §3): plan → chat prepares (and claims the session)
→ billing admits and reserves → chat stores the message and queues the reply (outbox). The claim and
the reservation are given back when the exchange goes no further, so a denied or failed request never
keeps budget or blocks its session; a commit whose answer was lost is found, not released."""

import asyncio
import logging
from uuid import UUID

from gateway.plans import PlanCache
from shared.contracts import billing as b
from shared.contracts import chat as c
from shared.errors import DomainError, Unavailable
from shared.rpc import RpcClient

log = logging.getLogger(__name__)


async def run_exchange(
    rpc: RpcClient,
    plans: PlanCache,
    user_id: int,
    session_id: int,
    kind: c.ExchangeKind,
    content: str | None = None,
    message_id: UUID | None = None,
) -> tuple[c.ExchangeStored, b.Admission | None]:
    """Run one exchange; answers the stored exchange and its admission (None when a commit that
    timed out turned out to have been stored: its rate headers are unknown)."""
    request = c.PrepareExchange(
        user_id=user_id, session_id=session_id, plan_id=await plans.plan_id(user_id), kind=kind, content=content,
        message_id=message_id,
    )
    # Prepare claims the session (409 before any admission); from here every way out that stores
    # nothing gives the claim back.
    plan = await rpc.call(c.Queries.PREPARE_EXCHANGE, request, c.ExchangePlan)
    abandon = c.AbandonExchange(user_id=user_id, session_id=session_id, exchange_id=plan.exchange_id)
    try:
        admission = await rpc.call(
            b.Queries.ADMIT,
            b.AdmitExchange(
                user_id=user_id, exchange_id=plan.exchange_id, session_id=session_id, model=plan.model,
                is_free_model=plan.is_free_model, token_cost_multiplier=plan.token_cost_multiplier,
                prompt_tokens=plan.prompt_tokens, max_reply_tokens=plan.max_reply_tokens, is_image=plan.is_image,
                prompt_price_usd_per_mtok=plan.prompt_price_usd_per_mtok,
                completion_price_usd_per_mtok=plan.completion_price_usd_per_mtok,
            ),
            b.Admission,
        )
    except (DomainError, asyncio.CancelledError) as exc:
        await _abandon(rpc, abandon)
        if isinstance(exc, Unavailable):  # admitted or not, we cannot tell: budget back
            await _release(rpc, plan.exchange_id, user_id)
        raise
    commit = c.CommitExchange(**request.model_dump(), exchange_id=plan.exchange_id, max_tokens=admission.max_tokens)
    try:
        stored = await rpc.call(c.Queries.COMMIT_EXCHANGE, commit, c.ExchangeStored)
    except (DomainError, asyncio.CancelledError) as exc:  # a 409, a timeout, a client gone
        # The commit point decides the answer: abandoning is ordered with a late commit on the
        # session row, so either the commit had happened (answer it: 201, billed on completion)
        # or it never will (release the budget, answer the error).
        outcome = await _abandon(rpc, abandon)
        if isinstance(outcome, c.ExchangeStored):  # stored: billed on its completion, never released
            log.info("exchange %s was stored although its commit answered %r", plan.exchange_id, exc)
            if isinstance(exc, asyncio.CancelledError):
                raise
            return outcome, None
        if outcome is not _UNKNOWN:
            await _release(rpc, plan.exchange_id, user_id)
        # Unknown (chat unreachable): the reservation stays until a completion bills it or its TTL
        # frees it; the commit itself refuses to happen past the request's deadline.
        raise
    return stored, admission


_UNKNOWN = object()


async def _abandon(rpc: RpcClient, abandon: c.AbandonExchange) -> c.ExchangeStored | None | object:
    """Give the session's claim back; the stored exchange if it had been stored, _UNKNOWN if chat
    could not say (the claim then goes stale by itself)."""
    try:
        return await rpc.call(c.Queries.ABANDON_EXCHANGE, abandon, c.ExchangeStored | None)
    except DomainError:
        log.warning("could not abandon exchange %s; its claim goes stale by itself", abandon.exchange_id)
        return _UNKNOWN


async def _release(rpc: RpcClient, exchange_id: UUID, user_id: int) -> None:
    # Best effort: an unreleased reservation also expires by itself (billing's reservation TTL).
    try:
        await rpc.call(b.Queries.RELEASE, b.ReleaseExchange(exchange_id=exchange_id, user_id=user_id))
    except DomainError:
        log.warning("could not release reservation %s; it will expire", exchange_id)
