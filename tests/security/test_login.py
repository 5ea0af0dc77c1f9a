"""Login sessions (api.md §2): no session fixation, logout kills the cookie, and login and one-time-code
guessing is throttled with 429 + Retry-After."""

import re
import uuid

import pytest

from tests.api.harness import PASSWORD, bare, new_phone, new_user
from tests.security.world import code_from_log

NOT_AUTHENTICATED = {"detail": "Authentication credentials were not provided."}


def login(system, phone: str, password: str, ip: str | None = None):
    headers = {"X-Forwarded-For": ip} if ip else {}
    return bare(system).post("/api/auth/login/", json={"phone_number": phone, "password": password}, headers=headers)


def whoami(system, sessionid: str):
    client = bare(system)
    client.cookies.set("sessionid", sessionid)
    return client.get("/api/users/")


def an_ip() -> str:
    # This system trusts X-Forwarded-For from 127.0.0.1 (tests.api.harness): one address per test keeps
    # the per-address counter of one test away from the others.
    number = uuid.uuid4().int
    return f"10.{number % 250}.{number // 250 % 250}.{number // 62_500 % 250 + 1}"


# --- session fixation and logout ------------------------------------------------------------------


def test_a_planted_session_id_is_not_the_one_after_login(system):
    victim = new_user(system)
    planted = "attacker-chosen-session-value-0123456789abcdef"
    client = bare(system)
    client.cookies.set("sessionid", planted)
    response = client.post("/api/auth/login/", json={"phone_number": victim.phone, "password": PASSWORD})
    assert response.status_code == 200
    issued = response.cookies["sessionid"]
    assert issued and issued != planted
    assert whoami(system, planted).status_code == 401
    assert whoami(system, issued).json()["id"] == victim.user_id


def test_a_real_session_planted_in_the_victims_browser_dies_at_their_login(system):
    attacker, victim = new_user(system), new_user(system)
    attackers_cookie = attacker.http.cookies["sessionid"]
    browser = bare(system)
    browser.cookies.set("sessionid", attackers_cookie)
    before = browser.get("/api/auth/csrf/").json()["csrftoken"]
    response = browser.post("/api/auth/login/", json={"phone_number": victim.phone, "password": PASSWORD})
    assert response.status_code == 200
    assert response.cookies["sessionid"] != attackers_cookie
    assert response.cookies["csrftoken"] != before  # the token rotates with the session
    # The planted cookie never becomes the victim's session: it is gone altogether.
    assert whoami(system, attackers_cookie).status_code == 401
    assert whoami(system, response.cookies["sessionid"]).json()["id"] == victim.user_id


def test_every_login_gives_a_new_session_and_token(system):
    client = new_user(system)
    first_session, first_token = client.http.cookies["sessionid"], client.http.cookies["csrftoken"]
    again = client.post("/api/auth/login/", json={"phone_number": client.phone, "password": PASSWORD})
    assert again.status_code == 200
    assert client.http.cookies["sessionid"] != first_session and client.http.cookies["csrftoken"] != first_token
    assert whoami(system, first_session).status_code == 401
    stale = client.post("/api/chat-sessions/", json={"chatbot_id": 1}, headers={"X-CSRFToken": first_token})
    assert stale.status_code == 403


def test_logout_kills_the_old_cookie(system):
    client = new_user(system)
    cookie, token = client.http.cookies["sessionid"], client.http.cookies["csrftoken"]
    cross_site = bare(system)
    cross_site.cookies.set("sessionid", cookie)  # the browser sends it; the page cannot read the token
    refused = cross_site.post("/api/auth/logout/")
    assert refused.status_code == 403  # logout needs the CSRF token: a cross-site page cannot log you out
    assert whoami(system, cookie).status_code == 200
    response = client.post("/api/auth/logout/")
    assert response.status_code == 200 and response.json() == {"success": True}
    assert "sessionid" not in client.http.cookies  # the cookie is cleared...
    old = bare(system)  # ...and a client that kept it gets nothing with it
    old.cookies.set("sessionid", cookie)
    old.cookies.set("csrftoken", token)
    assert old.get("/api/users/").json() == NOT_AUTHENTICATED
    response = old.post("/api/chat-sessions/", json={"chatbot_id": 1}, headers={"X-CSRFToken": token})
    assert response.status_code == 401


def test_logout_of_one_login_leaves_the_others(system):
    phone_user = new_user(system)
    laptop = bare(system)
    assert laptop.post("/api/auth/login/", json={"phone_number": phone_user.phone, "password": PASSWORD}).status_code == 200
    assert phone_user.post("/api/auth/logout/").status_code == 200
    assert laptop.get("/api/users/").json()["id"] == phone_user.user_id


