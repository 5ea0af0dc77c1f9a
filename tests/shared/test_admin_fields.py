"""Admin contracts carry typed fields, and on the wire exactly the fields the request set: a PATCH's
omitted field never arrives, a nullable field set to null arrives as null, a value out of bounds is
refused by the contract itself."""

import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from faststream.rabbit import RabbitRouter
from gateway import admin_schemas
from pydantic import ValidationError

from shared.contracts import billing as b
from shared.contracts import chat as c
from shared.contracts import payments as p
from shared.contracts.admin_fields import AiModelFields, AiModelPatch, ChatbotPatch, PlanPatch
from shared.rpc import responder, to_jsonable
from tests.support.rpc import caller, responding


def wire(contract):
    """What `RpcClient.call` sends, and what the receiver validates it into."""
    body = json.dumps(to_jsonable(contract))
    return json.loads(body), type(contract).model_validate_json(body)


def test_a_patch_with_one_field_sends_and_delivers_that_field_only():
    body = AiModelPatch.model_validate({"max_reply_tokens": 512, "id": 9})  # `id` is read-only: ignored
    sent, received = wire(c.SaveAiModel(item_id=3, partial=True, fields=body.sent()))
    assert sent == {"item_id": 3, "partial": True, "fields": {"max_reply_tokens": 512}}
    assert received.fields.model_fields_set == {"max_reply_tokens"}
    assert received.fields.sent() == {"max_reply_tokens": 512}


def test_a_nullable_field_set_to_null_arrives_as_null_and_an_omitted_one_not_at_all():
    sent, received = wire(c.SaveChatbot(item_id=1, partial=True, fields={"image": None, "name": "Poet"}))
    assert sent["fields"] == {"name": "Poet", "image": None}
    assert received.fields.sent() == {"name": "Poet", "image": None}
    assert "default_model_id" not in received.fields.model_fields_set


def test_a_put_body_sends_every_field_and_values_as_json():
    whole = AiModelFields.model_validate({
        "name": "M", "model_id": "x/m", "description": "", "model_type": "text", "is_active": True, "is_free": False,
        "token_cost_multiplier": Decimal("1.5"), "subscription_type_ids": [2], "context_tokens": 16_000,
        "max_reply_tokens": 1_024, "prompt_price_usd_per_mtok": None, "completion_price_usd_per_mtok": "0.25",
        "fallback_model_ids": [],
    })
    sent, received = wire(c.SaveAiModel(item_id=1, fields=whole.sent()))
    assert sent["fields"] == whole.sent() and set(sent["fields"]) == set(AiModelFields.model_fields)
    assert sent["fields"]["token_cost_multiplier"] == "1.5" and sent["fields"]["prompt_price_usd_per_mtok"] is None
    assert received.fields.sent() == whole.sent()


def test_internal_callers_pass_python_values_and_the_owner_reads_json_values():
    query = b.CreatePlan(fields={"name": "Team", "sku": "TEAM", "price": Decimal("9.99"), "weekly_max_messages": 70})
    assert query.fields.sent() == {"name": "Team", "price": "9.99", "sku": "TEAM", "weekly_max_messages": 70}
    update = b.UpdatePlan(plan_id=4, partial=True, fields={"is_active": False})
    assert wire(update)[0] == {"plan_id": 4, "partial": True, "fields": {"is_active": False}}
    until = datetime(2030, 1, 1, tzinfo=UTC)
    code = p.SaveDiscountCode(code_id=2, partial=True, fields={"valid_until": until, "max_uses": None})
    sent, received = wire(code)
    assert sent["fields"] == {"max_uses": None, "valid_until": "2030-01-01T00:00:00Z"}
    assert received.fields.valid_until == until and received.fields.model_fields_set == {"max_uses", "valid_until"}


@pytest.mark.parametrize("contract, fields, field", [
    (c.SaveAiModel, {"context_tokens": 10_000_001}, "context_tokens"),
    (c.SaveAiModel, {"token_cost_multiplier": "-1"}, "token_cost_multiplier"),
    (c.SaveAiModel, {"name": None}, "name"),  # not nullable: null is refused, not "unset"
    (c.SaveChatbot, {"image": "javascript:alert(1)"}, "image"),
    (b.CreatePlan, {"daily_max_tokens": 2**31}, "daily_max_tokens"),
    (b.CreatePlan, {"name": "N\x00"}, "name"),
    (p.SaveDiscountCode, {"max_uses": 0}, "max_uses"),
])
def test_a_value_outside_the_bounds_is_refused_when_built_and_when_received(contract, fields, field):
    with pytest.raises(ValidationError) as built:
        contract(fields=fields)
    with pytest.raises(ValidationError) as received:
        contract.model_validate_json(json.dumps({"fields": fields}))
    for refused in (built, received):
        assert [e["loc"] for e in refused.value.errors()] == [("fields", field)]


async def test_the_owner_sees_exactly_the_set_fields_over_the_broker(rabbit_url):
    router = RabbitRouter()

    @responder(router, "testsvc.admin_fields")
    async def answer(query: c.SaveChatbot) -> dict:
        return {"set": sorted(query.fields.model_fields_set), "sent": query.fields.sent(),
                "type": type(query.fields).__name__}

    patch = ChatbotPatch.model_validate({"default_model_id": None})
    async with responding(rabbit_url, router), caller(rabbit_url) as rpc:
        seen = await rpc.call("testsvc.admin_fields", c.SaveChatbot(item_id=1, partial=True, fields=patch.sent()))
    assert seen == {"set": ["default_model_id"], "sent": {"default_model_id": None}, "type": "ChatbotPatch"}


def test_the_contracts_carry_the_family_the_gateway_validates_with():
    assert admin_schemas.PlanPatch is PlanPatch and admin_schemas.AiModelPatch is AiModelPatch
    assert b.UpdatePlan.model_fields["fields"].annotation is PlanPatch
