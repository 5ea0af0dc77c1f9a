"""The OpenAPI document at /api/schema/: FastAPI's, finished here into one a client generator can use.

FastAPI writes the paths and models; the steps below add what it cannot know, all in this one place
(routes stay as they are): our error answers instead of its 422, the security of each route (cookie +
CSRF or a bearer token; none for the public ones), the headers (X-Request-ID on every answer,
Retry-After, X-RateLimit-*, Idempotency-Key), a typed envelope per paged list, one named schema per
enum, the stream's events, bounds the services enforce, and the links from a created resource to the
operations on it. Every step is idempotent.
"""

from collections.abc import Iterator
from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from gateway import admin_schemas
from gateway.auth_service import NAME_MAX_LENGTH
from gateway.cookies import CSRF_COOKIE, CSRF_HEADER
from gateway.idempotency import MAX_KEY_LENGTH
from gateway.pagination import MAX_PAGE_SIZE
from gateway.passwords import MIN_LENGTH
from gateway.stream_schemas import EVENTS

VALIDATION_REF = {"$ref": "#/components/schemas/ValidationErrorBody"}
DETAIL_REF = {"$ref": "#/components/schemas/DetailBody"}
SCHEMAS = "#/components/schemas/"
UNSAFE = frozenset({"post", "put", "patch", "delete"})

TAGS: list[dict[str, str]] = [
    {"name": "auth", "description": "Accounts and logging in: a browser keeps the `sessionid` cookie and sends "
     "`X-CSRFToken`; a bot or app gets an API token from `POST /api/auth/token/`. These routes need no login."},
    {"name": "api tokens", "description": "Your API tokens: list, create (the secret is shown once) and revoke."},
    {"name": "telegram", "description": "For the MobixAI Telegram bot only (its service credential): link a "
     "Telegram user to the account of the phone they shared, for an API token."},
    {"name": "users", "description": "The logged-in user."},
    {"name": "usage", "description": "Your subscription, every limit of your plan, and usage per chat session."},
    {"name": "catalog", "description": "The chatbots and AI models your plan allows."},
    {"name": "chat sessions", "description": "Conversations: sessions, messages, send, edit, regenerate, stop."},
    {"name": "streaming", "description": "Replies as Server-Sent Events, resumable with `Last-Event-ID`."},
    {"name": "payments", "description": "Buying a plan: the plans for sale, a quote (with a discount code), checkout "
     "through Zibal or Stripe, your payments; and the providers' own return and webhook routes."},
    {"name": "admin", "description": "Staff only: the catalog (and its sync from OpenRouter), plans, users, their "
     "subscriptions and usage, discount codes, payments and refunds; reports from the ledger; the audit log."},
]

DESCRIPTION = f"""Subscription AI chat: sessions with chatbots on AI models, metered against the user's plan.

**Authentication.** Either an API token, `Authorization: Bearer <token>` (from `POST /api/auth/token/`;
no cookie and no CSRF header), or the browser session: the `sessionid` cookie from a login, and on
POST/PUT/PATCH/DELETE the `{CSRF_HEADER}` header equal to the `{CSRF_COOKIE}` cookie.

**Lists** are JSON arrays; with `?page=N` (and `page_size`, at most {MAX_PAGE_SIZE}) they answer a page
envelope `{{count, next, previous, results}}` instead.

**Headers.** Every answer carries `X-Request-ID` (the client's own when it sent one). 429, 503 and 504
carry `Retry-After` (seconds) when waiting helps; a send answers `X-RateLimit-Limit`,
`X-RateLimit-Remaining` and `X-RateLimit-Reset` for the tightest message window, and takes an optional
`Idempotency-Key`.

**Errors** are JSON: `{{"detail"}}` (401, 403 CSRF, 404), `{{"error", "code"}}` (403, 409, 503, 504),
`{{"error", "code": "validation_error", "fields"}}` (400, 413), `{{"error", "code": "limit_exceeded",
"limit"}}` (429). Texts are English, or Persian with `Accept-Language: fa`.

A guide with examples: docs/clients.md ("Build a client").
"""

