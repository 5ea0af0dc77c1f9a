"""One-time codes: request (cooldown, hourly cap, same answer for any phone), verify (wrong, expired,
single use, voided on the 5th miss), account creation, and codes stored only as hashes."""

from gateway.otp import COOLDOWN_SECONDS, HOURLY_CODES, MAX_ATTEMPTS, VALID_SECONDS

from tests.gateway.support import client_for, register


def wrong(code: str) -> str:
    return f"{(int(code) + 1) % 1_000_000:06d}"


async def request_code(http, phone: str, **headers: str):
    return await http.post("/api/auth/otp/request/", json={"phone_number": phone}, headers=headers)


async def verify(http, phone: str, code: str, name: str | None = None):
    body = {"phone_number": phone, "code": code}
    if name is not None:
        body["name"] = name
    return await http.post("/api/auth/otp/verify/", json=body)


async def test_request_answers_the_same_for_known_and_unknown_phones(client, phones, sms, clock):
    known, unknown = phones(), phones()
    await register(client, known)
    clock.advance(seconds=COOLDOWN_SECONDS + 1)  # past the cooldown of the registration's code
    answers = [await request_code(client, known), await request_code(client, unknown)]
    assert [a.status_code for a in answers] == [200, 200]
    assert answers[0].json() == answers[1].json()
    assert answers[0].json()["retry_after"] == 60 and answers[0].json()["detail"]
    assert len(sms.last_code(known)) == 6 and sms.last_code(unknown).isdigit()


async def test_national_number_gets_the_code_on_its_e164_form(client, phones, sms):
    phone = phones()
    assert (await request_code(client, "0" + phone.removeprefix("+98"))).status_code == 200
    assert sms.last_code(phone)


async def test_invalid_phone_is_400(client):
    response = await request_code(client, "12345")
    assert response.status_code == 400
    assert list(response.json()["fields"]) == ["phone_number"]


async def test_verify_creates_a_verified_user_and_logs_in(client, phones, sms):
    phone = phones()
    await request_code(client, phone)
    response = await verify(client, phone, sms.last_code(phone), name="نرگس")
    assert response.status_code == 200
    user = response.json()
    assert user["phone_number"] == phone and user["name"] == "نرگس" and user["is_verified"] is True
    assert (await client.get("/api/users/")).json() == user


async def test_verify_logs_an_existing_user_in(gateway, phones, sms, clock):
    phone = phones()
    async with client_for(gateway) as http:
        registered = await register(http, phone)
        assert registered["is_verified"] is True  # registering proves the phone
    clock.advance(seconds=COOLDOWN_SECONDS + 1)
    async with client_for(gateway) as http:
        await request_code(http, phone)
        response = await verify(http, phone, sms.last_code(phone))  # no name needed: the phone is known
        assert response.status_code == 200
        assert response.json()["id"] == registered["id"]
        assert response.json()["is_verified"] is True


async def test_new_phone_without_name_is_400_and_keeps_the_code(client, phones, sms):
    phone = phones()
    await request_code(client, phone)
    code = sms.last_code(phone)
    missing = await verify(client, phone, code)
    assert missing.status_code == 400
    assert list(missing.json()["fields"]) == ["name"]
    assert (await verify(client, phone, code, name="Sara")).status_code == 200


async def test_the_name_is_not_asked_before_the_code_is_right(client, phones, sms):
    phone = phones()
    await request_code(client, phone)
    response = await verify(client, phone, wrong(sms.last_code(phone)))
    assert response.status_code == 400
    assert list(response.json()["fields"]) == ["code"]  # says nothing about whether the phone is known


async def test_a_code_is_single_use(client, phones, sms):
    phone = phones()
    await request_code(client, phone)
    code = sms.last_code(phone)
    assert (await verify(client, phone, code, name="Sara")).status_code == 200
    again = await verify(client, phone, code, name="Sara")
    assert again.status_code == 400
    assert list(again.json()["fields"]) == ["code"]


async def test_wrong_codes_are_400_and_the_fifth_voids_the_code(client, phones, sms):
    phone = phones()
    await request_code(client, phone)
    code = sms.last_code(phone)
    for _ in range(MAX_ATTEMPTS - 1):
        assert (await verify(client, phone, wrong(code), name="Sara")).status_code == 400
    # Four misses leave the code usable…
    assert (await verify(client, phone, code, name="Sara")).status_code == 200


