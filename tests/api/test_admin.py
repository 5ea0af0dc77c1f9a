"""The staff API (api.md §5): full CRUD of plans, AI models and chatbots; users, plans and staff status."""

import pytest

from tests.api.harness import PREMIUM, create_session, new_user

ADMIN_MODEL_EXTRA = {"subscription_type_ids", "context_tokens", "max_reply_tokens", "prompt_price_usd_per_mtok",
                     "completion_price_usd_per_mtok", "fallback_model_ids"}


def test_staff_routes_refuse_ordinary_users(user):
    for path in ("/api/admin/subscription-types/", "/api/admin/ai-models/", "/api/admin/chatbots/", "/api/admin/users/"):
        response = user.get(path)
        assert response.status_code == 403, path
        assert response.json() == {"detail": "You do not have permission to perform this action."}


def test_plan_crud(admin):
    body = {"name": "Student", "sku": "STUDENT_SUB_30D", "price": "35000", "duration_days": 30, "hourly_max_messages": 4,
            "id": 1, "created_at": "2000-01-01T00:00:00Z"}  # read-only fields are ignored
    created = admin.post("/api/admin/subscription-types/", json=body)
    assert created.status_code == 201, created.text
    plan = created.json()
    assert plan["id"] not in (1, 2, 3) and plan["price"] == "35000.00" and plan["hourly_max_messages"] == 4
    assert not plan["created_at"].startswith("2000")
    url = f"/api/admin/subscription-types/{plan['id']}/"
    assert admin.get(url).json() == plan
    assert plan in admin.get("/api/admin/subscription-types/").json()
    patched = admin.patch(url, json={"daily_max_messages": 40}).json()
    assert patched["daily_max_messages"] == 40 and patched["hourly_max_messages"] == 4  # PATCH merges
    whole = {k: v for k, v in patched.items() if k not in ("id", "created_at")}
    replaced = admin.put(url, json=whole | {"price": "36000.5", "hourly_max_messages": 0})
    assert replaced.status_code == 200, replaced.text
    assert replaced.json()["price"] == "36000.50" and replaced.json()["hourly_max_messages"] == 0  # PUT replaces
    duplicate = admin.post("/api/admin/subscription-types/", json={"name": "Other", "sku": "STUDENT_SUB_30D", "price": "1"})
    assert duplicate.status_code == 400 and "sku" in duplicate.json()["fields"]
    deleted = admin.delete(url)
    assert deleted.status_code == 204 and deleted.content == b""
    assert admin.get(url).status_code == 404


def test_plan_validation(admin):
    for body, field in [({"sku": "NO_NAME", "price": "1"}, "name"), ({"name": "N", "sku": "S", "price": "-1"}, "price"),
                        ({"name": "N", "sku": "S", "price": "1", "duration_days": 0}, "duration_days"),
                        ({"name": "N", "sku": "S", "price": "1", "is_active": None}, "is_active")]:
        response = admin.post("/api/admin/subscription-types/", json=body)
        assert response.status_code == 400 and field in response.json()["fields"], (body, response.text)


def test_the_default_plan_cannot_be_deleted(admin):
    response = admin.delete("/api/admin/subscription-types/1/")
    assert response.status_code == 409 and response.json()["code"] == "default_plan"


def test_ai_model_crud(admin, premium):
    created = admin.post("/api/admin/ai-models/", json={
        "name": "Mistral Large", "model_id": "mistralai/mistral-large", "token_cost_multiplier": "1.5",
        "subscription_type_ids": [PREMIUM], "fallback_model_ids": ["google/gemini-pro"], "prompt_price_usd_per_mtok": "2",
    })
    assert created.status_code == 201, created.text
    model = created.json()
    assert ADMIN_MODEL_EXTRA <= set(model)
    assert model["token_cost_multiplier"] == "1.50" and model["subscription_type_ids"] == [PREMIUM]
    assert model["fallback_model_ids"] == ["google/gemini-pro"] and model["completion_price_usd_per_mtok"] is None
    url = f"/api/admin/ai-models/{model['id']}/"
    try:
        assert admin.get(url).json() == model
        assert "mistralai/mistral-large" in {m["model_id"] for m in premium.get("/api/ai-models/").json()}
        patched = admin.patch(url, json={"max_reply_tokens": 512, "prompt_price_usd_per_mtok": None}).json()
        assert patched["max_reply_tokens"] == 512 and patched["prompt_price_usd_per_mtok"] is None
        assert patched["subscription_type_ids"] == [PREMIUM]
        whole = {k: v for k, v in patched.items() if k != "id"}
        replaced = admin.put(url, json=whole | {"name": "Mistral L", "subscription_type_ids": [], "max_reply_tokens": 1024}).json()
        assert replaced["subscription_type_ids"] == [] and replaced["max_reply_tokens"] == 1024
        assert "mistralai/mistral-large" not in {m["model_id"] for m in premium.get("/api/ai-models/").json()}
    finally:
        assert admin.delete(url).status_code == 204
    assert admin.get(url).status_code == 404


@pytest.mark.parametrize("body, field", [
    ({"model_id": "x/y"}, "name"),
    ({"name": "Dup", "model_id": "google/gemini-pro"}, "model_id"),
    ({"name": "N", "model_id": "x/y", "token_cost_multiplier": "-1"}, "token_cost_multiplier"),
    ({"name": "N", "model_id": "x/y", "model_type": "video"}, "model_type"),
    ({"name": "N", "model_id": "x/y", "is_active": None}, "is_active"),
    ({"name": "N", "model_id": "x/y", "fallback_model_ids": None}, "fallback_model_ids"),
    ({"name": "N", "model_id": "x/y", "fallback_model_ids": ["a,b"]}, "fallback_model_ids.0"),
    ({"name": "N", "model_id": "x/y", "subscription_type_ids": [0]}, "subscription_type_ids.0"),
])
def test_ai_model_validation(admin, body, field):
    response = admin.post("/api/admin/ai-models/", json=body)
    assert response.status_code == 400, response.text
    assert field in response.json()["fields"]


