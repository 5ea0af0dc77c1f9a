"""Registration proves the phone (api.md §2): the pending registration, what a code verified with or
without its `registration_id` does, the password policy, password change, the last staff user, which
numbers get codes, the SMS caps, and equal Argon2 work on every login path."""

import re
from urllib.parse import urlparse, urlunparse

import pytest
from argon2 import PasswordHasher
from gateway.app import create_app
from gateway.error_texts import EN, FA
from gateway.models import User
from gateway.repository import UserRepository
from sqlalchemy import update

from shared.cache import make_redis
from shared.db import transaction
from shared.errors import Conflict
from tests.gateway.support import PASSWORD, client_for, csrf, register, start_registration

PERSIAN = re.compile(r"[\u0600-\u06ff]")
ATTACKER_PASSWORD = "attacker chose this one"


async def verify(http, phone: str, code: str, **extra):
    return await http.post("/api/auth/otp/verify/", json={"phone_number": phone, "code": code, **extra})


async def login(app, phone: str, password: str):
    async with client_for(app) as http:
        return await http.post("/api/auth/login/", json={"phone_number": phone, "password": password})


async def stored_user(app, phone: str):
    async with app.state.runtime.auth.factory() as s:
        return await UserRepository(s).by_phone(phone)


# --- the pending registration ----------------------------------------------------------------------


async def test_a_code_verified_without_the_registration_id_never_adopts_its_password(gateway, phones, sms):
    """The pre-hijack: someone registers the victim's phone with a password; the victim signs in with
    a code. The victim gets an account of their own name and no password; the registrant's never works."""
    victim = phones()
    async with client_for(gateway) as attacker:
        registration_id = await start_registration(attacker, victim, name="Attacker", password=ATTACKER_PASSWORD)
    code = sms.last_code(victim)  # only the phone's owner sees it
    async with client_for(gateway) as owner:
        response = await verify(owner, victim, code, name="Victim")
        assert response.status_code == 200, response.text
        assert response.json()["name"] == "Victim" and response.json()["is_verified"] is True
    assert (await stored_user(gateway, victim)).password_hash is None
    assert (await login(gateway, victim, ATTACKER_PASSWORD)).status_code == 401
    # The pending registration was dropped: its id completes nothing any more, even with a new code.
    async with client_for(gateway) as attacker:
        late = await verify(attacker, victim, code, registration_id=registration_id)
        assert late.status_code == 400 and list(late.json()["fields"]) == ["registration_id"]


async def test_a_registration_completes_only_with_its_own_id_and_phone(gateway, phones, sms):
    phone, other = phones(), phones()
    async with client_for(gateway) as http:
        registration_id = await start_registration(http, phone, name="Sara")
        code = sms.last_code(phone)
        for body in ({"registration_id": "made-up"}, {"registration_id": ""}):
            refused = await verify(http, phone, code, **body)
            assert refused.status_code == 400 and list(refused.json()["fields"]) == ["registration_id"]
        await start_registration(http, other)
        wrong_phone = await verify(http, other, sms.last_code(other), registration_id=registration_id)
        assert wrong_phone.status_code == 400
        wrong_code = await verify(http, phone, f"{(int(code) + 1) % 10**6:06d}", registration_id=registration_id)
        assert wrong_code.status_code == 400 and list(wrong_code.json()["fields"]) == ["code"]
        done = await verify(http, phone, code, registration_id=registration_id)
        assert done.status_code == 200 and done.json()["name"] == "Sara"
    assert (await login(gateway, phone, PASSWORD)).status_code == 200


async def test_two_registrations_of_one_phone_do_not_overwrite_each_other(gateway, phones, sms, clock):
    phone = phones()
    async with client_for(gateway) as attacker:
        await start_registration(attacker, phone, name="Attacker", password=ATTACKER_PASSWORD)
    clock.advance(seconds=61)
    async with client_for(gateway) as owner:
        mine = await start_registration(owner, phone, name="Owner")
        response = await verify(owner, phone, sms.last_code(phone), registration_id=mine)
        assert response.json()["name"] == "Owner"
    assert (await login(gateway, phone, PASSWORD)).status_code == 200
    assert (await login(gateway, phone, ATTACKER_PASSWORD)).status_code == 401


