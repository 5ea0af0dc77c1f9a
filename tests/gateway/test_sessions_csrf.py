"""Login sessions and CSRF: 401 before CSRF, the three CSRF failures, rotation, logout, lifetimes,
cookie attributes, and staff-only routes."""

import hashlib

import pytest
from gateway.deps import CurrentUser, StaffUser
from gateway.models import User
from sqlalchemy import update

from tests.gateway.support import (
    PASSWORD,
    client_for,
    complete_registration,
    csrf,
    probe_router,
    register,
)

probe = probe_router()


@probe.get("/")
async def look(user: CurrentUser) -> dict:
    return {"user_id": user.id}


@probe.get("/staff/")
async def staff_only(user: StaffUser) -> dict:
    return {"staff": user.id}


@pytest.fixture
async def app(build_gateway, start_gateway):
    app = build_gateway()
    app.include_router(probe)
    return await start_gateway(app)


def session_key(cookie_value: str) -> str:
    return "mobix:gw:session:" + hashlib.sha256(cookie_value.encode()).hexdigest()


def set_cookies(response) -> dict[str, str]:
    return {header.split("=", 1)[0]: header for header in response.headers.get_list("set-cookie")}


async def test_no_session_is_401_even_without_csrf(app):
    async with client_for(app) as http:
        response = await http.post("/api/test-probe/", json={})
    assert response.status_code == 401
    assert response.json() == {"detail": "Authentication credentials were not provided."}


async def test_an_unknown_session_cookie_is_401_not_403(app):
    async with client_for(app) as http:
        http.cookies.set("sessionid", "forged-or-expired")
        http.cookies.set("csrftoken", "whatever")
        response = await http.post("/api/test-probe/", json={})
    assert response.status_code == 401


async def test_safe_methods_need_no_csrf_header(app, phones):
    async with client_for(app) as http:
        user = await register(http, phones())
        response = await http.get("/api/test-probe/")
    assert response.status_code == 200
    assert response.json() == {"user_id": user["id"]}


async def test_unsafe_method_with_the_token_passes(app, phones):
    async with client_for(app) as http:
        user = await register(http, phones())
        response = await http.post("/api/test-probe/", headers=csrf(http))
    assert response.status_code == 200
    assert response.json() == {"user_id": user["id"]}


async def test_missing_header_is_403(app, phones):
    async with client_for(app) as http:
        await register(http, phones())
        response = await http.post("/api/test-probe/")
    assert response.status_code == 403
    assert response.json() == {"detail": "CSRF Failed: CSRF token missing."}


async def test_wrong_header_is_403(app, phones):
    async with client_for(app) as http:
        await register(http, phones())
        response = await http.post("/api/test-probe/", headers={"X-CSRFToken": "x" * 43})
    assert response.status_code == 403
    assert response.json() == {"detail": "CSRF Failed: CSRF token incorrect."}


async def test_missing_cookie_is_403(app, phones):
    async with client_for(app) as http:
        await register(http, phones())
        token = http.cookies["csrftoken"]
        http.cookies.delete("csrftoken")
        response = await http.post("/api/test-probe/", headers={"X-CSRFToken": token})
    assert response.status_code == 403
    assert response.json() == {"detail": "CSRF Failed: CSRF cookie not set."}


async def test_a_token_of_another_session_is_refused(app, phones):
    async with client_for(app) as attacker, client_for(app) as victim:
        await register(attacker, phones())
        await register(victim, phones())
        planted = attacker.cookies["csrftoken"]
        victim.cookies.set("csrftoken", planted)  # e.g. set by a sibling subdomain
        response = await victim.post("/api/test-probe/", headers={"X-CSRFToken": planted})
    assert response.status_code == 403
    assert response.json()["detail"].startswith("CSRF Failed:")


async def test_auth_routes_need_no_csrf_even_when_logged_in(app, phones, clock):
    phone = phones()
    async with client_for(app) as http:
        await register(http, phone)
        clock.advance(seconds=61)  # past the cooldown of the registration's code
        login = await http.post("/api/auth/login/", json={"phone_number": phone, "password": PASSWORD})
        assert login.status_code == 200
        code = await http.post("/api/auth/otp/request/", json={"phone_number": phone})
        assert code.status_code == 200


