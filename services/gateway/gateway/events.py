"""The gateway's events on the broker: `UserRegistered` (billing opens the default plan)."""

from faststream.rabbit import RabbitBroker

from gateway.models import User
from shared.contracts.gateway import UserRegistered
from shared.topology import EVENTS, Keys


class UserEvents:
    def __init__(self, broker: RabbitBroker) -> None:
        # Persistent, confirmed and mandatory (shared.broker): a publish that is not stored raises.
        self._registered = broker.publisher(
            exchange=EVENTS, routing_key=Keys.USER_REGISTERED, schema=UserRegistered, persist=True
        )

    async def user_registered(self, user: User) -> None:
        event = UserRegistered(user_id=user.id, phone_number=user.phone_number)
        await self._registered.publish(event, message_id=str(event.message_id))
