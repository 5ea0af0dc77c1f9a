"""Events published by the gateway."""

from shared.contracts.base import Message


class UserRegistered(Message):
    user_id: int
    phone_number: str
