"""`UserRegistered` reaches the broker, persistent, exactly when a user is created."""

import asyncio
import json

import aio_pika
import pytest

from shared.contracts.gateway import UserRegistered
from shared.topology import EVENTS, Keys
from tests.gateway.support import client_for, register


@pytest.fixture
async def registrations(gateway_rabbit_url):
    """A private queue bound like billing's, collecting every UserRegistered published meanwhile."""
    connection = await aio_pika.connect_robust(gateway_rabbit_url)
    channel = await connection.channel()
    queue = await channel.declare_queue(exclusive=True, auto_delete=True)
    await queue.bind(EVENTS.name, routing_key=Keys.USER_REGISTERED)
    received: list[aio_pika.abc.AbstractIncomingMessage] = []

    async def collect(message: aio_pika.abc.AbstractIncomingMessage) -> None:
        received.append(message)
        await message.ack()

    await queue.consume(collect)
    yield received
    await connection.close()


async def wait_for(received: list, count: int, timeout: float = 10) -> list[UserRegistered]:
    async with asyncio.timeout(timeout):
        while len(received) < count:
            await asyncio.sleep(0.02)
    return [UserRegistered.model_validate(json.loads(m.body)) for m in received]


async def test_register_publishes_user_registered(client, phones, registrations):
    user = await register(client, phones())
    [event] = await wait_for(registrations, 1)
    assert event.user_id == user["id"]
    assert event.phone_number == user["phone_number"]
    assert registrations[0].delivery_mode == aio_pika.DeliveryMode.PERSISTENT
    assert registrations[0].message_id == str(event.message_id)


async def test_otp_sign_up_publishes_once(gateway, phones, sms, registrations):
    phone = phones()
    async with client_for(gateway) as http:
        await http.post("/api/auth/otp/request/", json={"phone_number": phone})
        created = await http.post("/api/auth/otp/verify/", json={"phone_number": phone, "code": sms.last_code(phone),
                                                                  "name": "Sara"})
        assert created.status_code == 200
    [event] = await wait_for(registrations, 1)
    assert event.user_id == created.json()["id"]


async def test_logins_publish_nothing(gateway, phones, sms, clock, registrations):
    phone = phones()
    async with client_for(gateway) as http:
        await register(http, phone)
        await wait_for(registrations, 1)
        clock.advance(seconds=61)  # past the cooldown of the registration's code
        assert (await http.post("/api/auth/otp/request/", json={"phone_number": phone})).status_code == 200
        assert (await http.post("/api/auth/otp/verify/",
                                json={"phone_number": phone, "code": sms.last_code(phone)})).status_code == 200
        # A marker user proves the broker delivered everything published before it.
        marker = await register(http, phones())
    events = await wait_for(registrations, 2)
    assert [e.user_id for e in events][-1] == marker["id"]
    assert len(events) == 2


async def test_staff_bootstrap_publishes_for_a_new_staff_user(start_gateway, phones, registrations):
    phone = phones()
    await start_gateway(MOBIX_ADMIN_PHONE=phone, MOBIX_ADMIN_PASSWORD="admin password 1")
    [event] = await wait_for(registrations, 1)
    assert event.phone_number == phone