# Inline enums FastAPI repeats per field: each gets one named schema.
ENUMS: dict[tuple[str, ...], tuple[str, str]] = {
    ("image", "text"): ("Modality", "What a chatbot or model produces: `text` replies or `image`s."),
    ("assistant", "user"): ("MessageType", "Who wrote the message."),
    ("completed", "failed", "queued", "streaming"): ("ReplyStatus", "State of the reply to a user message."),
    ("error", "length", "stop", "stopped"): ("FinishReason", "Why an assistant reply ended: `stop` (done), "
                                             "`length` (max tokens), `stopped` by the user, or `error` (partial)."),
    ("cancelled", "completed", "expired", "failed", "pending", "refunded"): (
        "PaymentStatus", "State of a payment: `pending` until the provider settles it, then `completed`, `failed`, "
        "`cancelled` or `expired`; `refunded` after a staff refund."),
    ("stripe", "zibal"): ("PaymentProvider", "Who takes the payment: `zibal` (IRT) or `stripe` (card)."),
    ("fixed", "percentage"): ("DiscountType", "How a discount code lowers the price: a `percentage` of it, or a "
                              "`fixed` amount in the plan's currency."),
    ("csv", "json"): ("ExportFormat", "`json` (the default), or `csv`: a download with one row per list item."),
    ("change_plan", "create", "delete", "refund", "set_staff", "sync_models", "update"): (
        "AuditAction", "What a staff change did."),
    ("ai_model", "chatbot", "discount_code", "payment", "plan", "user"): (
        "AuditObject", "What kind of object a staff change was made to."),
}

# Public operations (no login). `logout` and `csrf` also work for a logged-in browser.
PUBLIC_SECURITY: dict[str, list[dict[str, list[str]]]] = {
    "logout": [{}, {"session": [], "csrf": []}],
    "csrf": [{}, {"session": []}],
    "zibal_callback": [{}, {"session": []}],  # the returning browser's cookie, when it still has one
}

REDIRECT_DEFAULT = {  # Redocly wants a 2XX or `default` answer; a provider's return route only redirects
    "description": "Not a redirect: an error, as JSON (see the statuses listed)",
    "content": {"application/json": {"schema": {"$ref": SCHEMAS + "ErrorBody"}}},
}

HEADERS: dict[str, dict[str, Any]] = {
    "X-Request-ID": {"description": "The request's id, for logs and support: the client's own "
                     "`X-Request-ID` when it sent one", "schema": {"type": "string"}},
    "Retry-After": {"description": "Seconds to wait before trying again", "schema": {"type": "integer", "minimum": 0}},
    "X-RateLimit-Limit": {"description": "Messages allowed in the tightest message window of your plan",
                          "schema": {"type": "integer", "minimum": 0}},
    "X-RateLimit-Remaining": {"description": "Messages left in that window, after counting this send",
                              "schema": {"type": "integer", "minimum": 0}},
    "X-RateLimit-Reset": {"description": "Seconds until a message of that window frees up",
                          "schema": {"type": "integer", "minimum": 0}},
}

# Bounds the services check themselves (after trimming, for names), so FastAPI cannot see them.
BOUNDS: dict[tuple[str, str], dict[str, Any]] = {
    ("RegisterBody", "password"): {"minLength": MIN_LENGTH},
    ("RegisterBody", "name"): {"description": f"Trimmed; 1 to {NAME_MAX_LENGTH} characters after trimming"},
    ("OtpVerifyBody", "name"): {"description": f"Needed only when the phone is new. Trimmed; 1 to "
                                f"{NAME_MAX_LENGTH} characters after trimming"},
    ("OtpVerifyBody", "code"): {"description": "The 6-digit code (a JSON number is read as its 6 digits)"},
}

LIMIT_VALUE = {
    "description": "A count (messages, tokens, images), or for `max_openrouter_cost_usd` US dollars as a "
    "decimal string",
    "oneOf": [{"type": "integer", "minimum": 0}, {"type": "string", "pattern": r"^\d+\.\d{2,}$"}],
}

STREAM_DESCRIPTION = """Server-Sent Events of the session's replies. The stream starts with a `retry:`
line, sends `: ping` comments at least every 15 s and stays open; every event has an `id`. Reconnect with
`Last-Event-ID` to get what was missed of the reply in progress; connecting without it while a reply is
queued or streaming replays that reply from its start.

| event | `data` (JSON) |
|---|---|
""" + "\n".join(f"| `{name}` | `{model.__name__}` |" for name, model in EVENTS.items())