def test_chatbot_crud_and_in_use(admin, user):
    created = admin.post("/api/admin/chatbots/", json={
        "name": "Poet", "system_prompt": "Answer in verse.", "default_model_id": "openai/gpt-4o-mini",
    })
    assert created.status_code == 201, created.text
    bot = created.json()
    assert bot["subscription_type_ids"] == [] and bot["default_model_id"] == "openai/gpt-4o-mini"
    assert bot["chatbot_type"] == "text" and bot["is_active"] is True
    url = f"/api/admin/chatbots/{bot['id']}/"
    assert admin.get(url).json() == bot
    assert "Poet" in {b["name"] for b in user.get("/api/chatbots/").json()}  # public: no plan links
    session = create_session(user, bot["id"])
    assert session["ai_model"]["model_id"] == "openai/gpt-4o-mini"
    in_use = admin.delete(url)
    assert in_use.status_code == 409 and in_use.json()["code"] == "in_use"
    retired = admin.patch(url, json={"is_active": False, "subscription_type_ids": [PREMIUM]}).json()
    assert retired["is_active"] is False and retired["subscription_type_ids"] == [PREMIUM]
    assert "Poet" not in {b["name"] for b in user.get("/api/chatbots/").json()}
    wrong_type = admin.patch(url, json={"default_model_id": "google/gemini-2.5-flash-image-preview"})
    assert wrong_type.status_code == 400 and "default_model_id" in wrong_type.json()["fields"]


def test_chatbot_delete_when_unused(admin):
    bot = admin.post("/api/admin/chatbots/", json={"name": "Ephemeral", "chatbot_type": "image"}).json()
    url = f"/api/admin/chatbots/{bot['id']}/"
    whole = {k: v for k, v in bot.items() if k != "id"}
    assert admin.put(url, json=whole | {"name": "Ephemeral 2"}).json()["name"] == "Ephemeral 2"
    assert admin.delete(url).status_code == 204
    assert admin.get(url).status_code == 404 and admin.delete(url).status_code == 404


def test_admin_lists_follow_the_page_rule(admin):
    for path in ("/api/admin/subscription-types/", "/api/admin/ai-models/", "/api/admin/chatbots/", "/api/admin/users/"):
        everything = admin.get(path).json()
        assert isinstance(everything, list) and everything, path
        assert admin.get(path.rstrip("/"), follow_redirects=False).json() == everything  # no trailing slash
        page = admin.get(path, params={"page": 1, "page_size": 1}).json()
        assert page["count"] == len(everything) and page["results"] == everything[:1], path


def test_users_search_and_start_a_plan(system, admin):
    client = new_user(system, name="Searchable")
    digits = client.phone[-7:]
    found = admin.get("/api/admin/users/", params={"phone": digits}).json()
    assert [u["id"] for u in found] == [client.user_id]
    entry = found[0]
    assert set(entry) == {"id", "phone_number", "name", "is_verified", "is_staff", "date_joined", "subscription"}
    assert entry["is_staff"] is False and entry["subscription"]["subscription_type"]["sku"] == "FREE_SUB_30D"
    started = admin.post(f"/api/admin/users/{client.user_id}/subscription/",
                         json={"subscription_type_id": PREMIUM, "duration_days": 7})
    assert started.status_code == 200, started.text
    subscription = started.json()
    assert subscription["subscription_type"]["id"] == PREMIUM and subscription["end_date"]
    assert client.get("/api/users/subscription/").json() == subscription
    assert admin.post("/api/admin/users/999999/subscription/", json={"subscription_type_id": PREMIUM}).status_code == 404
    unknown_plan = admin.post(f"/api/admin/users/{client.user_id}/subscription/", json={"subscription_type_id": 999999})
    assert unknown_plan.status_code == 400 and "subscription_type_id" in unknown_plan.json()["fields"]
    huge = admin.post(f"/api/admin/users/{client.user_id}/subscription/", json={"subscription_type_id": 2**63})
    assert huge.status_code == 400 and "subscription_type_id" in huge.json()["fields"]
    assert admin.post(f"/api/admin/users/{2**40}/subscription/", json={"subscription_type_id": PREMIUM}).status_code == 400


def test_staff_status_is_read_on_every_request(system, admin):
    client = new_user(system)
    assert client.get("/api/admin/chatbots/").status_code == 403
    promoted = admin.post(f"/api/admin/users/{client.user_id}/staff/", json={"is_staff": True})
    assert promoted.status_code == 200 and promoted.json()["is_staff"] is True
    assert client.get("/api/admin/chatbots/").status_code == 200  # same login session, no new login
    demoted = admin.post(f"/api/admin/users/{client.user_id}/staff/", json={"is_staff": False})
    assert demoted.status_code == 200 and demoted.json()["is_staff"] is False
    assert client.get("/api/admin/chatbots/").status_code == 403
    assert admin.post("/api/admin/users/999999/staff/", json={"is_staff": True}).status_code == 404
    assert admin.post(f"/api/admin/users/{client.user_id}/staff/", json={}).status_code == 400