async def test_a_verified_phone_cannot_be_registered_again(client, phones, sms):
    phone = phones()
    await register(client, phone)
    sent = len(sms.sent)
    again = await client.post("/api/auth/register/", json={"phone_number": phone, "name": "X", "password": PASSWORD},
                              headers={"Accept-Language": "fa"})
    assert again.status_code == 409 and again.json()["code"] == "phone_number_taken"
    assert PERSIAN.search(again.json()["error"])
    assert len(sms.sent) == sent  # no SMS for a refused registration


async def test_an_unproved_password_never_logs_in_and_dies_at_the_owners_code(gateway, phones, sms):
    """Accounts made before phones had to be proved keep their rows, but their password is not proof."""
    phone = phones()
    registrant = await gateway.state.runtime.auth.passwords.hash(ATTACKER_PASSWORD)
    async with transaction(gateway.state.runtime.auth.factory) as s:
        await UserRepository(s).add(phone, "Old", gateway.state.runtime.clock.now(), password_hash=registrant)
    assert (await login(gateway, phone, ATTACKER_PASSWORD)).status_code == 401
    async with client_for(gateway) as owner:
        assert (await owner.post("/api/auth/otp/request/", json={"phone_number": phone})).status_code == 200
        assert (await verify(owner, phone, sms.last_code(phone))).status_code == 200
    assert (await stored_user(gateway, phone)).password_hash is None
    assert (await login(gateway, phone, ATTACKER_PASSWORD)).status_code == 401


async def test_a_failed_sms_leaves_nothing_behind(client, phones, sms, redis):
    phone = phones()
    sms.fail = True
    response = await client.post("/api/auth/register/", json={"phone_number": phone, "name": "S", "password": PASSWORD},
                                 headers={"Accept-Language": "fa"})
    assert response.status_code == 503 and response.json()["code"] == "unavailable"
    assert PERSIAN.search(response.json()["error"])
    assert [k async for k in redis.scan_iter(match=f"mobix:gw:registration:phone:{phone}")] == []
    assert [k async for k in redis.scan_iter(match=f"mobix:gw:otp:code:{phone}")] == []


# --- password policy ----------------------------------------------------------------------------


@pytest.mark.parametrize("password, reason", [
    ("        ", "password_all_spaces"),
    ("short", "password_too_short"),
    ("password", "password_too_common"),
    ("Iloveyou1", "password_too_common"),
    ("{national}", "password_is_phone"),
    ("{e164}", "password_is_phone"),
    ("{spaced}", "password_is_phone"),
])
async def test_weak_passwords_are_refused_in_the_users_language(client, phones, sms, password, reason):
    phone = phones()
    national = "0" + phone.removeprefix("+98")
    password = password.format(national=national, e164=phone, spaced=f"{national[:4]} {national[4:7]} {national[7:]}")
    for language, texts in (("en", EN), ("fa", FA)):
        response = await client.post("/api/auth/register/", json={"phone_number": phone, "name": "S", "password": password},
                                     headers={"Accept-Language": language})
        assert response.status_code == 400, response.text
        assert response.json()["fields"] == {"password": [texts[reason]]}
    assert sms.sent == []


# --- password change ------------------------------------------------------------------------------


async def test_password_change_ends_every_other_login_and_keeps_the_callers(gateway, phones):
    phone = phones()
    async with client_for(gateway) as caller, client_for(gateway) as laptop, client_for(gateway) as tablet:
        await register(caller, phone)
        for other in (laptop, tablet):
            assert (await other.post("/api/auth/login/", json={"phone_number": phone, "password": PASSWORD})).status_code == 200
        response = await caller.post("/api/auth/password/", headers=csrf(caller),
                                     json={"current_password": PASSWORD, "new_password": "a brand new passphrase"})
        assert response.status_code == 200 and response.json() == {"success": True}
        assert (await caller.get("/api/users/")).status_code == 200
        assert (await laptop.get("/api/users/")).status_code == 401
        assert (await tablet.get("/api/users/")).status_code == 401
    assert (await login(gateway, phone, PASSWORD)).status_code == 401
    assert (await login(gateway, phone, "a brand new passphrase")).status_code == 200


