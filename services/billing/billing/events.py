"""Billing's events on the broker: `SubscriptionStarted` (the gateway drops its copy of the plan)."""

from faststream.rabbit import RabbitBroker

from shared.contracts.billing import SubscriptionStarted
from shared.topology import EVENTS, Keys


class BillingEvents:
    def __init__(self, broker: RabbitBroker) -> None:
        # Persistent, confirmed and mandatory (shared.broker): a publish that is not stored raises.
        self._started = broker.publisher(
            exchange=EVENTS, routing_key=Keys.SUBSCRIPTION_STARTED, schema=SubscriptionStarted, persist=True
        )

    async def subscription_started(self, event: SubscriptionStarted) -> None:
        await self._started.publish(event, message_id=str(event.message_id))
