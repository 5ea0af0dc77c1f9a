"""The caller's plan id, cached in Redis for a few seconds.

Nearly every route needs the plan (catalog access, sessions, sends); asking billing each time cost
an RPC round trip per request. Routes that change a subscription drop the user's entry at once, and
an entry never outlives the subscription's end date; plan edits by staff (rare) show within the TTL.
"""

import math
from datetime import UTC

from faststream.rabbit import RabbitRouter
from redis.asyncio import Redis

from shared import topology
from shared.clock import Clock
from shared.consumers import redeliver_on_error
from shared.contracts import billing as b
from shared.rpc import RpcClient

PREFIX = "mobix:gw:plan:"


class PlanCache:
    def __init__(self, redis: Redis, rpc: RpcClient, clock: Clock, *, ttl_seconds: int) -> None:
        self.redis = redis
        self.rpc = rpc
        self.clock = clock
        self.ttl_seconds = ttl_seconds

    async def plan_id(self, user_id: int) -> int:
        key = f"{PREFIX}{user_id}"
        cached = await self.redis.get(key)
        if cached is not None:
            return int(cached)
        subscription = await self.rpc.call(b.RpcNames.GET_SUBSCRIPTION, b.GetSubscription(user_id=user_id), b.Subscription)
        ttl = self.ttl_seconds
        if subscription.end_date is not None:
            end = subscription.end_date
            end = end if end.tzinfo else end.replace(tzinfo=UTC)
            left = (end - self.clock.now()).total_seconds()
            ttl = min(ttl, max(1, math.ceil(left)))
        if ttl > 0:
            await self.redis.set(key, subscription.subscription_type.id, ex=ttl)
        return subscription.subscription_type.id

    async def forget(self, user_id: int) -> None:
        await self.redis.delete(f"{PREFIX}{user_id}")


def build_plan_events_router(redis: Redis) -> RabbitRouter:
    """A new period (payment, admin change, refund) drops the user's copy at once, whichever
    gateway replica served the request that started it."""
    router = RabbitRouter()

    @router.subscriber(topology.GATEWAY_SUBSCRIPTION_STARTED, exchange=topology.EVENTS)
    @redeliver_on_error(topology.GATEWAY_SUBSCRIPTION_STARTED.name)
    async def on_subscription_started(event: b.SubscriptionStarted) -> None:
        await redis.delete(f"{PREFIX}{event.user_id}")

    return router
