"""Catalog routes (api.md §3.3, §3.4): what each plan may use, one item at a time, and `?page=` envelopes."""

import pytest

from tests.api.harness import anonymous

CHATBOT_FIELDS = {"id", "name", "description", "image", "is_active", "system_prompt", "chatbot_type"}
MODEL_FIELDS = {"id", "name", "model_id", "description", "model_type", "is_active", "is_free", "token_cost_multiplier"}

# The seed catalog (business rules §7), by plan.
CHATBOTS = {
    "user": {"General Assistant"},
    "basic": {"General Assistant", "Creative Writer", "Image Generator"},
    "premium": {"General Assistant", "Creative Writer", "Technical Expert", "Image Generator"},
}
FREE_MODELS = {"google/gemini-pro", "openai/gpt-4o-mini"}
MODELS = {
    "user": FREE_MODELS,
    "basic": FREE_MODELS | {"anthropic/claude-3-opus", "google/gemini-2.5-flash-image-preview"},
    "premium": FREE_MODELS | {"anthropic/claude-3-opus", "google/gemini-2.5-flash-image-preview", "openai/gpt-4-turbo"},
}


@pytest.mark.parametrize("who", ["user", "basic", "premium"])
def test_chatbots_are_the_public_ones_plus_the_plans(request, system, who):
    client = request.getfixturevalue(who)
    response = client.get("/api/chatbots/")
    assert response.status_code == 200
    bots = response.json()
    assert isinstance(bots, list)
    assert {b["name"] for b in bots} == CHATBOTS[who]
    for bot in bots:
        assert set(bot) == CHATBOT_FIELDS
        assert bot["is_active"] is True and bot["chatbot_type"] in ("text", "image")
    assert next(b for b in bots if b["name"] == "General Assistant")["chatbot_type"] == "text"


@pytest.mark.parametrize("who", ["user", "basic", "premium"])
def test_models_are_the_free_ones_plus_the_plans(request, system, who):
    client = request.getfixturevalue(who)
    models = client.get("/api/ai-models/").json()
    assert {m["model_id"] for m in models} == MODELS[who]
    for model in models:
        assert set(model) == MODEL_FIELDS
        assert isinstance(model["token_cost_multiplier"], str)  # a decimal string, two places
        assert len(model["token_cost_multiplier"].split(".")[1]) == 2
    mini = next(m for m in models if m["model_id"] == "openai/gpt-4o-mini")
    assert mini["is_free"] is True and mini["token_cost_multiplier"] == "0.50"


def test_one_visible_chatbot_and_model_equal_their_list_entries(premium):
    for route in ("/api/chatbots/", "/api/ai-models/"):
        for item in premium.get(route).json():
            one = premium.get(f"{route}{item['id']}/")
            assert one.status_code == 200, (route, item)
            assert one.json() == item


def test_a_chatbot_or_model_the_plan_does_not_allow_is_404(user, premium):
    hidden_bots = [b for b in premium.get("/api/chatbots/").json() if b["name"] not in CHATBOTS["user"]]
    hidden_models = [m for m in premium.get("/api/ai-models/").json() if m["model_id"] not in MODELS["user"]]
    assert hidden_bots and hidden_models
    for path in [f"/api/chatbots/{b['id']}/" for b in hidden_bots] + [f"/api/ai-models/{m['id']}/" for m in hidden_models]:
        response = user.get(path)
        assert response.status_code == 404, path
        assert response.json() == {"detail": "Not found."}


@pytest.mark.parametrize("path", ["/api/chatbots/999999/", "/api/ai-models/999999/"])
def test_an_unknown_id_is_404(user, path):
    response = user.get(path)
    assert response.status_code == 404 and response.json() == {"detail": "Not found."}


@pytest.mark.parametrize("path", ["/api/chatbots/abc/", "/api/ai-models/1.5/", "/api/chatbots/99999999999999999999999/"])
def test_an_id_that_is_not_an_id_is_400(user, path):
    response = user.get(path)
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "validation_error" and len(body["fields"]) == 1


def test_inactive_items_are_hidden_and_404(admin, premium):
    bot = admin.post("/api/admin/chatbots/", json={"name": "Retired helper", "is_active": False}).json()
    model = admin.post("/api/admin/ai-models/", json={"name": "Retired", "model_id": "test/retired", "is_free": True,
                                                      "is_active": False}).json()
    try:
        assert bot["name"] not in {b["name"] for b in premium.get("/api/chatbots/").json()}
        assert "test/retired" not in {m["model_id"] for m in premium.get("/api/ai-models/").json()}
        assert premium.get(f"/api/chatbots/{bot['id']}/").status_code == 404
        assert premium.get(f"/api/ai-models/{model['id']}/").status_code == 404
    finally:
        assert admin.delete(f"/api/admin/chatbots/{bot['id']}/").status_code == 204
        assert admin.delete(f"/api/admin/ai-models/{model['id']}/").status_code == 204


def test_catalog_needs_a_login(system):
    for path in ("/api/chatbots/", "/api/chatbots/1/", "/api/ai-models/", "/api/ai-models/1/"):
        response = anonymous(system).get(path)
        assert response.status_code == 401
        assert response.json() == {"detail": "Authentication credentials were not provided."}


# --- ?page= (api.md §1) ---------------------------------------------------------------------------


def test_page_gives_an_envelope_with_links(premium):
    everything = premium.get("/api/ai-models/").json()
    assert len(everything) == 5
    first = premium.get("/api/ai-models/", params={"page": 1, "page_size": 2}).json()
    assert set(first) == {"count", "next", "previous", "results"}
    assert first["count"] == 5 and first["previous"] is None
    assert first["results"] == everything[:2]
    second = premium.get(first["next"]).json()  # the link is followed as given
    assert second["results"] == everything[2:4]
    assert "page=1" in second["previous"]
    last = premium.get(second["next"]).json()
    assert last["results"] == everything[4:] and last["next"] is None


def test_page_size_defaults_to_twenty_and_is_clamped_to_a_hundred(premium):
    default = premium.get("/api/chatbots/", params={"page": 1}).json()
    assert default["count"] == 4 and len(default["results"]) == 4 and default["next"] is None
    clamped = premium.get("/api/chatbots/", params={"page": 2, "page_size": 5000}).json()
    assert clamped["results"] == []
    assert "page_size=100" in clamped["previous"]  # the size actually used, not the one asked for


def test_a_page_past_the_end_is_empty(premium):
    body = premium.get("/api/chatbots/", params={"page": 50}).json()
    assert body["count"] == 4 and body["results"] == [] and body["next"] is None


@pytest.mark.parametrize("params", [{"page": 0}, {"page": -1}, {"page": "x"}, {"page": 1, "page_size": 0}])
def test_bad_page_parameters_are_400_naming_them(user, params):
    response = user.get("/api/chatbots/", params=params)
    assert response.status_code == 400
    fields = response.json()["fields"]
    assert set(fields) <= {"page", "page_size"} and fields


def test_paths_without_the_trailing_slash(premium):
    assert premium.get("/api/chatbots").json() == premium.get("/api/chatbots/").json()
    response = premium.get("/api/ai-models/1", follow_redirects=False)
    assert response.status_code == 200 and response.json()["id"] == 1
