"""API tokens (api.md §2): issued by password or code login or by a logged-in user, sent as
`Authorization: Bearer`, no CSRF, stored hashed, listed without secrets, revocable, expiring, and
all revoked at once by `TokenStore.revoke_all` (what a password change calls)."""

import hashlib

import pytest
from gateway.models import ApiToken
from sqlmodel import select

from tests.gateway.support import PASSWORD, client_for, csrf, probe_router, register

probe = probe_router()


@pytest.fixture
async def app(build_gateway, start_gateway):
    app = build_gateway()
    app.include_router(probe)
    return await start_gateway(app)


async def token_login(http, phone: str, **fields) -> dict:
    response = await http.post("/api/auth/token/", json={"phone_number": phone, "password": PASSWORD, **fields})
    assert response.status_code == 201, response.text
    return response.json()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_password_login_gives_a_token_that_works_without_cookies_or_csrf(app, phones):
    phone = phones()
    async with client_for(app) as http:
        user = await register(http, phone)
    async with client_for(app) as http:
        issued = await token_login(http, phone, name="my bot")
        assert set(issued) == {"token", "token_id", "name", "expires_at"}
        assert issued["name"] == "my bot" and issued["expires_at"] is None
        assert len(issued["token"]) >= 43  # 32 random bytes, URL-safe
        assert not http.cookies  # no login session for a token login
        me = await http.get("/api/users/", headers=bearer(issued["token"]))
        assert me.status_code == 200 and me.json()["id"] == user["id"]
        # An unsafe method with no cookie and no X-CSRFToken header
        poked = await http.post("/api/test-probe/", json={}, headers=bearer(issued["token"]))
        assert poked.status_code == 200 and poked.json() == {"user_id": user["id"]}


async def test_the_database_keeps_only_the_hash(app, phones):
    phone = phones()
    async with client_for(app) as http:
        await register(http, phone)
        issued = await token_login(http, phone)
    async with app.state.runtime.auth.factory() as s:
        row = (await s.exec(select(ApiToken).where(ApiToken.id == issued["token_id"]))).one()
    assert row.token_hash == hashlib.sha256(issued["token"].encode()).hexdigest()
    assert issued["token"] not in row.token_hash


@pytest.mark.parametrize("header", ["Bearer nonsense", "Bearer mbx_" + "A" * 43, "Bearer " + "x" * 500])
async def test_an_unknown_token_is_401_invalid_token_even_with_a_valid_cookie(app, phones, header):
    async with client_for(app) as http:
        await register(http, phones())
        response = await http.get("/api/users/", headers={"Authorization": header})
        assert response.status_code == 401
        assert response.json() == {"detail": "Invalid token."}
        assert response.headers["www-authenticate"].startswith("Bearer")
        fa = await http.get("/api/users/", headers={"Authorization": header, "Accept-Language": "fa"})
        assert fa.status_code == 401 and fa.json()["detail"] != "Invalid token."


async def test_wrong_password_is_401_and_throttled_like_login(app, phones):
    phone = phones()
    async with client_for(app) as http:
        await register(http, phone)
    async with client_for(app) as http:
        statuses = []
        for _ in range(6):
            response = await http.post("/api/auth/token/", json={"phone_number": phone, "password": "wrong password"})
            statuses.append(response.status_code)
        assert statuses == [401] * 5 + [429]
        assert "retry-after" in response.headers
        # The account's failures are shared with cookie login: it is locked there too.
        locked = await http.post("/api/auth/login/", json={"phone_number": phone, "password": PASSWORD})
        assert locked.status_code == 429


async def test_a_login_code_gives_a_token(app, phones, sms, clock):
    phone = phones()
    async with client_for(app) as http:
        user = await register(http, phone)
    clock.advance(seconds=61)  # past the cooldown of the code registration sent
    async with client_for(app) as http:
        assert (await http.post("/api/auth/otp/request/", json={"phone_number": phone})).status_code == 200
        response = await http.post("/api/auth/token/", json={"phone_number": phone, "code": sms.last_code(phone)})
        assert response.status_code == 201, response.text
        me = await http.get("/api/users/", headers=bearer(response.json()["token"]))
        assert me.json()["id"] == user["id"]
        # Single use: the same code cannot mint a second token.
        again = await http.post("/api/auth/token/", json={"phone_number": phone, "code": sms.last_code(phone)})
        assert again.status_code == 400


@pytest.mark.parametrize("body", [{}, {"password": PASSWORD, "code": "123456"}, {"password": PASSWORD, "name": "  "},
                                  {"password": PASSWORD, "expires_in_days": 0}])
