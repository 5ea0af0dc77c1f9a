"""`POST /api/auth/telegram/link/` (issue 15): only the bot's service credential links a Telegram
user to the account of the phone Telegram vouched for, found or created verified, with a new token."""

import pytest

from tests.gateway.support import client_for, register

BOT_SECRET = "bot-service-credential-for-tests-0123456789"


@pytest.fixture
async def app(start_gateway):
    return await start_gateway(TELEGRAM_BOT_SERVICE_TOKEN=BOT_SECRET)


def link_body(phone: str, telegram_user_id: int = 777, name: str = "Reza") -> dict:
    return {"phone_number": phone, "telegram_user_id": telegram_user_id, "name": name}


async def test_a_new_phone_gets_a_verified_account_and_a_working_token(app, phones):
    phone = phones()
    async with client_for(app) as http:
        # As Telegram sends it: no "+".
        linked = await http.post("/api/auth/telegram/link/", json=link_body(phone.lstrip("+")),
                                 headers={"X-Service-Token": BOT_SECRET})
        assert linked.status_code == 201, linked.text
        assert linked.json()["name"] == "telegram bot (777)"
        me = await http.get("/api/users/", headers={"Authorization": f"Bearer {linked.json()['token']}"})
        assert me.status_code == 200
        assert me.json()["phone_number"] == phone and me.json()["name"] == "Reza"


async def test_an_existing_account_is_linked_and_relinking_replaces_the_token(app, phones):
    phone = phones()
    async with client_for(app) as http:
        user = await register(http, phone, name="Sara")
    async with client_for(app) as http:
        first = await http.post("/api/auth/telegram/link/", json=link_body(phone), headers={"X-Service-Token": BOT_SECRET})
        second = await http.post("/api/auth/telegram/link/", json=link_body(phone), headers={"X-Service-Token": BOT_SECRET})
        assert first.status_code == second.status_code == 201
        me = await http.get("/api/users/", headers={"Authorization": f"Bearer {second.json()['token']}"})
        assert me.json()["id"] == user["id"] and me.json()["name"] == "Sara"  # the account keeps its name
        old = await http.get("/api/users/", headers={"Authorization": f"Bearer {first.json()['token']}"})
        assert old.status_code == 401


@pytest.mark.parametrize("headers", [{}, {"X-Service-Token": "wrong"}, {"X-Service-Token": BOT_SECRET + "x"}])
async def test_only_the_bot_credential_may_link(app, phones, headers):
    phone = phones()
    async with client_for(app) as http:
        refused = await http.post("/api/auth/telegram/link/", json=link_body(phone),
                                  headers={**headers, "Accept-Language": "fa"})
        assert refused.status_code == 401
        assert refused.json()["detail"] not in ("", None)
        # Nothing was created: a code login for that phone would need a name (new phone).
        assert (await http.post("/api/auth/telegram/link/", json=link_body(phone),
                                headers={"X-Service-Token": BOT_SECRET})).json()["name"] == "telegram bot (777)"


async def test_unset_credential_refuses_everyone(start_gateway, phones):
    app = await start_gateway()
    async with client_for(app) as http:
        refused = await http.post("/api/auth/telegram/link/", json=link_body(phones()), headers={"X-Service-Token": ""})
        assert refused.status_code == 401
        refused = await http.post("/api/auth/telegram/link/", json=link_body(phones()),
                                  headers={"X-Service-Token": "anything"})
        assert refused.status_code == 401


async def test_a_bad_phone_is_a_400(app):
    async with client_for(app) as http:
        bad = await http.post("/api/auth/telegram/link/", json=link_body("12"), headers={"X-Service-Token": BOT_SECRET})
        assert bad.status_code == 400 and "phone_number" in bad.json()["fields"]