# OpenAPI links: what an answer's ids lead to (client generators and stateful testers follow them).
# (operation, status) → {target operation: {target path parameter: runtime expression}}. The stream is
# left out: it never ends, so a tool following every link would wait on it forever.
SESSION_ID = {"session_id": "$response.body#/id"}
IN_SESSION = {"session_id": "$request.path.session_id"}
ADMIN_ITEM = {"item_id": "$response.body#/id"}
LINKS: dict[tuple[str, str], dict[str, dict[str, str]]] = {
    ("create_session", "201"): {op: SESSION_ID for op in (
        "get_session", "put_session", "patch_session", "delete_session", "list_messages", "send", "update_title",
        "regenerate", "stop")},
    ("get_session", "200"): {op: IN_SESSION for op in ("list_messages", "send", "patch_session", "delete_session")},
    ("send", "201"): {
        "edit_message": {**IN_SESSION, "message_id": "$response.body#/user_message/message_id"},
        "list_messages": IN_SESSION, "stop": IN_SESSION, "regenerate": IN_SESSION,
    },
    ("create_token", "201"): {"revoke_token": {"token_id": "$response.body#/token_id"}},
    ("checkout", "201"): {"get_payment": {"payment_id": "$response.body#/id"},
                          "admin_refund": {"payment_id": "$response.body#/id"}},
    ("admin_create_model", "201"): {f"admin_{verb}_model": ADMIN_ITEM for verb in ("get", "replace", "update", "delete")},
    ("admin_create_chatbot", "201"): {f"admin_{verb}_chatbot": ADMIN_ITEM for verb in ("get", "replace", "update",
                                                                                        "delete")},
    ("admin_create_plan", "201"): {f"admin_{verb}_plan": {"plan_id": "$response.body#/id"}
                                   for verb in ("get", "replace", "update", "delete")},
    ("admin_create_code", "201"): {f"admin_{verb}_code": {"code_id": "$response.body#/id"}
                                   for verb in ("get", "replace", "update", "delete")},
}


def operation_id(route: APIRoute) -> str:
    """`list_sessions`, `send`, `admin_list_models`: the route function's name, admin routes prefixed
    (public and admin lists share names)."""
    return f"admin_{route.name}" if route.path_format.startswith("/api/admin/") else route.name


def install_openapi(app: FastAPI) -> None:
    """Call before any router is included: routes take their operation id when they are added."""
    app.router.generate_unique_id_function = operation_id
    generate = app.openapi  # FastAPI's own, built once
    finished: list[dict[str, Any]] = []

    def build() -> dict[str, Any]:
        if not finished:
            schema = generate()
            for step in STEPS:
                schema = step(schema)
            finished.append(schema)
        return finished[0]

    app.openapi = build  # type: ignore[method-assign]


