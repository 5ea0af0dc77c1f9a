"""The send / edit / regenerate flow (architecture §3): the gateway hands the exchange to chat in one
request; chat claims the session, builds the prompt, has billing admit and reserve, stores the
message with its reply command, and answers once. When that answer does not come (a timeout, the
broker gone, the client gone), whether chat stored the exchange decides: the gateway asks, and chat
either answers the stored exchange or frees the claim (billing's reservation is then released by
the `ExchangeAbandoned` event chat queues)."""

import asyncio
import logging
from uuid import UUID, uuid4

from gateway.plans import PlanCache
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
) -> c.ExchangeStored:
    """Run one exchange; answers the stored exchange (its `rate_limit` None when the first answer was
    lost and the exchange found stored: its rate headers are unknown)."""
    request = c.RunExchange(
        user_id=user_id, session_id=session_id, plan_id=await plans.plan_id(user_id), exchange_id=uuid4(),
        kind=kind, content=content, message_id=message_id,
    )
    try:
        return await rpc.call(c.RpcNames.RUN_EXCHANGE, request, c.ExchangeStored)
    except (Unavailable, asyncio.CancelledError) as exc:  # no answer, or chat could not finish
        outcome = await _abandon(rpc, c.AbandonExchange(user_id=user_id, session_id=session_id,
                                                        exchange_id=request.exchange_id))
        if outcome is None or isinstance(exc, asyncio.CancelledError):
            raise
        # Stored after all (its answer was lost): billed on its completion, answered 201.
        log.info("exchange %s was stored although its answer was %r", request.exchange_id, exc)
        return outcome


async def _abandon(rpc: RpcClient, abandon: c.AbandonExchange) -> c.ExchangeStored | None:
    """Give the session's claim back; the stored exchange if it had been stored. None also when chat
    cannot say: then the claim goes stale by itself (and is released with its reservation), and
    the store step itself refused to commit past the request's deadline."""
    try:
        return await rpc.call(c.RpcNames.ABANDON_EXCHANGE, abandon, c.ExchangeStored | None)
    except DomainError:
        log.warning("could not abandon exchange %s; its claim goes stale by itself", abandon.exchange_id)
        return None
