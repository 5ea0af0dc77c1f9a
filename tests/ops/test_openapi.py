"""The gateway's OpenAPI document as a product (issue 11): what a client generator needs is in it, and
two third-party linters (Redocly, Spectral `spectral:oas`) find nothing but the trailing slashes the
contract requires (api.md §1; switched off in tools/node/redocly.yaml and .spectral.yaml).

The document is built in-process (no services needed); tests/api checks it against the running system
(schemathesis) and tests/e2e drives a generated client with it.
"""

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from gateway import admin_schemas
from gateway.app import create_app
from gateway.idempotency import MAX_KEY_LENGTH
from gateway.passwords import MIN_LENGTH
from gateway.settings import GatewaySettings
from gateway.stream_schemas import EVENTS

ROOT = Path(__file__).resolve().parents[2]
NODE_TOOLS = ROOT / "tools" / "node"
PUBLIC = {"register", "login", "request_code", "verify_code", "obtain_token"}


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    return create_app(GatewaySettings(ENVIRONMENT="test")).openapi()


def operations(schema: dict[str, Any]):
    for path, methods in schema["paths"].items():
        for method, operation in methods.items():
            yield path, method, operation


def walk(node: Any, where: str = ""):
    """Every (location, dict) of the document."""
    if isinstance(node, dict):
        yield where, node
        for key, value in node.items():
            yield from walk(value, f"{where}/{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from walk(value, f"{where}[{i}]")


def test_operation_ids_are_short_unique_and_readable(schema):
    ids = [op["operationId"] for _, _, op in operations(schema)]
    assert len(ids) == len(set(ids))
    for op_id in ids:
        assert re.fullmatch(r"[a-z][a-z_]{1,40}", op_id), op_id
        assert "_api_" not in op_id and not op_id.endswith(("_get", "_post", "_put", "_patch", "_delete")), op_id
    assert {"send", "list_sessions", "stream", "obtain_token", "admin_list_models", "list_models"} <= set(ids)
    assert {"admin_report_overview", "admin_report_top_users", "admin_report_top_models", "admin_audit_log",
            "admin_sync_models", "admin_user_usage"} <= set(ids)


def test_every_tag_is_declared_with_a_description(schema):
    declared = {tag["name"]: tag.get("description") for tag in schema["tags"]}
    assert all(declared.values())
    for path, method, op in operations(schema):
        assert op["tags"] and set(op["tags"]) <= set(declared), (method, path)
        assert op.get("description"), (method, path)


def test_each_enum_is_one_named_schema(schema):
    inline = [(where, tuple(node["enum"])) for where, node in walk(schema)
              if "enum" in node and not re.fullmatch(r"/components/schemas/\w+", where)]
    # The stream's event names are the only inline enum, and appear once.
    assert [values for _, values in inline] == [tuple(EVENTS)], inline
    components = schema["components"]["schemas"]
    assert components["Modality"]["enum"] == ["image", "text"]
    refs = [where for where, node in walk(schema) if node.get("$ref") == "#/components/schemas/Modality"]
    assert len(refs) >= 6  # chatbot_type and model_type of the public, admin and body schemas


def test_paged_lists_are_typed(schema):
    for where, node in walk(schema):
        untyped = node.get("type") == "object" and "properties" not in node and node.get("additionalProperties", True)
        assert not (untyped and "/responses/" in where), where
    paged = 0
    for path, _method, op in operations(schema):
        body = op["responses"].get("200", {}).get("content", {}).get("application/json", {}).get("schema", {})
        if "page" not in {p["name"] for p in op.get("parameters", [])}:
            continue
        paged += 1
        array, page = body["anyOf"]
        item = array["items"]["$ref"]
        envelope = schema["components"]["schemas"][page["$ref"].rsplit("/", 1)[-1]]
        assert envelope["required"] == ["count", "next", "previous", "results"], path
        assert envelope["properties"]["results"]["items"]["$ref"] == item, path
    # sessions, usages, chatbots, models, plans for sale, payments; admin models, chatbots, plans, users,
    # discount codes, payments (the audit log pages by keyset instead: test_the_operator_console_is_documented)
    assert paged == 12


CONSOLE_REPORTS = ("/api/admin/reports/overview/", "/api/admin/reports/top-users/", "/api/admin/reports/top-models/")


def test_the_operator_console_is_documented(schema):
    components = schema["components"]["schemas"]
    for path in (*CONSOLE_REPORTS, "/api/admin/audit-log/"):
        op = schema["paths"][path]["get"]
        params = {p["name"]: p for p in op["parameters"]}
        assert params["format"]["schema"]["$ref"] == "#/components/schemas/ExportFormat", path
        content = op["responses"]["200"]["content"]
        assert set(content) == {"application/json", "text/csv"}, path
        assert {"401", "403", "400"} <= set(op["responses"]), path
        assert op["security"] == [{"session": []}, {"bearer": []}], path
    for path in CONSOLE_REPORTS:
        params = {p["name"]: p for p in schema["paths"][path]["get"]["parameters"]}
        assert params["from"]["schema"]["anyOf"][0]["pattern"] == r"^\d{4}-\d{2}-\d{2}$"
        assert "to" in params
    audit = schema["paths"]["/api/admin/audit-log/"]["get"]
    assert {p["name"] for p in audit["parameters"]} == {"limit", "before", "object_type", "actor_id", "format"}
    assert components["AuditPageOut"]["required"] == ["results", "has_more"]
    assert components["AuditEntryOut"]["properties"]["action"] == {"$ref": "#/components/schemas/AuditAction"}
    sync = schema["paths"]["/api/admin/ai-models/sync/"]["post"]
    assert sync["responses"]["502"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/ErrorBody"}
    assert sync["security"] == [{"session": [], "csrf": []}, {"bearer": []}]
    usage = schema["paths"]["/api/admin/users/{user_id}/usage/"]["get"]
    assert usage["responses"]["200"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/UsageReport"}


def test_security_schemes_and_public_routes(schema):
    schemes = schema["components"]["securitySchemes"]
    assert schemes["bearer"] == {**schemes["bearer"], "type": "http", "scheme": "bearer"}
    assert schemes["session"]["in"] == "cookie" and schemes["session"]["name"] == "sessionid"
    assert schemes["csrf"]["in"] == "header" and schemes["csrf"]["name"] == "X-CSRFToken"
    by_id = {op["operationId"]: op for _, _, op in operations(schema)}
    for op_id in PUBLIC:
        assert by_id[op_id]["security"] == [], op_id
    assert {} in by_id["csrf"]["security"] and {} in by_id["logout"]["security"]
    assert by_id["send"]["security"] == [{"session": [], "csrf": []}, {"bearer": []}]
    assert by_id["list_sessions"]["security"] == [{"session": []}, {"bearer": []}]


def test_headers_are_documented(schema):
    for path, method, op in operations(schema):
        for status, response in op["responses"].items():
            headers = response.get("headers", {})
            assert "X-Request-ID" in headers, (method, path, status)
            if status in ("429", "503", "504"):
                assert "Retry-After" in headers, (method, path, status)
    send = schema["paths"]["/api/chat-sessions/{session_id}/send/"]["post"]
    assert {"X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset"} <= set(send["responses"]["201"]["headers"])
    key = next(p for p in send["parameters"] if p["name"] == "Idempotency-Key")
    assert key["schema"]["maxLength"] == MAX_KEY_LENGTH and key["description"]


def test_the_stream_events_are_described(schema):
    stream = schema["paths"]["/api/chat-sessions/{session_id}/stream/"]["get"]
    for name, model in EVENTS.items():
        assert f"`{name}`" in stream["description"] and model.__name__ in stream["description"]
        assert model.__name__ in schema["components"]["schemas"]
    event = stream["responses"]["200"]["content"]["text/event-stream"]["schema"]["$ref"]
    assert event.endswith("/StreamEvent")
    data = schema["components"]["schemas"]["StreamEvent"]["properties"]["data"]["oneOf"]
    assert {ref["$ref"].rsplit("/", 1)[-1] for ref in data} == {m.__name__ for m in EVENTS.values()}


def test_the_schema_says_what_the_server_enforces(schema):
    components = schema["components"]["schemas"]
    assert components["RegisterBody"]["properties"]["password"]["minLength"] == MIN_LENGTH
    for model, fields in (("LimitStatus", ("limit", "used")), ("LimitInfo", ("limit", "used"))):
        for field in fields:
            assert components[model]["properties"][field] == {"$ref": "#/components/schemas/LimitValue"}
    assert components["LimitValue"]["oneOf"][0] == {"type": "integer", "minimum": 0}
    # Admin bodies refuse null except where null means something.
    bodies = [getattr(admin_schemas, f"{family}{kind}") for family in ("AiModel", "Chatbot", "Plan")
              for kind in ("Fields", "Create", "Patch")]
    for body in (*bodies, admin_schemas.StartSubscriptionBody, admin_schemas.DiscountCodeBody):
        for field, prop in components[body.__name__]["properties"].items():
            nullable = {"type": "null"} in prop.get("anyOf", [])
            assert nullable == (field in body.NULLABLE), (body.__name__, field)


def _resolve(schema: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        node = schema["components"]["schemas"][node["$ref"].rsplit("/", 1)[-1]]
    return node


def test_links_lead_from_a_created_resource_to_the_operations_on_it(schema):
    by_id = {op["operationId"]: (path, op) for path, _, op in operations(schema)}
    links = [(source, status, name, link) for _, _, source in operations(schema)
             for status, response in source["responses"].items() for name, link in response.get("links", {}).items()]
    for source, status, name, link in links:
        path, target = by_id[link["operationId"]]
        needed = {p["name"] for p in target.get("parameters", []) if p["in"] == "path"}
        assert set(link["parameters"]) == needed, (source["operationId"], name)
        for expression in link["parameters"].values():
            if expression.startswith("$request.path."):  # the source's own path parameter
                assert expression.removeprefix("$request.path.") in {
                    p["name"] for p in source.get("parameters", []) if p["in"] == "path"}, expression
                continue
            assert expression.startswith("$response.body#/"), expression
            node = source["responses"][status]["content"]["application/json"]["schema"]
            for part in expression.removeprefix("$response.body#/").split("/"):
                node = _resolve(schema, node)
                assert part in node["properties"], (source["operationId"], expression)
                node = node["properties"][part]
        assert link["description"]
    targets = {(source["operationId"], link["operationId"]) for source, _, _, link in links}
    assert {("create_session", "get_session"), ("create_session", "patch_session"), ("create_session", "delete_session"),
            ("create_session", "list_messages"), ("send", "edit_message"), ("create_token", "revoke_token"),
            ("checkout", "get_payment"), ("admin_create_plan", "admin_delete_plan")} <= targets
    assert not any(target == "stream" for _, target in targets)  # it never ends: no tool should follow into it


# --- third-party linters --------------------------------------------------------------------------


def node_tool(name: str) -> Path:
    """tools/node/node_modules/.bin/<name>, installed from the npm registry on first use."""
    binary = NODE_TOOLS / "node_modules" / ".bin" / name
    if not binary.exists():
        if shutil.which("npm") is None:
            pytest.skip("npm is not installed (apt-get install nodejs npm): the OpenAPI linters cannot run")
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=NODE_TOOLS, check=True, timeout=900,
                       capture_output=True)
    return binary


@pytest.fixture(scope="module")
def schema_file(schema, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("openapi") / "openapi.json"
    path.write_text(json.dumps(schema, ensure_ascii=False), encoding="utf-8")
    return path


@pytest.mark.timeout(900)
def test_redocly_finds_nothing(schema_file):
    redocly = node_tool("redocly")
    result = subprocess.run([str(redocly), "lint", "--config", "redocly.yaml", "--format", "json", str(schema_file)],
                            cwd=NODE_TOOLS, check=False, capture_output=True, text=True, timeout=600)
    problems = json.loads(result.stdout)["problems"]
    assert problems == [], json.dumps(problems, indent=1)[:5000]
    assert result.returncode == 0, result.stderr[-2000:]


@pytest.mark.timeout(900)
def test_spectral_finds_nothing(schema_file):
    spectral = node_tool("spectral")
    report = schema_file.with_name("spectral.json")
    result = subprocess.run([str(spectral), "lint", "--ruleset", ".spectral.yaml", "--format", "json",
                             "--output", str(report), "--fail-severity", "hint", str(schema_file)],
                            cwd=NODE_TOOLS, check=False, capture_output=True, text=True, timeout=600)
    problems = json.loads(report.read_text(encoding="utf-8"))
    assert problems == [], json.dumps(problems, indent=1)[:5000]
    assert result.returncode == 0, result.stderr[-2000:]
