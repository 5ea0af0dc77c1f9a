"""The send / edit / regenerate flow (architecture §3): plan → chat prepares → billing admits and
reserves → chat stores the message and queues the reply (outbox). The reservation is released when
the store step fails, so a denied or failed request never keeps budget."""

import asyncio
import logging
from uuid import UUID

from gateway.plans import PlanCache
from shared.contracts import billing as b
from shared.contracts import chat as c
from shared.errors import DomainError
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
) -> tuple[c.ExchangeStored, b.Admission]:
    request = c.PrepareExchange(
        user_id=user_id, session_id=session_id, plan_id=await plans.plan_id(user_id), kind=kind, content=content,
        message_id=message_id,
    )
    plan = await rpc.call(c.Queries.PREPARE_EXCHANGE, request, c.ExchangePlan)
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
    commit = c.CommitExchange(**request.model_dump(), exchange_id=plan.exchange_id, max_tokens=admission.max_tokens)
    try:
        stored = await rpc.call(c.Queries.COMMIT_EXCHANGE, commit, c.ExchangeStored)
    except (DomainError, asyncio.CancelledError):  # a 409, a vanished session, a client gone: budget back
        await _release(rpc, plan.exchange_id, user_id)
        raise
    return stored, admission


async def _release(rpc: RpcClient, exchange_id: UUID, user_id: int) -> None:
    # Best effort: an unreleased reservation also expires by itself (billing's reservation TTL).
    try:
        await rpc.call(b.Queries.RELEASE, b.ReleaseExchange(exchange_id=exchange_id, user_id=user_id))
    except DomainError:
        log.warning("could not release reservation %s; it will expire", exchange_id)