async def test_fifth_wrong_attempt_voids_the_code(client, phones, sms):
    phone = phones()
    await request_code(client, phone)
    code = sms.last_code(phone)
    for _ in range(MAX_ATTEMPTS):
        assert (await verify(client, phone, wrong(code), name="Sara")).status_code == 400
    # …the fifth one kills it: even the right code fails now.
    assert (await verify(client, phone, code, name="Sara")).status_code == 400


async def test_an_expired_code_is_400(client, phones, sms, clock):
    phone = phones()
    await request_code(client, phone)
    clock.advance(seconds=VALID_SECONDS)
    assert (await verify(client, phone, sms.last_code(phone), name="Sara")).status_code == 400


async def test_a_code_is_valid_until_five_minutes(client, phones, sms, clock):
    phone = phones()
    await request_code(client, phone)
    clock.advance(seconds=VALID_SECONDS - 1)
    assert (await verify(client, phone, sms.last_code(phone), name="Sara")).status_code == 200


async def test_a_new_code_replaces_the_old_one(client, phones, sms, clock):
    phone = phones()
    await request_code(client, phone)
    first = sms.last_code(phone)
    clock.advance(seconds=COOLDOWN_SECONDS)
    await request_code(client, phone)
    second = sms.last_code(phone)
    if first != second:  # one in a million they match
        assert (await verify(client, phone, first, name="Sara")).status_code == 400
    assert (await verify(client, phone, second, name="Sara")).status_code == 200


async def test_malformed_codes_are_400_without_costing_an_attempt(client, phones, sms):
    phone = phones()
    await request_code(client, phone)
    code = sms.last_code(phone)
    for bad in ("12345", "abcdef", "1234567", "١٢٣٤٥٦"):
        response = await verify(client, phone, bad, name="Sara")
        assert response.status_code == 400
        assert list(response.json()["fields"]) == ["code"]
    for _ in range(MAX_ATTEMPTS - 1):
        await verify(client, phone, wrong(code), name="Sara")
    assert (await verify(client, phone, code, name="Sara")).status_code == 200


async def test_a_numeric_code_is_accepted(client, phones, sms):
    phone = phones()
    await request_code(client, phone)
    code = sms.last_code(phone)
    response = await client.post("/api/auth/otp/verify/", json={"phone_number": phone, "code": int(code), "name": "S"})
    assert response.status_code == 200


async def test_cooldown_of_a_minute_per_phone(client, phones, clock):
    phone = phones()
    assert (await request_code(client, phone)).status_code == 200
    clock.advance(seconds=30)
    early = await request_code(client, phone)
    assert early.status_code == 429
    assert early.json()["code"] == "limit_exceeded"
    assert early.json()["limit"]["name"] == "otp_cooldown"
    assert early.headers["Retry-After"] == "30"
    assert (await request_code(client, phones())).status_code == 200  # other phones are not affected
    clock.advance(seconds=30)
    assert (await request_code(client, phone)).status_code == 200


async def test_at_most_five_codes_per_phone_per_hour(client, phones, clock):
    phone = phones()
    for _ in range(HOURLY_CODES):
        assert (await request_code(client, phone)).status_code == 200
        clock.advance(seconds=COOLDOWN_SECONDS)
    capped = await request_code(client, phone, **{"Accept-Language": "fa"})
    assert capped.status_code == 429
    body = capped.json()
    assert body["limit"]["name"] == "otp_hourly_codes" and body["limit"]["used"] == HOURLY_CODES
    assert "کد" in body["error"]
    waited = HOURLY_CODES * COOLDOWN_SECONDS
    assert int(capped.headers["Retry-After"]) == 3600 - waited
    clock.advance(seconds=3600 - waited)
    assert (await request_code(client, phone)).status_code == 200


async def test_codes_are_stored_hashed(client, phones, sms, redis):
    phone = phones()
    await request_code(client, phone)
    code = sms.last_code(phone)
    stored = await redis.hgetall(f"mobix:gw:otp:code:{phone}")
    assert stored  # the code record exists…
    assert code not in "".join(f"{k}{v}" for k, v in stored.items())  # …but never holds the code itself


async def test_sms_failure_is_503_and_leaves_no_usable_code(client, phones, sms):
    phone = phones()
    sms.fail = True
    response = await request_code(client, phone)
    assert response.status_code == 503
    assert response.json()["code"] == "unavailable"
    assert "Retry-After" in response.headers
