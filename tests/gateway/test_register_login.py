"""Register and password login over the real app: answers, phone normalisation, and throttling."""

import pytest
from gateway.throttle import ACCOUNT_LIMIT, IP_LIMIT, WINDOW_SECONDS

from tests.gateway.support import PASSWORD, client_for, register


async def test_register_sends_a_code_and_creates_nothing_until_it_comes_back(client, phones, sms, redis):
    phone = phones()
    response = await client.post(
        "/api/auth/register/", json={"phone_number": phone, "name": "سارا", "password": PASSWORD}
    )
    assert response.status_code == 202
    body = response.json()
    assert set(body) == {"detail", "retry_after", "registration_id"} and body["retry_after"] == 60
    assert "sessionid" not in response.cookies
    code = sms.last_code(phone)
    # Nothing exists yet: the password does not log in, and the stored registration has no clear password.
    early = await client.post("/api/auth/login/", json={"phone_number": phone, "password": PASSWORD})
    assert early.status_code == 401
    stored = [await redis.get(k) async for k in redis.scan_iter(match="mobix:gw:registration:id:*")]
    assert stored and not any(PASSWORD in (value or "") for value in stored)
    verified = await client.post("/api/auth/otp/verify/", json={
        "phone_number": phone, "code": code, "registration_id": body["registration_id"],
    })
    assert verified.status_code == 200
    user = verified.json()
    assert set(user) == {"id", "phone_number", "name", "is_verified", "date_joined"}
    assert user["phone_number"] == phone
    assert user["name"] == "سارا"  # Persian round-trips unchanged
    assert user["is_verified"] is True
    assert user["date_joined"].endswith("Z")
    me = await client.get("/api/users/")
    assert me.status_code == 200
    assert me.json() == user
    async with client_for(client._transport.app) as other:  # the registration's password now logs in
        assert (await other.post("/api/auth/login/", json={"phone_number": phone, "password": PASSWORD})).json() == user


async def test_national_number_is_stored_in_e164(client, phones):
    phone = phones()
    national = "0" + phone.removeprefix("+98")  # 0912xxxxxxx
    user = await register(client, national)
    assert user["phone_number"] == phone


async def test_readme_example_number_normalises(client):
    user = await register(client, "09121234567")
    assert user["phone_number"] == "+989121234567"


@pytest.mark.parametrize("bad", ["12", "not a phone", "+98912", "0912123456789", "+1 202 555 01"])
async def test_invalid_phone_is_400_naming_the_field(client, bad):
    response = await client.post("/api/auth/register/", json={"phone_number": bad, "name": "A", "password": PASSWORD})
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "validation_error"
    assert list(body["fields"]) == ["phone_number"]


async def test_phone_taken_is_409_in_any_spelling(client, phones):
    phone = phones()
    await register(client, phone)
    again = await client.post(
        "/api/auth/register/",
        json={"phone_number": "0" + phone.removeprefix("+98"), "name": "Other", "password": PASSWORD},
    )
    assert again.status_code == 409
    assert again.json()["code"] == "phone_number_taken"
    assert again.json()["error"]


async def test_short_password_is_400(client, phones):
    response = await client.post(
        "/api/auth/register/", json={"phone_number": phones(), "name": "Sara", "password": "1234567"}
    )
    assert response.status_code == 400
    assert "password" in response.json()["fields"]


async def test_every_bad_field_is_reported_at_once(client):
    response = await client.post("/api/auth/register/", json={"phone_number": "x", "name": "  ", "password": "short"})
    assert response.status_code == 400
    assert set(response.json()["fields"]) == {"phone_number", "name", "password"}


async def test_missing_fields_are_named(client):
    response = await client.post("/api/auth/register/", json={"name": "Sara"})
    assert response.status_code == 400
    assert response.json()["fields"] == {
        "phone_number": ["This field is required."],
        "password": ["This field is required."],
    }


async def test_login_answers_the_user_and_sets_both_cookies(gateway, phones):
    phone = phones()
    async with client_for(gateway) as first:
        user = await register(first, phone)
    async with client_for(gateway) as http:
        response = await http.post("/api/auth/login/", json={"phone_number": phone, "password": PASSWORD})
        assert response.status_code == 200
        assert response.json() == user
        assert http.cookies.get("sessionid") and http.cookies.get("csrftoken")
        assert (await http.get("/api/users/")).json()["id"] == user["id"]