async def test_login_rotates_the_session_and_the_csrf_token(app, phones):
    phone = phones()
    async with client_for(app) as http:
        await register(http, phone)
        first_session, first_token = http.cookies["sessionid"], http.cookies["csrftoken"]
        await http.post("/api/auth/login/", json={"phone_number": phone, "password": PASSWORD})
        second_session, second_token = http.cookies["sessionid"], http.cookies["csrftoken"]
    assert second_session != first_session
    assert second_token != first_token
    async with client_for(app) as replay:
        replay.cookies.set("sessionid", first_session)
        assert (await replay.get("/api/users/")).status_code == 401
        replay.cookies.set("sessionid", second_session)
        assert (await replay.get("/api/users/")).status_code == 200


async def test_logout_needs_csrf_then_destroys_the_session(app, phones):
    async with client_for(app) as http:
        await register(http, phones())
        session = http.cookies["sessionid"]
        refused = await http.post("/api/auth/logout/")
        assert refused.status_code == 403
        assert (await http.get("/api/users/")).status_code == 200  # still logged in
        done = await http.post("/api/auth/logout/", headers=csrf(http))
        assert done.status_code == 200
        assert done.json() == {"success": True}
        assert 'sessionid=""' in set_cookies(done)["sessionid"]
        assert (await http.get("/api/users/")).status_code == 401
    async with client_for(app) as replay:
        replay.cookies.set("sessionid", session)
        assert (await replay.get("/api/users/")).status_code == 401


async def test_logout_without_a_session_is_fine(app):
    async with client_for(app) as http:
        response = await http.post("/api/auth/logout/")
    assert response.status_code == 200
    assert response.json() == {"success": True}


async def test_cookie_attributes_over_http(app, phones):
    async with client_for(app) as http:
        response = await complete_registration(http, phones())
    cookies = set_cookies(response)
    session, token = cookies["sessionid"].lower(), cookies["csrftoken"].lower()
    assert "httponly" in session and "samesite=lax" in session and "path=/" in session
    assert f"max-age={14 * 24 * 3600}" in session
    assert "httponly" not in token and "samesite=lax" in token
    assert "secure" not in session and "secure" not in token


async def test_cookies_are_secure_over_https(app, phones):
    async with client_for(app, base_url="https://testserver") as http:
        response = await complete_registration(http, phones())
        assert (await http.get("/api/users/")).status_code == 200
    cookies = set_cookies(response)
    assert "secure" in cookies["sessionid"].lower()
    assert "secure" in cookies["csrftoken"].lower()


async def test_secure_cookies_can_be_forced(start_gateway, phones):
    app = await start_gateway(SECURE_COOKIES="true")
    async with client_for(app) as http:
        response = await complete_registration(http, phones())
    assert "secure" in set_cookies(response)["sessionid"].lower()


async def test_absolute_lifetime_ends_an_active_session(app, phones, clock, redis):
    async with client_for(app) as http:
        await register(http, phones())
        clock.advance(days=13, hours=23)
        assert (await http.get("/api/users/")).status_code == 200
        clock.advance(hours=1, seconds=1)
        assert (await http.get("/api/users/")).status_code == 401
        assert await redis.exists(session_key(http.cookies["sessionid"])) == 0


async def test_idle_timeout_slides_with_each_request(start_gateway, phones, redis, clock):
    app = await start_gateway(SESSION_IDLE_TIMEOUT_SECONDS=600)
    async with client_for(app) as http:
        await register(http, phones())
        key = session_key(http.cookies["sessionid"])
        assert 590 <= await redis.ttl(key) <= 600
        await redis.expire(key, 5)  # as if the user had been idle for almost ten minutes
        assert (await http.get("/api/users/")).status_code == 200
        assert 590 <= await redis.ttl(key) <= 600
        clock.advance(seconds=601)  # idle past the timeout: Redis dropped its copy, the database's is old
        await redis.delete(key)
        assert (await http.get("/api/users/")).status_code == 401