async def test_password_change_checks_the_current_password_and_the_policy(client, phones):
    phone = phones()
    await register(client, phone)
    cases = [
        ({"new_password": "a brand new passphrase"}, {"current_password"}),
        ({"current_password": "not it at all", "new_password": "a brand new passphrase"}, {"current_password"}),
        ({"current_password": PASSWORD, "new_password": "12345678"}, {"new_password"}),
        ({"current_password": PASSWORD, "new_password": phone}, {"new_password"}),
    ]
    for body, fields in cases:
        response = await client.post("/api/auth/password/", headers={**csrf(client), "Accept-Language": "fa"}, json=body)
        assert response.status_code == 400, body
        assert set(response.json()["fields"]) == fields
        assert all(PERSIAN.search(text) for texts in response.json()["fields"].values() for text in texts)
    unchanged = await client.post("/api/auth/login/", json={"phone_number": phone, "password": PASSWORD})
    assert unchanged.status_code == 200


async def test_an_account_without_a_password_sets_one_without_a_current_one(client, phones, sms):
    phone = phones()
    await client.post("/api/auth/otp/request/", json={"phone_number": phone})
    assert (await verify(client, phone, sms.last_code(phone), name="Nika")).status_code == 200
    response = await client.post("/api/auth/password/", headers=csrf(client), json={"new_password": "my first passphrase"})
    assert response.status_code == 200
    assert (await client.post("/api/auth/login/", json={"phone_number": phone, "password": "my first passphrase"})).status_code == 200


async def test_password_change_needs_a_login_and_the_csrf_token(client, phones):
    assert (await client.post("/api/auth/password/", json={"new_password": "whatever it is"})).status_code == 401
    await register(client, phones())
    no_token = await client.post("/api/auth/password/", json={"current_password": PASSWORD, "new_password": "x" * 12})
    assert no_token.status_code == 403


# --- the last staff user ------------------------------------------------------------------------


async def test_the_last_staff_user_cannot_drop_the_flag(gateway, phones):
    auth = gateway.state.runtime.auth
    admin_phone = phones()
    async with client_for(gateway) as admin, client_for(gateway) as second:
        admin_user, second_user = await register(admin, admin_phone), await register(second, phones())
        async with transaction(auth.factory) as s:  # the only staff user
            await s.exec(update(User).where(User.id == admin_user["id"]).values(is_staff=True))
        for language in ("en", "fa"):
            refused = await admin.post(f"/api/admin/users/{admin_user['id']}/staff/", json={"is_staff": False},
                                       headers={**csrf(admin), "Accept-Language": language})
            assert refused.status_code == 409 and refused.json()["code"] == "last_staff_user"
            assert refused.json()["error"] == (FA if language == "fa" else EN)["last_staff_user"]
    assert (await stored_user(gateway, admin_phone)).is_staff is True
    # With a second staff user either may step down, but not both.
    await auth.set_staff(second_user["id"], True)
    assert (await auth.set_staff(admin_user["id"], False)).is_staff is False
    with pytest.raises(Conflict):
        await auth.set_staff(second_user["id"], False)


# --- who gets codes, and how many ---------------------------------------------------------------


@pytest.mark.parametrize("number", ["+982188776655", "02188776655", "+14155552671", "+447400123456"])
async def test_landlines_and_other_countries_get_no_code(client, sms, number):
    for path, body in (("/api/auth/otp/request/", {}), ("/api/auth/register/", {"name": "S", "password": PASSWORD})):
        response = await client.post(path, json={"phone_number": number, **body}, headers={"Accept-Language": "fa"})
        assert response.status_code == 400, (path, response.text)
        assert list(response.json()["fields"]) == ["phone_number"]
        assert PERSIAN.search(response.json()["fields"]["phone_number"][0])
    assert sms.sent == []


async def test_allowed_regions_are_a_setting(start_gateway, sms):
    app = await start_gateway(SMS_ALLOWED_REGIONS="IR,GB")
    async with client_for(app) as http:
        assert (await http.post("/api/auth/otp/request/", json={"phone_number": "+447400123456"})).status_code == 200
        assert (await http.post("/api/auth/otp/request/", json={"phone_number": "+14155552671"})).status_code == 400
    assert [phone for phone, _ in sms.sent] == ["+447400123456"]


@pytest.fixture
async def own_redis_url(redis_url):
    """A Redis database of its own, emptied: the global SMS counter is shared by every gateway on it."""
    url = urlunparse(urlparse(redis_url)._replace(path="/8"))
    client = make_redis(url)
    await client.flushdb()
    yield url
    await client.flushdb()
    await client.aclose()


