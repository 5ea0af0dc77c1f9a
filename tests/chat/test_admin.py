"""Staff catalog management: create, read, update (PUT replaces, PATCH merges), delete, validation."""

from decimal import Decimal

import pytest

from chat.admin import CatalogAdmin
from shared.contracts import chat as c
from shared.errors import Conflict, NotFound, ValidationFailed


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
    replaced = await admin.save_model(c.SaveAiModel(item_id=created.id, fields={"name": "Mistral L", "model_id": "mistralai/mistral-large"}))
    assert replaced.max_reply_tokens == 1_024 and replaced.subscription_type_ids == []  # PUT resets the rest
    basic_models = {m.model_id for m in await service.list_models(c.CatalogQuery(plan_id=2))}
    assert "mistralai/mistral-large" not in basic_models
    await admin.delete_model(c.AdminItem(item_id=created.id))
    with pytest.raises(NotFound):
        await admin.get_model(c.AdminItem(item_id=created.id))


async def test_model_validation(admin):
    with pytest.raises(ValidationFailed) as invalid:
        await admin.save_model(c.SaveAiModel(fields={"name": "Dup", "model_id": "google/gemini-pro"}))
    assert "model_id" in invalid.value.details["fields"]
    with pytest.raises(ValidationFailed) as invalid:
        await admin.save_model(c.SaveAiModel(fields={"model_id": "x/y"}))
    assert "name" in invalid.value.details["fields"]
    with pytest.raises(ValidationFailed):
        await admin.save_model(c.SaveAiModel(fields={"name": "N", "model_id": "x/y", "token_cost_multiplier": "-1"}))


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