async def test_session_ids_are_not_stored_in_clear(app, phones, redis):
    async with client_for(app) as http:
        await register(http, phones())
        cookie = http.cookies["sessionid"]
    assert await redis.exists(session_key(cookie)) == 1
    assert await redis.exists(f"mobix:gw:session:{cookie}") == 0


async def test_csrf_route_sets_a_readable_cookie(app):
    async with client_for(app) as http:
        response = await http.get("/api/auth/csrf/")
        again = await http.get("/api/auth/csrf")
    assert response.status_code == 200
    token = response.json()["csrftoken"]
    cookie = set_cookies(response)["csrftoken"]
    assert cookie.startswith(f"csrftoken={token};") and "httponly" not in cookie.lower()
    assert again.json()["csrftoken"] == token  # stable until a login rotates it


async def test_csrf_route_gives_the_sessions_token_when_logged_in(app, phones):
    async with client_for(app) as http:
        await register(http, phones())
        http.cookies.delete("csrftoken")
        response = await http.get("/api/auth/csrf/")
        assert (await http.post("/api/test-probe/", headers={"X-CSRFToken": response.json()["csrftoken"]})).status_code == 200


async def test_a_deleted_user_is_logged_out(app, phones):
    async with client_for(app) as http:
        user = await register(http, phones())
        async with app.state.runtime.engine.begin() as conn:
            await conn.execute(User.__table__.delete().where(User.__table__.c.id == user["id"]))
        assert (await http.get("/api/users/")).status_code == 401


async def test_staff_route_refuses_ordinary_users(app, phones):
    async with client_for(app) as http:
        await register(http, phones())
        response = await http.get("/api/test-probe/staff/")
    assert response.status_code == 403
    assert "detail" in response.json()


async def test_staff_user_from_the_environment(build_gateway, start_gateway, phones):
    phone = phones()
    app = build_gateway(MOBIX_ADMIN_PHONE="0" + phone.removeprefix("+98"), MOBIX_ADMIN_PASSWORD="admin password 1")
    app.include_router(probe)
    await start_gateway(app)
    async with client_for(app) as http:
        login = await http.post("/api/auth/login/", json={"phone_number": phone, "password": "admin password 1"})
        assert login.status_code == 200
        assert login.json()["is_verified"] is True
        assert (await http.get("/api/test-probe/staff/")).status_code == 200
        # Staff status is read on every request: a demotion applies at once.
        async with app.state.runtime.engine.begin() as conn:
            await conn.execute(update(User).where(User.phone_number == phone).values(is_staff=False))
        assert (await http.get("/api/test-probe/staff/")).status_code == 403


async def test_staff_bootstrap_is_idempotent_and_applies_a_new_password(gateway_settings, start_gateway, phones,
                                                                        clock, sms):
    from gateway.app import create_app

    from tests.gateway.support import CHEAP_HASHER

    phone = phones()
    for password in ("first password", "first password", "second password"):
        app = create_app(gateway_settings(MOBIX_ADMIN_PHONE=phone, MOBIX_ADMIN_PASSWORD=password), clock=clock,
                         sms=sms, password_hasher=CHEAP_HASHER)
        await start_gateway(app)
    async with app.state.runtime.engine.connect() as conn:
        rows = (await conn.execute(User.__table__.select().where(User.__table__.c.phone_number == phone))).all()
    assert len(rows) == 1
    async with client_for(app) as http:
        old = await http.post("/api/auth/login/", json={"phone_number": phone, "password": "first password"})
        new = await http.post("/api/auth/login/", json={"phone_number": phone, "password": "second password"})
    assert old.status_code == 401
    assert new.status_code == 200


async def test_an_invalid_staff_phone_stops_start_up(build_gateway, start_gateway):
    app = build_gateway(MOBIX_ADMIN_PHONE="not a phone", MOBIX_ADMIN_PASSWORD="admin password 1")
    with pytest.raises(SystemExit, match="MOBIX_ADMIN_PHONE"):
        await start_gateway(app)
