"""Account pre-hijacking, end to end over real processes (api.md §2): the gateway sends codes through
its Kavenegar provider to the SMS emulator, and the tests read them there, as the phone's owner would."""

import httpx
from devinfra.system import read_code

from tests.api.harness import bare, new_phone

ATTACKER_PASSWORD = "the attacker's password"
OWNER_PASSWORD = "the owner's own password"


def login(system, phone: str, password: str) -> httpx.Response:
    return bare(system).post("/api/auth/login/", json={"phone_number": phone, "password": password})


def test_a_registration_of_someone_elses_phone_gives_its_registrant_nothing(system):
    victim = new_phone()
    attacker = bare(system)
    started = attacker.post("/api/auth/register/",
                            json={"phone_number": victim, "name": "Attacker", "password": ATTACKER_PASSWORD})
    assert started.status_code == 202, started.text
    assert set(started.json()) == {"detail", "retry_after", "registration_id"}
    assert "sessionid" not in started.cookies
    assert login(system, victim, ATTACKER_PASSWORD).status_code == 401  # nothing exists yet
    # The owner of the phone gets the SMS and signs in with the code (without the registration id).
    code = read_code(system.sms_url, victim)
    owner = bare(system)
    signed_in = owner.post("/api/auth/otp/verify/", json={"phone_number": victim, "code": code, "name": "Owner"})
    assert signed_in.status_code == 200, signed_in.text
    assert signed_in.json()["name"] == "Owner" and signed_in.json()["is_verified"] is True
    # The attacker's password never logs in, and their registration id completes nothing.
    assert login(system, victim, ATTACKER_PASSWORD).status_code == 401
    late = attacker.post("/api/auth/otp/verify/", json={
        "phone_number": victim, "code": code, "registration_id": started.json()["registration_id"],
    })
    assert late.status_code == 400
    # The account has no password at all: the owner sets one without a current one.
    token = owner.cookies["csrftoken"]
    changed = owner.post("/api/auth/password/", json={"new_password": OWNER_PASSWORD}, headers={"X-CSRFToken": token})
    assert changed.status_code == 200, changed.text
    assert login(system, victim, OWNER_PASSWORD).status_code == 200
    assert login(system, victim, ATTACKER_PASSWORD).status_code == 401


def test_a_registration_completes_with_its_code_and_id(system):
    phone = new_phone()
    client = bare(system)
    started = client.post("/api/auth/register/", json={"phone_number": phone, "name": "Sara", "password": OWNER_PASSWORD})
    assert started.status_code == 202, started.text
    done = client.post("/api/auth/otp/verify/", json={
        "phone_number": phone, "code": read_code(system.sms_url, phone),
        "registration_id": started.json()["registration_id"],
    })
    assert done.status_code == 200 and done.json()["name"] == "Sara"
    assert client.get("/api/users/").json()["id"] == done.json()["id"]
    assert login(system, phone, OWNER_PASSWORD).status_code == 200
    again = bare(system).post("/api/auth/register/", json={"phone_number": phone, "name": "X", "password": OWNER_PASSWORD})
    assert again.status_code == 409


def test_landlines_and_foreign_numbers_get_no_sms(system):
    for number in ("+982188776655", "+14155552671"):
        response = bare(system).post("/api/auth/otp/request/", json={"phone_number": number})
        assert response.status_code == 400 and list(response.json()["fields"]) == ["phone_number"]
        assert httpx.get(f"{system.sms_url}/messages", params={"phone": number}).json() == []


def test_an_sms_gateway_failure_is_503_and_leaves_nothing_half_done(system):
    phone = new_phone()
    httpx.post(f"{system.sms_url}/control/fail", json={"count": 1})
    failed = bare(system).post("/api/auth/register/", json={"phone_number": phone, "name": "S", "password": OWNER_PASSWORD},
                               headers={"Accept-Language": "fa"})
    assert failed.status_code == 503 and failed.json()["code"] == "unavailable"
    assert "Retry-After" in failed.headers
    assert httpx.get(f"{system.sms_url}/messages", params={"phone": phone}).json() == []
    # No code is waiting, so nothing can complete it.
    for code in ("000000", "123456"):
        assert bare(system).post("/api/auth/otp/verify/",
                                 json={"phone_number": phone, "code": code, "name": "S"}).status_code == 400