async def test_per_ip_hourly_sms_cap(start_gateway, phones, sms, clock, own_redis_url):
    app = await start_gateway(SMS_PER_IP_HOURLY=3, REDIS_URL=own_redis_url)
    async with client_for(app, ip="10.9.9.9") as http:
        assert (await http.post("/api/auth/otp/request/", json={"phone_number": phones()})).status_code == 200
        await start_registration(http, phones())  # register counts under the same cap
        assert (await http.post("/api/auth/otp/request/", json={"phone_number": phones()})).status_code == 200
        capped = await http.post("/api/auth/otp/request/", json={"phone_number": phones()},
                                 headers={"Accept-Language": "fa"})
        capped_register = await http.post("/api/auth/register/",
                                          json={"phone_number": phones(), "name": "S", "password": PASSWORD})
    for response in (capped, capped_register):
        assert response.status_code == 429
        assert response.json()["limit"]["name"] == "sms_ip_hourly"
        assert 0 < int(response.headers["Retry-After"]) <= 3600
    assert PERSIAN.search(capped.json()["error"])
    assert len(sms.sent) == 3
    async with client_for(app, ip="10.9.9.10") as elsewhere:
        assert (await elsewhere.post("/api/auth/otp/request/", json={"phone_number": phones()})).status_code == 200
    clock.advance(seconds=3601)
    async with client_for(app, ip="10.9.9.9") as http:
        assert (await http.post("/api/auth/otp/request/", json={"phone_number": phones()})).status_code == 200


async def test_global_hourly_sms_cap(start_gateway, phones, sms, own_redis_url):
    app = await start_gateway(SMS_GLOBAL_HOURLY=2, REDIS_URL=own_redis_url)
    answers = []
    for _ in range(3):
        async with client_for(app) as http:  # a new address each time
            answers.append(await http.post("/api/auth/otp/request/", json={"phone_number": phones()}))
    assert [a.status_code for a in answers] == [200, 200, 429]
    assert answers[2].json()["limit"]["name"] == "sms_global_hourly" and int(answers[2].headers["Retry-After"]) > 0
    assert len(sms.sent) == 2


async def test_a_failed_send_is_not_counted_against_the_caps(start_gateway, phones, sms, own_redis_url):
    app = await start_gateway(SMS_PER_IP_HOURLY=1, REDIS_URL=own_redis_url)
    async with client_for(app, ip="10.9.9.11") as http:
        sms.fail = True
        assert (await http.post("/api/auth/otp/request/", json={"phone_number": phones()})).status_code == 503
        sms.fail = False
        assert (await http.post("/api/auth/otp/request/", json={"phone_number": phones()})).status_code == 200


# --- login timing: one Argon2 verification on every path ----------------------------------------


class CountingHasher(PasswordHasher):
    def __init__(self) -> None:
        super().__init__(time_cost=1, memory_cost=8, parallelism=1)
        self.verifications = 0

    def verify(self, hash, password):
        self.verifications += 1
        return super().verify(hash, password)


async def test_every_login_path_runs_exactly_one_argon2_verification(gateway_settings, clock, sms, start_gateway, phones):
    hasher = CountingHasher()
    app = await start_gateway(create_app(gateway_settings(), clock=clock, sms=sms, password_hasher=hasher))
    known, passwordless, unproved = phones(), phones(), phones()
    async with client_for(app) as http:
        await register(http, known)
        await http.post("/api/auth/otp/request/", json={"phone_number": passwordless})
        await verify(http, passwordless, sms.last_code(passwordless), name="No Password")
    async with transaction(app.state.runtime.auth.factory) as s:
        await UserRepository(s).add(unproved, "Unproved", clock.now(),
                                    password_hash=await app.state.runtime.auth.passwords.hash(PASSWORD))
    paths = {
        "right password": (known, PASSWORD, 200),
        "wrong password": (known, "wrong password!", 401),
        "unknown phone": (phones(), "wrong password!", 401),
        "account without a password": (passwordless, "wrong password!", 401),
        "unproved account": (unproved, PASSWORD, 401),
    }
    for path, (phone, password, status) in paths.items():
        before = hasher.verifications
        response = await login(app, phone, password)
        assert response.status_code == status, path
        assert hasher.verifications - before == 1, path
