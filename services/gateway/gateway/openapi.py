"""The OpenAPI document at /api/schema/: FastAPI's, with our error answers instead of its 422."""

from typing import Any

from fastapi import FastAPI

VALIDATION_REF = {"$ref": "#/components/schemas/ValidationErrorBody"}


def install_openapi(app: FastAPI) -> None:
    generate = app.openapi  # FastAPI's own, cached until the routes change

    def build() -> dict[str, Any]:
        return _without_422(generate())  # idempotent, so running it on the cached document is fine

    app.openapi = build  # type: ignore[method-assign]


def _without_422(schema: dict[str, Any]) -> dict[str, Any]:
    # Invalid input is answered 400 (api.md §4), never FastAPI's default 422.
    for methods in schema.get("paths", {}).values():
        for operation in methods.values():
            responses = operation.get("responses", {})
            if responses.pop("422", None) is not None and "400" not in responses:
                responses["400"] = {
                    "description": "Invalid field, or malformed JSON",
                    "content": {"application/json": {"schema": VALIDATION_REF}},
                }
    components = schema.get("components", {}).get("schemas", {})
    for unused in ("HTTPValidationError", "ValidationError"):
        components.pop(unused, None)
    return schema