async def test_login_accepts_the_national_number(gateway, phones):
    phone = phones()
    async with client_for(gateway) as http:
        await register(http, phone)
        response = await http.post(
            "/api/auth/login/", json={"phone_number": "0" + phone.removeprefix("+98"), "password": PASSWORD}
        )
        assert response.status_code == 200


async def test_wrong_password_and_unknown_phone_get_the_same_401(client, phones):
    known = phones()
    await register(client, known)
    wrong = await client.post("/api/auth/login/", json={"phone_number": known, "password": "wrong password"})
    unknown = await client.post("/api/auth/login/", json={"phone_number": phones(), "password": "wrong password"})
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json()
    assert "detail" in wrong.json()


async def test_five_failures_lock_the_account_for_fifteen_minutes(gateway, phones, clock):
    phone = phones()
    async with client_for(gateway) as http:
        await register(http, phone)
    async with client_for(gateway) as http:
        for _ in range(ACCOUNT_LIMIT):
            failed = await http.post("/api/auth/login/", json={"phone_number": phone, "password": "nope nope"})
            assert failed.status_code == 401
        locked = await http.post("/api/auth/login/", json={"phone_number": phone, "password": PASSWORD})
        assert locked.status_code == 429
        body = locked.json()
        assert body["code"] == "limit_exceeded"
        assert body["limit"]["name"] == "login_failures"
        assert body["limit"]["limit"] == ACCOUNT_LIMIT
        assert 0 < int(locked.headers["Retry-After"]) <= WINDOW_SECONDS
        clock.advance(seconds=WINDOW_SECONDS + 1)
        again = await http.post("/api/auth/login/", json={"phone_number": phone, "password": PASSWORD})
        assert again.status_code == 200


async def test_account_lock_applies_from_any_address(gateway, phones):
    phone = phones()
    for _ in range(ACCOUNT_LIMIT):
        async with client_for(gateway) as http:
            await http.post("/api/auth/login/", json={"phone_number": phone, "password": "nope nope"})
    async with client_for(gateway) as other:
        locked = await other.post("/api/auth/login/", json={"phone_number": phone, "password": "nope nope"})
    assert locked.status_code == 429


async def test_successful_logins_are_not_counted(gateway, phones):
    phone = phones()
    async with client_for(gateway) as http:
        await register(http, phone)
        for _ in range(ACCOUNT_LIMIT + 2):
            ok = await http.post("/api/auth/login/", json={"phone_number": phone, "password": PASSWORD})
            assert ok.status_code == 200


async def test_fifty_failures_from_one_address_block_it(gateway, phones, redis):
    ip = "10.250.250.250"
    await redis.delete(f"mobix:gw:login-fail:ip:{ip}")
    try:
        # Spread over many accounts, each below its own limit.
        per_phone = ACCOUNT_LIMIT - 1
        targets = [phones() for _ in range(IP_LIMIT // per_phone + 1)]
        async with client_for(gateway, ip=ip) as http:
            for i in range(IP_LIMIT):
                phone = targets[i // per_phone]
                failed = await http.post("/api/auth/login/", json={"phone_number": phone, "password": "nope nope"})
                assert failed.status_code == 401, (i, failed.text)
            blocked = await http.post("/api/auth/login/", json={"phone_number": phones(), "password": "x"})
            assert blocked.status_code == 429
            assert blocked.json()["limit"]["name"] == "login_failures_ip"
            assert "Retry-After" in blocked.headers
        async with client_for(gateway) as elsewhere:
            fine = await elsewhere.post("/api/auth/login/", json={"phone_number": phones(), "password": "x"})
            assert fine.status_code == 401
    finally:
        await redis.delete(f"mobix:gw:login-fail:ip:{ip}")


async def test_throttle_message_is_persian_for_fa(gateway, phones):
    phone = phones()
    async with client_for(gateway) as http:
        for _ in range(ACCOUNT_LIMIT):
            await http.post("/api/auth/login/", json={"phone_number": phone, "password": "nope nope"})
        locked = await http.post("/api/auth/login/", json={"phone_number": phone, "password": "nope nope"},
                                 headers={"Accept-Language": "fa-IR"})
    assert locked.status_code == 429
    assert "ورود" in locked.json()["error"]
