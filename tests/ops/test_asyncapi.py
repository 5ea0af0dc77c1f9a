"""The AsyncAPI documents in docs/asyncapi are the code's: up to date, complete and well formed."""

import ast
import importlib
import inspect
import json
import re
from pathlib import Path
from urllib.parse import unquote

import jsonschema
import pytest
from devinfra import asyncapi
from faststream.rabbit import RabbitRouter

from shared import topology
from shared.contracts import billing, chat, payments, reports
from shared.contracts.base import Contract, Message
from shared.errors import NotFound
from shared.rpc import REPLY_TO, responder

# Checked as generated; the first test keeps the committed files equal to these.
DOCUMENTS = {service: asyncapi.document(service) for service in asyncapi.SERVICES}
# The official AsyncAPI 3.0.0 JSON schema: schemas/3.0.0-without-$id.json of the npm package
# @asyncapi/specs 6.11.1 (Apache-2.0), kept here so the check runs offline.
ASYNCAPI_SCHEMA = json.loads((Path(__file__).parent / "schemas" / "asyncapi-3.0.0.json").read_text())


def _rpc_names(cls: type) -> set[str]:
    return {value for name, value in vars(cls).items() if name.isupper() and isinstance(value, str)}


@pytest.mark.parametrize("service", sorted(asyncapi.SERVICES))
def test_committed_document_matches_the_code(service):
    committed = (asyncapi.OUT / f"{service}.json").read_text()
    assert committed == asyncapi.rendered(service), f"stale: run `python -m devinfra.asyncapi` and commit {service}.json"


def test_check_mode_passes_on_committed_documents():
    assert asyncapi.main(["--check"]) == 0


