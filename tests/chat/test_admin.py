"""Staff catalog management: create, read, update (PUT replaces, PATCH merges), delete, validation."""

from decimal import Decimal

import pytest
from chat.admin import CatalogAdmin
from chat.openrouter_models import ListedModel
from pydantic import ValidationError

from shared.contracts import chat as c
from shared.contracts.admin_fields import AiModelPatch, ChatbotPatch
from shared.errors import Conflict, NotFound, ValidationFailed
from tests.support.contracts import unchecked, unchecked_values


@pytest.fixture
def admin(chat_env) -> CatalogAdmin:
    return CatalogAdmin(chat_env[1])


async def test_model_crud_round_trip(admin, chat_env):
    service = chat_env[0]
    created = await admin.save_model(c.SaveAiModel(fields={
        "name": "Mistral Large", "model_id": "mistralai/mistral-large", "token_cost_multiplier": "1.5",
        "subscription_type_ids": [2], "fallback_model_ids": ["google/gemini-pro"],
    }))
    assert created.token_cost_multiplier == Decimal("1.50") and created.subscription_type_ids == [2]
    assert created.context_tokens == 16_000 and created.max_reply_tokens == 1_024
    patched = await admin.save_model(c.SaveAiModel(item_id=created.id, partial=True, fields={"max_reply_tokens": 512}))
    assert patched.max_reply_tokens == 512 and patched.subscription_type_ids == [2]
    with pytest.raises(ValidationFailed) as incomplete:  # PUT without every field: refused, nothing changes
        await admin.save_model(c.SaveAiModel(item_id=created.id, fields={"name": "Mistral L", "model_id": "mistralai/mistral-large"}))
    assert {"max_reply_tokens", "subscription_type_ids", "prompt_price_usd_per_mtok"} <= set(incomplete.value.details["fields"])
    assert await admin.get_model(c.AdminItem(item_id=created.id)) == patched
    whole = {**patched.model_dump(mode="json"), "name": "Mistral L", "max_reply_tokens": 1_024, "subscription_type_ids": []}
    replaced = await admin.save_model(c.SaveAiModel(item_id=created.id, fields=whole))
    assert replaced.name == "Mistral L" and replaced.max_reply_tokens == 1_024 and replaced.subscription_type_ids == []
    basic_models = {m.model_id for m in await service.list_models(c.CatalogQuery(plan_id=2))}
    assert "mistralai/mistral-large" not in basic_models
    await admin.delete_model(c.AdminItem(item_id=created.id))
    with pytest.raises(NotFound):
        await admin.get_model(c.AdminItem(item_id=created.id))


@unchecked_values
async def test_model_validation(admin):
    with pytest.raises(ValidationFailed) as invalid:
        await admin.save_model(c.SaveAiModel(fields={"name": "Dup", "model_id": "google/gemini-pro"}))
    assert "model_id" in invalid.value.details["fields"]
    with pytest.raises(ValidationFailed) as invalid:
        await admin.save_model(c.SaveAiModel(fields={"model_id": "x/y"}))
    assert "name" in invalid.value.details["fields"]
    negative = {"name": "N", "model_id": "x/y", "token_cost_multiplier": "-1"}
    with pytest.raises(ValidationError):  # a bound: the contract refuses it as the gateway does
        c.SaveAiModel(fields=negative)
    with pytest.raises(ValidationFailed):
        await admin.save_model(unchecked(c.SaveAiModel, AiModelPatch, negative))


async def test_model_in_use_cannot_be_deleted(admin, chat_env):
    service = chat_env[0]
    await service.create_session(c.CreateSession(user_id=1, plan_id=1, chatbot_id=1))
    with pytest.raises(Conflict) as conflict:
        await admin.delete_model(c.AdminItem(item_id=3))  # gemini-pro, default of General Assistant
    assert conflict.value.details["code"] == "in_use"


async def test_chatbot_crud_and_plan_links(admin, chat_env):
    service = chat_env[0]
    bot = await admin.save_chatbot(c.SaveChatbot(fields={
        "name": "Poet", "system_prompt": "Answer in verse.", "default_model_id": "openai/gpt-4o-mini",
        "subscription_type_ids": [3],
    }))
    assert bot.default_model_id == "openai/gpt-4o-mini" and bot.subscription_type_ids == [3]
    assert "Poet" not in {b.name for b in await service.list_chatbots(c.CatalogQuery(plan_id=1))}
    public = await admin.save_chatbot(c.SaveChatbot(item_id=bot.id, partial=True, fields={"subscription_type_ids": []}))
    assert public.subscription_type_ids == []
    assert "Poet" in {b.name for b in await service.list_chatbots(c.CatalogQuery(plan_id=1))}
    with pytest.raises(ValidationFailed):
        await admin.save_chatbot(c.SaveChatbot(item_id=bot.id, partial=True,
                                               fields={"default_model_id": "google/gemini-2.5-flash-image-preview"}))
    await admin.delete_chatbot(c.AdminItem(item_id=bot.id))
    assert bot.id not in {b.id for b in await admin.list_chatbots()}


