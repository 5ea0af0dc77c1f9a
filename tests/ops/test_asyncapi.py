"""The AsyncAPI documents in docs/asyncapi are the code's: up to date, complete and well formed."""

import json
import re
from urllib.parse import unquote

import pytest
from devinfra import asyncapi

from shared import topology
from shared.contracts import billing, chat

DOCUMENTS = {service: json.loads((asyncapi.OUT / f"{service}.json").read_text()) for service in asyncapi.SERVICES}


def _queries(cls: type) -> set[str]:
    return {value for name, value in vars(cls).items() if name.isupper() and isinstance(value, str)}


@pytest.mark.parametrize("service", sorted(asyncapi.SERVICES))
def test_committed_document_matches_the_code(service):
    committed = (asyncapi.OUT / f"{service}.json").read_text()
    assert committed == asyncapi.rendered(service), f"stale: run `python -m devinfra.asyncapi` and commit {service}.json"


def test_check_mode_passes_on_committed_documents():
    assert asyncapi.main(["--check"]) == 0


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
    rpc = {topology.rpc_queue(q).name for q in _queries(chat.Queries) | _queries(chat.AdminQueries) | _queries(billing.Queries)}
    assert rpc <= queues, sorted(rpc - queues)


@pytest.mark.parametrize("service", sorted(asyncapi.SERVICES))
def test_document_is_asyncapi_3_with_resolvable_references(service):
    document = DOCUMENTS[service]
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
