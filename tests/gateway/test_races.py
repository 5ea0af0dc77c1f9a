"""Concurrent requests against the same account: limits hold exactly, and a unique phone stays unique."""

import asyncio

from gateway.otp import COOLDOWN_SECONDS
from gateway.repository import UserRepository
from gateway.throttle import ACCOUNT_LIMIT

from tests.gateway.support import PASSWORD, client_for, register


async def test_a_burst_of_guesses_gets_exactly_five_tries(gateway, phones):
    phone = phones()
    async with client_for(gateway) as http:
        await register(http, phone)
        answers = await asyncio.gather(*(
            http.post("/api/auth/login/", json={"phone_number": phone, "password": f"guess {i}"}) for i in range(20)
        ))
    statuses = sorted(a.status_code for a in answers)
    assert statuses == [401] * ACCOUNT_LIMIT + [429] * (20 - ACCOUNT_LIMIT)


async def test_concurrent_sign_ups_with_one_phone_create_one_user(gateway, phones, sms):
    phone = phones()
    async with client_for(gateway) as http:
        started = await http.post("/api/auth/register/", json={"phone_number": phone, "name": "U", "password": PASSWORD})
        registration_id = started.json()["registration_id"]
        code = sms.last_code(phone)
        # The same code and registration completed five times at once (a double-tapping app).
        answers = await asyncio.gather(*(
            http.post("/api/auth/otp/verify/",
                      json={"phone_number": phone, "code": code, "registration_id": registration_id})
            for _ in range(5)
        ))
    statuses = sorted(a.status_code for a in answers)
    assert statuses[0] == 200 and all(status in (400, 409) for status in statuses[1:]), statuses
    async with gateway.state.runtime.auth.factory() as s:
        assert await UserRepository(s).by_phone(phone) is not None


async def test_concurrent_code_requests_send_one_code(gateway, phones, sms):
    phone = phones()
    async with client_for(gateway) as http:
        answers = await asyncio.gather(*(
            http.post("/api/auth/otp/request/", json={"phone_number": phone}) for _ in range(8)
        ))
    assert sorted(a.status_code for a in answers) == [200] + [429] * 7
    assert len([p for p, _ in sms.sent if p == phone]) == 1
    assert all(int(a.headers["Retry-After"]) <= COOLDOWN_SECONDS for a in answers if a.status_code == 429)


class BrokenAnnouncer:
    async def user_registered(self, user) -> None:
        raise ConnectionError("broker unreachable")


async def test_a_failed_publish_does_not_fail_the_sign_up(gateway, phones, caplog):
    gateway.state.runtime.auth.events = BrokenAnnouncer()
    async with client_for(gateway) as http:
        user = await register(http, phones())
        assert (await http.get("/api/users/")).json()["id"] == user["id"]
    assert any("UserRegistered" in r.getMessage() for r in caplog.records)