async def test_bad_token_requests_are_400(app, phones, body):
    phone = phones()
    async with client_for(app) as http:
        await register(http, phone)
    async with client_for(app) as http:
        response = await http.post("/api/auth/token/", json={"phone_number": phone, **body})
    assert response.status_code == 400, response.text
    assert response.json()["code"] == "validation_error"


async def test_list_create_and_revoke_tokens(app, phones):
    phone = phones()
    async with client_for(app) as http:
        await register(http, phone)
        created = await http.post("/api/auth/tokens/", json={"name": "ci", "expires_in_days": 30}, headers=csrf(http))
        assert created.status_code == 201, created.text
        token = created.json()
        assert token["name"] == "ci" and token["expires_at"] is not None
        listed = await http.get("/api/auth/tokens/")
        assert listed.status_code == 200
        assert [t["id"] for t in listed.json()] == [token["token_id"]]
        assert token["token"] not in listed.text  # never the secret again
        assert set(listed.json()[0]) == {"id", "name", "created_at", "expires_at"}
    async with client_for(app) as other:
        # The token manages tokens too, without CSRF.
        also = await other.post("/api/auth/tokens/", json={"name": "second"}, headers=bearer(token["token"]))
        assert also.status_code == 201
        gone = await other.delete(f"/api/auth/tokens/{token['token_id']}/", headers=bearer(also.json()["token"]))
        assert gone.status_code == 204
        dead = await other.get("/api/users/", headers=bearer(token["token"]))
        assert dead.status_code == 401 and dead.json() == {"detail": "Invalid token."}
        again = await other.delete(f"/api/auth/tokens/{token['token_id']}/", headers=bearer(also.json()["token"]))
        assert again.status_code == 404


async def test_nobody_revokes_or_sees_anothers_tokens(app, phones):
    a, b = phones(), phones()
    async with client_for(app) as http:
        await register(http, a)
        mine = await token_login(http, a)
    async with client_for(app) as http:
        await register(http, b)
        theirs = await token_login(http, b)
        assert (await http.get("/api/auth/tokens/", headers=bearer(theirs["token"]))).json()[0]["id"] == theirs["token_id"]
        response = await http.delete(f"/api/auth/tokens/{mine['token_id']}/", headers=bearer(theirs["token"]))
        assert response.status_code == 404
    async with client_for(app) as http:
        assert (await http.get("/api/users/", headers=bearer(mine["token"]))).status_code == 200


async def test_managing_tokens_needs_a_login(app):
    async with client_for(app) as http:
        assert (await http.get("/api/auth/tokens/")).status_code == 401
        assert (await http.post("/api/auth/tokens/", json={"name": "x"})).status_code == 401


async def test_an_expired_token_is_401(app, phones, clock):
    phone = phones()
    async with client_for(app) as http:
        await register(http, phone)
        issued = await token_login(http, phone, expires_in_days=1)
        assert (await http.get("/api/users/", headers=bearer(issued["token"]))).status_code == 200
        clock.advance(days=1, seconds=1)
        response = await http.get("/api/users/", headers=bearer(issued["token"]))
        assert response.status_code == 401 and response.json() == {"detail": "Invalid token."}


async def test_revoke_all_ends_every_token_of_the_user_only(app, phones):
    a, b = phones(), phones()
    async with client_for(app) as http:
        user = await register(http, a)
        first, second = await token_login(http, a), await token_login(http, a)
    async with client_for(app) as http:
        await register(http, b)
        bystander = await token_login(http, b)
        assert await app.state.runtime.tokens.revoke_all(user["id"]) == 2
        for token in (first, second):
            assert (await http.get("/api/users/", headers=bearer(token["token"]))).status_code == 401
        assert (await http.get("/api/users/", headers=bearer(bystander["token"]))).status_code == 200


async def test_a_password_change_revokes_every_token_of_the_user(app, phones):
    phone = phones()
    async with client_for(app) as http:
        await register(http, phone)
        issued = await token_login(http, phone, name="phone app")
        assert (await http.get("/api/users/", headers=bearer(issued["token"]))).status_code == 200
        changed = await http.post("/api/auth/password/", headers=csrf(http),
                                  json={"current_password": PASSWORD, "new_password": "a brand new passphrase"})
        assert changed.status_code == 200, changed.text
        assert (await http.get("/api/users/")).status_code == 200  # the caller's own browser login stays
    async with client_for(app) as other:
        response = await other.get("/api/users/", headers=bearer(issued["token"]))
        assert response.status_code == 401 and response.json() == {"detail": "Invalid token."}
