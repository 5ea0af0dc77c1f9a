"""The OpenAPI document at /api/schema/: FastAPI's, with our error answers instead of its 422."""

from typing import Any

from fastapi import FastAPI

VALIDATION_REF = {"$ref": "#/components/schemas/ValidationErrorBody"}
DETAIL_REF = {"$ref": "#/components/schemas/DetailBody"}


def install_openapi(app: FastAPI) -> None:
    generate = app.openapi  # FastAPI's own, cached until the routes change

    def build() -> dict[str, Any]:
        # Both steps are idempotent, so running them on the cached document is fine.
        return _with_not_found(_without_422(generate()))

    app.openapi = build  # type: ignore[method-assign]


def _without_422(schema: dict[str, Any]) -> dict[str, Any]:
    # Invalid input is answered 400 (api.md §4), never FastAPI's default 422.
    for methods in schema.get("paths", {}).values():
        for operation in methods.values():
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
    for methods in schema.get("paths", {}).values():
        for operation in methods.values():
            if any(p.get("in") == "path" for p in operation.get("parameters", [])):
                operation.setdefault("responses", {}).setdefault("404", {
                    "description": "Not found, or not yours",
                    "content": {"application/json": {"schema": DETAIL_REF}},
                })
    return schema