def _operations(schema: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, methods in schema.get("paths", {}).items():
        for method, operation in methods.items():
            yield path, method, operation


def _components(schema: dict[str, Any], kind: str = "schemas") -> dict[str, Any]:
    return schema.setdefault("components", {}).setdefault(kind, {})


def _without_422(schema: dict[str, Any]) -> dict[str, Any]:
    # Invalid input is answered 400 (api.md §4), never FastAPI's default 422.
    for _, _, operation in _operations(schema):
        responses = operation.get("responses", {})
        if not _is_fastapis_422(responses.get("422")):
            continue  # a 422 a route documents itself (idempotency_key_reused) stays
        del responses["422"]
        if "400" not in responses:
            responses["400"] = {
                "description": "Invalid field, or malformed JSON",
                "content": {"application/json": {"schema": VALIDATION_REF}},
            }
    components = schema.get("components", {}).get("schemas", {})
    for unused in ("HTTPValidationError", "ValidationError"):
        components.pop(unused, None)
    return schema


def _is_fastapis_422(response: dict[str, Any] | None) -> bool:
    schema = (response or {}).get("content", {}).get("application/json", {}).get("schema", {})
    return schema.get("$ref", "").endswith("/HTTPValidationError")


def _with_not_found(schema: dict[str, Any]) -> dict[str, Any]:
    # Any route naming a resource by id answers 404 when it is missing or not the caller's (api.md §3.5).
    for _, _, operation in _operations(schema):
        if any(p.get("in") == "path" for p in operation.get("parameters", [])):
            operation.setdefault("responses", {}).setdefault("404", {
                "description": "Not found, or not yours",
                "content": {"application/json": {"schema": DETAIL_REF}},
            })
    return schema


def _redirect_defaults(schema: dict[str, Any]) -> dict[str, Any]:
    # An operation whose only success is a 3XX redirect also documents `default`: any other answer is an error.
    for _, _, operation in _operations(schema):
        responses = operation.get("responses", {})
        if not any(str(code).startswith("2") for code in responses) and any(str(c).startswith("3") for c in responses):
            responses.setdefault("default", REDIRECT_DEFAULT)
    return schema


def _security(schema: dict[str, Any]) -> dict[str, Any]:
    schemes = _components(schema, "securitySchemes")
    schemes["csrf"] = {
        "type": "apiKey", "in": "header", "name": CSRF_HEADER,
        "description": f"With the session cookie on POST/PUT/PATCH/DELETE: the value of the `{CSRF_COOKIE}` "
        "cookie (set by every login and by `GET /api/auth/csrf/`). Not used with a bearer token.",
    }
    for _, method, operation in _operations(schema):
        op_id = operation.get("operationId", "")
        if op_id in PUBLIC_SECURITY:
            operation["security"] = PUBLIC_SECURITY[op_id]
        elif operation.get("security") == [{"telegramBot": []}]:
            pass  # the bot's service credential only (gateway.routes.telegram); no user login
        elif not operation.get("security"):
            operation["security"] = []  # FastAPI lists no scheme: the route needs no login
        else:
            session = {"session": [], "csrf": []} if method in UNSAFE else {"session": []}
            operation["security"] = [session, {"bearer": []}]
    return schema


def _headers(schema: dict[str, Any]) -> dict[str, Any]:
    _components(schema, "headers").update(HEADERS)

    def ref(name: str) -> dict[str, str]:
        return {"$ref": f"#/components/headers/{name}"}

    for _path, _method, operation in _operations(schema):
        for status, response in operation.get("responses", {}).items():
            headers = response.setdefault("headers", {})
            headers["X-Request-ID"] = ref("X-Request-ID")
            if status in ("429", "503", "504"):
                headers["Retry-After"] = ref("Retry-After")
            if operation.get("operationId") == "send" and status in ("201", "429"):
                for name in ("X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset"):
                    headers[name] = ref(name)
        for parameter in operation.get("parameters", []):
            if parameter.get("name") == "Idempotency-Key":
                parameter["description"] = (
                    "Makes the send safe to retry: a repeat with the same key and body (within 24 h) answers "
                    "the first result and stores nothing new; the same key with another body is 422.")
                parameter["schema"] = {"type": "string", "minLength": 1, "maxLength": MAX_KEY_LENGTH,
                                       "pattern": r"\S"}
            elif parameter.get("name") == "Last-Event-ID":
                parameter["description"] = "The `id` of the last event received, to resume after it"
                parameter["schema"] = {"type": "string", "pattern": r"^\d{1,20}-\d{1,20}$"}
    return schema


def _paged_lists(schema: dict[str, Any]) -> dict[str, Any]:
    # FastAPI renders `list[X] | dict` as an array or an untyped object; the object is the page envelope.
    components = _components(schema)
    for _, _, operation in _operations(schema):
        content = operation.get("responses", {}).get("200", {}).get("content", {}).get("application/json", {})
        variants = content.get("schema", {}).get("anyOf")
        if not variants or len(variants) != 2:
            continue
        array, envelope = variants
        item = array.get("items", {}).get("$ref", "")
        if array.get("type") != "array" or envelope.get("type") != "object" or not item:
            continue
        name = item.rsplit("/", 1)[-1]
        components[f"{name}Page"] = {
            "title": f"{name}Page",
            "description": f"One page of {name} (with `?page=`)",
            "type": "object",
            "required": ["count", "next", "previous", "results"],
            "properties": {
                "count": {"type": "integer", "minimum": 0, "description": "Items in all pages"},
                "next": {"anyOf": [{"type": "string", "format": "uri"}, {"type": "null"}]},
                "previous": {"anyOf": [{"type": "string", "format": "uri"}, {"type": "null"}]},
                "results": {"type": "array", "items": {"$ref": item}},
            },
        }
        content["schema"] = {"anyOf": [array, {"$ref": f"{SCHEMAS}{name}Page"}],
                             "title": f"{name}List", "description": "An array; a page envelope with `?page=`"}
    return schema


def _named_enums(schema: dict[str, Any]) -> dict[str, Any]:
    components = _components(schema)
    for values, (name, description) in ENUMS.items():
        components[name] = {"title": name, "type": "string", "enum": sorted(values), "description": description}

    def visit(node: Any, inside: str) -> Any:
        if isinstance(node, dict):
            key = tuple(sorted(node.get("enum", ()))) if node.get("type") == "string" else ()
            if key in ENUMS and inside != ENUMS[key][0]:
                ref = {"$ref": SCHEMAS + ENUMS[key][0]}
                return {**ref, "description": node["description"]} if "description" in node else ref
            return {k: visit(v, inside) for k, v in node.items()}
        if isinstance(node, list):
            return [visit(v, inside) for v in node]
        return node

    for key in list(components):
        components[key] = visit(components[key], key)
    schema["paths"] = visit(schema.get("paths", {}), "")
    return schema


def _admin_nulls(schema: dict[str, Any]) -> dict[str, Any]:
    # Admin bodies refuse null except for their NULLABLE fields: the optional fields are not nullable.
    components = _components(schema)
    bodies = [v for v in vars(admin_schemas).values()
              if isinstance(v, type) and issubclass(v, admin_schemas.AdminBody) and v is not admin_schemas.AdminBody]
    for body in bodies:
        for field, prop in components.get(body.__name__, {}).get("properties", {}).items():
            variants = prop.get("anyOf")
            if field in body.NULLABLE or not variants:
                continue
            rest = [v for v in variants if v != {"type": "null"}]
            if len(rest) == 1:
                prop.pop("anyOf")
                prop.update(rest[0])
            else:
                prop["anyOf"] = rest
            if prop.get("default", 0) is None:
                prop.pop("default")
    return schema


def _bounds(schema: dict[str, Any]) -> dict[str, Any]:
    components = _components(schema)
    for (model, field), extra in BOUNDS.items():
        prop = components.get(model, {}).get("properties", {}).get(field)
        if prop is not None:
            prop.update(extra)
    limit_value = {"$ref": SCHEMAS + "LimitValue"}
    components["LimitValue"] = {"title": "LimitValue", **LIMIT_VALUE}
    for model, fields in (("LimitStatus", ("limit", "used", "remaining")), ("LimitInfo", ("limit", "used"))):
        properties = components.get(model, {}).get("properties", {})
        for field in fields:
            if field in properties:
                nullable = field == "remaining"
                properties[field] = ({"anyOf": [limit_value, {"type": "null"}], "description": "null when unlimited"}
                                     if nullable else limit_value)
    return schema


def _stream_events(schema: dict[str, Any]) -> dict[str, Any]:
    components = _components(schema)
    _, definitions = models_json_schema([(model, "serialization") for model in EVENTS.values()],
                                        ref_template=SCHEMAS + "{model}")
    for name, definition in definitions.get("$defs", {}).items():
        components.setdefault(name, definition)
    events = {
        "title": "StreamEvent",
        "description": "One Server-Sent Event: its `event` name says which schema its JSON `data` follows.",
        "type": "object",
        "required": ["id", "event", "data"],
        "properties": {
            "id": {"type": "string", "description": "Send back as `Last-Event-ID` to resume after it"},
            "event": {"type": "string", "enum": list(EVENTS)},
            "data": {"oneOf": [{"$ref": SCHEMAS + model.__name__} for model in _unique(EVENTS.values())]},
        },
    }
    components["StreamEvent"] = events
    for _path, _method, operation in _operations(schema):
        if operation.get("operationId") == "stream":
            operation["description"] = STREAM_DESCRIPTION
            ok = operation["responses"]["200"]
            ok["content"] = {"text/event-stream": {"schema": {"$ref": SCHEMAS + "StreamEvent"}}}
    return schema


def _unique(models: Any) -> list[type[BaseModel]]:
    seen: list[type[BaseModel]] = []
    for model in models:
        if model not in seen:
            seen.append(model)
    return seen


def _links(schema: dict[str, Any]) -> dict[str, Any]:
    by_id = {operation["operationId"]: (path, operation) for path, _, operation in _operations(schema)}
    for (source, status), targets in LINKS.items():
        response = by_id[source][1]["responses"][status]
        for target, parameters in targets.items():
            path, operation = by_id[target]
            needed = {p["name"] for p in operation.get("parameters", []) if p.get("in") == "path"}
            if needed != set(parameters):  # a renamed route or parameter must not leave a dead link
                raise ValueError(f"link {source} → {target}: parameters {sorted(parameters)}, path needs {sorted(needed)}")
            names = ", ".join(f"`{name}`" for name in parameters)
            response.setdefault("links", {})[target] = {
                "operationId": target, "parameters": parameters,
                "description": f"{operation.get('summary') or target} ({names} from this call)",
            }
    return schema


def _descriptions(schema: dict[str, Any]) -> dict[str, Any]:
    # Every operation says what it does (linters and generated docstrings read `description`).
    for _, _, operation in _operations(schema):
        operation.setdefault("description", operation.get("summary", ""))
    info = schema.setdefault("info", {})
    info["description"] = DESCRIPTION
    info.setdefault("contact", {"name": "MobixAI", "url": "https://github.com/mobixai"})
    info.setdefault("license", {"name": "Proprietary", "url": "https://github.com/mobixai"})
    schema["tags"] = TAGS
    # Relative: the document describes the server that serves it (Swagger UI, generators given its URL).
    schema.setdefault("servers", [{"url": "/", "description": "The server that serves this document"}])
    return schema


STEPS = (_without_422, _with_not_found, _redirect_defaults, _security, _headers, _paged_lists, _stream_events, _named_enums,
         _admin_nulls, _bounds, _links, _descriptions)