@pytest.mark.parametrize("image", ["javascript:alert(1)", "data:image/png;base64,AAAA", "http://example.com/a.png",
                                   "//evil.example/a.png", "media/a.png", "/media/../secret", " /media/a.png"])
async def test_chatbot_image_must_be_a_media_path_or_https(admin, image):
    fields = {"name": "Pic", "image": image}
    with pytest.raises(ValidationError) as refused:
        c.SaveChatbot(fields=fields)
    assert [e["loc"] for e in refused.value.errors()] == [("fields", "image")]
    with pytest.raises(ValidationFailed) as invalid:
        await admin.save_chatbot(unchecked(c.SaveChatbot, ChatbotPatch, fields))
    assert "image" in invalid.value.details["fields"]


async def test_chatbot_image_accepts_media_paths_and_https(admin):
    for image in ("/media/chatbots/poet.png", "https://cdn.example.com/poet.webp", None):
        bot = await admin.save_chatbot(c.SaveChatbot(fields={"name": f"Pic {image}", "image": image}))
        assert bot.image == image


@pytest.mark.parametrize("fields, field", [
    ({"name": "Nul\x00", "model_id": "x/nul"}, "name"),
    ({"name": "\u200b\u200c", "model_id": "x/zw"}, "name"),
    ({"name": "Desc", "model_id": "x/desc", "description": "a\x00b"}, "description"),
    ({"name": "Price", "model_id": "x/price", "prompt_price_usd_per_mtok": "10000.01"}, "prompt_price_usd_per_mtok"),
    ({"name": "Ctx", "model_id": "x/ctx", "context_tokens": 10_000_001}, "context_tokens"),
])
@unchecked_values
async def test_chat_refuses_what_the_gateway_refuses(admin, fields, field):
    """The contract carries the gateway's own field family, so it refuses the same; chat checks the shared
    text rule and bounds again (defence in depth), even for a contract built unchecked."""
    with pytest.raises(ValidationError) as refused:
        c.SaveAiModel(fields=fields)
    assert [e["loc"] for e in refused.value.errors()] == [("fields", field)]
    with pytest.raises(ValidationFailed) as invalid:
        await admin.save_model(unchecked(c.SaveAiModel, AiModelPatch, fields))
    assert field in invalid.value.details["fields"]


async def test_sync_fills_listed_models_within_bounds_and_changes_nothing_twice(admin):
    mine = await admin.save_model(c.SaveAiModel(fields={"name": "Mine", "model_id": "vendor/mine",
                                                        "max_reply_tokens": 1_024, "context_tokens": 8_000}))
    small_cap = await admin.save_model(c.SaveAiModel(fields={"name": "Capped", "model_id": "vendor/capped",
                                                             "max_reply_tokens": 512}))
    listed = [
        ListedModel("vendor/mine", "Vendor: Mine", 64_000, Decimal("0.25"), Decimal("1.0000004"), 4_096),
        ListedModel("vendor/capped", "", 10**12, Decimal(10**9), None, 8_192),  # out of bounds: skipped
        ListedModel("vendor/not-ours", "Other", 1_000, None, None, None),
    ]
    synced = await admin.sync_models(listed)
    ours = {u.openrouter_id: u.changes for u in synced.updated}
    # the reply cap is only ever lowered to the provider's: 1,024 is under 4,096, so it stays
    assert ours == {"vendor/mine": {"name": ["Mine", "Vendor: Mine"], "context_tokens": [8_000, 64_000],
                                    "prompt_price_usd_per_mtok": [None, "0.250000"],
                                    "completion_price_usd_per_mtok": [None, "1.000000"]}}
    assert "vendor/not-ours" in synced.not_in_catalog
    assert (await admin.get_model(c.AdminItem(item_id=small_cap.id))).max_reply_tokens == 512
    again = await admin.sync_models(listed)
    assert again.updated == [] and again.unchanged == synced.unchanged + 1
    lowered = await admin.sync_models([ListedModel("vendor/mine", None, None, None, None, 256)])
    assert [u.changes for u in lowered.updated] == [{"max_reply_tokens": [1_024, 256]}]
    assert (await admin.get_model(c.AdminItem(item_id=mine.id))).max_reply_tokens == 256