def test_check_mode_names_a_stale_document_and_the_command(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(asyncapi, "ROOT", tmp_path)
    monkeypatch.setattr(asyncapi, "OUT", tmp_path / "docs" / "asyncapi")
    assert asyncapi.main([]) == 0
    assert asyncapi.main(["--check"]) == 0
    stale = asyncapi.OUT / "chat.json"
    stale.write_text(stale.read_text().replace("chat.reply_stored", "chat.reply_saved"))
    capsys.readouterr()
    assert asyncapi.main(["--check"]) == 1
    err = capsys.readouterr().err
    assert "docs/asyncapi/chat.json" in err and "billing.json" not in err
    assert "python -m devinfra.asyncapi" in err


def test_consumed_queues_describe_their_binding_and_dead_lettering():
    channels = DOCUMENTS["billing"]["channels"]
    (channel,) = (c for c in channels.values() if c.get("bindings", {}).get("amqp", {}).get("queue", {}).get("name")
                  == topology.BILLING_REPLY_COMPLETED.name)
    assert (f"bound to exchange `{topology.EVENTS.name}` with routing key `{topology.Keys.REPLY_COMPLETED}`"
            in channel["description"])
    assert f"`{topology.BILLING_REPLY_COMPLETED.name}.dlq`" in channel["description"]


def _bound_queues_and_keys() -> tuple[set[str], set[str]]:
    queues, keys = set(), set()
    for document in DOCUMENTS.values():
        for channel in document["channels"].values():
            keys.add(channel["address"])
            queue = channel.get("bindings", {}).get("amqp", {}).get("queue", {}).get("name")
            if queue:
                queues.add(queue)
    return queues, keys


def test_every_queue_routing_key_and_query_is_documented():
    queues, addresses = _bound_queues_and_keys()
    assert {q.name for q in topology.WORK_QUEUES} | {topology.GATEWAY_STREAM.name} <= queues
    routing_keys = {v for k, v in vars(topology.Keys).items() if k.isupper()}
    assert routing_keys <= addresses, sorted(routing_keys - addresses)
    rpc = {topology.rpc_queue(q).name for q in _rpc_names(chat.RpcNames) | _rpc_names(chat.AdminRpcNames) | _rpc_names(billing.RpcNames)
           | _rpc_names(payments.RpcNames)}
    assert rpc <= queues, sorted(rpc - queues)


@pytest.mark.parametrize("service", sorted(asyncapi.SERVICES))
def test_document_is_valid_asyncapi_3_with_resolvable_references(service):
    document = DOCUMENTS[service]
    jsonschema.Draft7Validator(ASYNCAPI_SCHEMA).validate(document)
    assert document["asyncapi"] == "3.0.0" and document["info"]["title"] == f"MobixAI {service}"
    assert document["channels"] and document["operations"]
    text = json.dumps(document)
    for ref in set(re.findall(r'"\$ref": "#/([^"]+)"', text)):
        node = document
        for part in unquote(ref).split("/"):  # JSON pointers may be percent-encoded
            assert part in node, f"{service}: unresolved $ref #/{ref}"
            node = node[part]
    for operation in document["operations"].values():
        assert operation["action"] in {"send", "receive"}


def _schemas() -> set[str]:
    return {name for document in DOCUMENTS.values() for name in document["components"]["schemas"]}


def test_every_contract_on_the_wire_has_a_schema():
    # DeniedLimit travels inside an RpcError's free-form `details` (billing.admit's limit_exceeded).
    not_schemas = {Contract, Message, billing.DeniedLimit}
    contracts = {
        cls.__name__
        for module in ("base", "gateway", "llm", "chat", "billing", "payments", "reports")
        for cls in vars(importlib.import_module(f"shared.contracts.{module}")).values()
        if inspect.isclass(cls) and issubclass(cls, Contract) and cls not in not_schemas
    }
    assert contracts <= _schemas(), sorted(contracts - _schemas())


def test_every_rpc_query_documents_its_reply():
    queries = (_rpc_names(chat.RpcNames) | _rpc_names(chat.AdminRpcNames) | _rpc_names(billing.RpcNames)
               | _rpc_names(payments.RpcNames) | _rpc_names(reports.RpcNames))
    replies = {
        name.removesuffix(":reply")
        for document in DOCUMENTS.values()
        for name, channel in document["channels"].items()
        if channel["address"] == REPLY_TO
    }
    assert replies == queries
    result = DOCUMENTS["billing"]["components"]["schemas"]["BillingGetSubscriptionReply"]["properties"]["result"]
    assert {"$ref": "#/components/schemas/Subscription"} in result["anyOf"]


PLAN = {"id": 1, "name": "Basic", "price": "9.90", "duration_days": 30, "sku": "basic", "created_at": "2026-01-01T00:00:00Z"}


async def test_reply_model_accepts_what_a_responder_answers():
    router = RabbitRouter()

    @responder(router, "billing.get_plan")
    async def answer(q: billing.PlanQuery) -> billing.Plan:
        if q.plan_id == 0:
            raise NotFound("no such plan")
        return billing.Plan.model_validate(PLAN)

    (subscriber,) = router.subscribers
    model = asyncapi.reply_model("billing.get_plan", asyncapi.responder_result(subscriber))
    ok = await answer(billing.PlanQuery(plan_id=1))
    failed = await answer(billing.PlanQuery(plan_id=0))
    assert model.model_validate(ok.body).result == billing.Plan.model_validate(PLAN)
    assert model.model_validate(failed.body).error.code == "not_found"
    with pytest.raises(ValueError):  # the model is strict, so an envelope change would fail above
        model.model_validate({**ok.body, "status": "ok"})


def test_outbox_lists_exactly_what_chat_enqueues():
    enqueued = set()
    for path in Path(asyncapi.ROOT, "services/chat/chat").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "enqueue":
                exchange, key, message = node.args
                assert isinstance(message, ast.Call), f"{path.name}:{node.lineno}: enqueue a contract built in place"
                model = message.func.attr if isinstance(message.func, ast.Attribute) else message.func.id
                enqueued.add((getattr(topology, exchange.value.id).name, getattr(topology.Keys, key.attr), model))
    assert enqueued == {(exchange.name, key, model.__name__) for exchange, key, model in asyncapi.OUTBOX}


def test_gateway_stream_documents_every_bound_key_with_its_publisher_model():
    document = DOCUMENTS["gateway"]
    events = asyncapi.published_events()
    for key in topology.STREAM_KEYS:
        channel = document["channels"][f"{topology.GATEWAY_STREAM.name}:{key}"]
        assert channel["address"] == key
        assert channel["bindings"]["amqp"]["queue"]["name"] == topology.GATEWAY_STREAM.name
        message = channel["messages"]["SubscribeMessage"]["$ref"].rsplit("/", 1)[1]
        payload = document["components"]["messages"][message]["payload"]
        assert payload == {"$ref": f"#/components/schemas/{events[key].__name__}"}