# --- login throttling -----------------------------------------------------------------------------


def test_five_wrong_passwords_lock_the_account(system):
    victim = new_user(system)
    ip = an_ip()
    for attempt in range(5):
        response = login(system, victim.phone, f"wrong password {attempt}", ip)
        assert response.status_code == 401, attempt
    locked = login(system, victim.phone, "wrong password 6", ip)
    assert locked.status_code == 429
    body = locked.json()
    assert body["code"] == "limit_exceeded" and body["limit"]["name"] == "login_failures"
    retry_after = int(locked.headers["Retry-After"])
    assert 0 < retry_after <= 15 * 60 and body["limit"]["retry_after"] == retry_after
    # Locked for everyone, right password included, from any address.
    assert login(system, victim.phone, PASSWORD, an_ip()).status_code == 429
    assert victim.get("/api/users/").status_code == 200  # an existing login is not thrown out


def test_the_lock_speaks_persian(system):
    victim = new_user(system)
    for attempt in range(5):
        login(system, victim.phone, f"wrong {attempt}")
    response = bare(system).post("/api/auth/login/", json={"phone_number": victim.phone, "password": "x"},
                                 headers={"Accept-Language": "fa-IR"})
    assert response.status_code == 429
    assert re.search(r"[\u0600-\u06ff]", response.json()["error"])


def test_unknown_phones_are_throttled_like_known_ones(system):
    phone = new_phone()  # nobody has it: the answers must not tell
    ip = an_ip()
    answers = [login(system, phone, f"guess {i}", ip) for i in range(6)]
    assert [a.status_code for a in answers] == [401] * 5 + [429]
    assert answers[0].json() == login(system, new_user(system).phone, "wrong", an_ip()).json()


def test_fifty_failures_from_one_address_block_it(system):
    ip = an_ip()
    for i in range(50):
        response = login(system, new_phone(), f"spray {i}", ip)  # a different account each time
        assert response.status_code == 401, i
    blocked = login(system, new_phone(), "spray 51", ip)
    assert blocked.status_code == 429 and blocked.json()["limit"]["name"] == "login_failures_ip"
    assert int(blocked.headers["Retry-After"]) > 0
    bystander = new_user(system)
    assert login(system, bystander.phone, PASSWORD, ip).status_code == 429  # the address, for everyone
    assert login(system, bystander.phone, PASSWORD, an_ip()).status_code == 200  # not other addresses


# --- one-time codes -------------------------------------------------------------------------------


def test_a_second_code_within_a_minute_is_429(system):
    phone = new_phone()
    first = bare(system).post("/api/auth/otp/request/", json={"phone_number": phone})
    assert first.status_code == 200 and first.json()["retry_after"] == 60
    again = bare(system).post("/api/auth/otp/request/", json={"phone_number": phone})
    assert again.status_code == 429
    assert again.json()["limit"]["name"] == "otp_cooldown"
    assert 0 < int(again.headers["Retry-After"]) <= 60
    assert bare(system).post("/api/auth/otp/request/", json={"phone_number": new_phone()}).status_code == 200


def test_five_wrong_codes_void_the_code(system):
    phone = new_phone()
    assert bare(system).post("/api/auth/otp/request/", json={"phone_number": phone}).status_code == 200
    code = code_from_log(system, phone)
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    for attempt in range(5):
        response = bare(system).post("/api/auth/otp/verify/", json={"phone_number": phone, "code": wrong, "name": "G"})
        assert response.status_code == 400 and "code" in response.json()["fields"], attempt
    late = bare(system).post("/api/auth/otp/verify/", json={"phone_number": phone, "code": code, "name": "Guesser"})
    assert late.status_code == 400  # the right code no longer works: guessing cannot win
    assert "sessionid" not in late.cookies


def test_a_right_code_logs_in_once(system):
    phone = new_phone()
    bare(system).post("/api/auth/otp/request/", json={"phone_number": phone})
    code = code_from_log(system, phone)
    first = bare(system).post("/api/auth/otp/verify/", json={"phone_number": phone, "code": code, "name": "Nika"})
    assert first.status_code == 200 and first.json()["is_verified"] is True
    assert whoami(system, first.cookies["sessionid"]).json()["phone_number"] == phone
    replay = bare(system).post("/api/auth/otp/verify/", json={"phone_number": phone, "code": code})
    assert replay.status_code == 400


@pytest.mark.parametrize("code", ["12345", "1234567", "abcdef", "", "١٢٣٤٥٦"])
def test_malformed_codes_are_400(system, code):
    response = bare(system).post("/api/auth/otp/verify/", json={"phone_number": new_phone(), "code": code})
    assert response.status_code == 400 and "code" in response.json()["fields"]
