"""The one place that turns exceptions into HTTP answers (api.md §4). No request ends in a 500.

Bodies: validation `{"error", "code": "validation_error", "fields"}` (400, 413); auth and routing
`{"detail"}` (401, 403, 404, 405); plan refusals and conflicts `{"error", "code"}` (403, 409); limits
`{"error", "code": "limit_exceeded", "limit"}` + Retry-After (429); dependencies down or slow
`{"error", "code": "unavailable"}` + Retry-After (503, 504).
"""

import http
import logging
import math
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from gateway.error_texts import Catalogue, Language, language_of
from shared.errors import (
    AccessDenied,
    Conflict,
    DomainError,
    LimitExceeded,
    NotFound,
    Timeout,
    UpstreamFailed,
    ValidationFailed,
)

log = logging.getLogger(__name__)

NON_FIELD = "non_field_errors"
RETRY_AFTER_SECONDS = 5
MAX_BODY_BYTES = 1024 * 1024


class NotAuthenticated(Exception):
    """No live login session: 401."""


class InvalidToken(Exception):
    """An unknown, revoked or expired API token: 401."""


class AuthenticationFailed(Exception):
    """Wrong phone number or password (the same answer for both): 401."""


class CsrfFailed(Exception):
    """An unsafe request on a session without a matching X-CSRFToken: 403."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class PermissionDenied(Exception):
    """Logged in, but not allowed (staff-only routes): 403."""


class BodyTooLarge(HTTPException):
    """Raised while the body is read (FastAPI re-raises HTTPExceptions from body parsing)."""

    def __init__(self) -> None:
        super().__init__(status_code=413, detail="The request body is larger than 1 MiB.")


# --- bodies ------------------------------------------------------------------------------------------


def detail(status: int, text: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"detail": text}, status_code=status, headers=headers)


def validation(status: int, message: str, fields: dict[str, list[str]] | None = None) -> JSONResponse:
    body = {"error": message, "code": "validation_error", "fields": jsonable_encoder(fields or {})}
    return JSONResponse(body, status_code=status)


def unavailable(catalogue: Catalogue, accept_language: str | None, *, timeout: bool = False,
                retry_after: Any = None) -> JSONResponse:
    text = catalogue.text("timeout" if timeout else "unavailable", language_of(accept_language))
    seconds = _seconds(retry_after) or RETRY_AFTER_SECONDS
    return JSONResponse({"error": text, "code": "unavailable"}, status_code=504 if timeout else 503,
                        headers={"Retry-After": str(seconds)})


def _seconds(value: Any) -> int | None:
    try:
        return max(0, math.ceil(float(value))) if value is not None else None
    except (TypeError, ValueError):
        return None


# --- language --------------------------------------------------------------------------------------


def language(request: Request) -> Language:
    return language_of(request.headers.get("accept-language"))


def say(request: Request, key: str, **values: object) -> str:
    """The catalogue's text `key` in the request's language."""
    catalogue: Catalogue = request.app.state.catalogue
    return catalogue.text(key, language(request), **values)


def phrase(request: Request, english: str, kind: str = "validation_error") -> str:
    """A service's English text in the request's language."""
    catalogue: Catalogue = request.app.state.catalogue
    return catalogue.phrase(english, language(request), kind)


def too_large(catalogue: Catalogue, accept_language: str | None) -> JSONResponse:
    """413 from the middlewares, which have no Request."""
    return validation(413, catalogue.text("body_too_large", language_of(accept_language)))


# --- request validation ----------------------------------------------------------------------------


def _ctx(error: dict) -> dict[str, object]:
    ctx = error.get("ctx") or {}
    return {k: v if isinstance(v, int | float | str) else str(v) for k, v in ctx.items()}


def _message(error: dict, catalogue: Catalogue, lang: Language) -> str:
    key = f"field.{error.get('type', '')}"
    if key in catalogue.texts.get(lang, {}):
        return catalogue.text(key, lang, **_ctx(error))
    if lang == "en":
        return str(error.get("msg") or "Invalid value.")  # pydantic's own English text
    return catalogue.text("field.invalid", lang)


def _field_name(error: dict) -> str:
    loc = [str(part) for part in error.get("loc") or ()]
    if loc and loc[0] in ("body", "query", "path", "header", "cookie"):
        loc = loc[1:]
    return ".".join(loc) or NON_FIELD


def validation_fields(errors: list[dict], catalogue: Catalogue | None = None, lang: Language = "en") -> dict[str, list[str]]:
    catalogue = catalogue or Catalogue()
    fields: dict[str, list[str]] = {}
    for error in errors:
        name = _field_name(error)
        if name == NON_FIELD and error.get("type") == "missing":
            message = catalogue.text("json_body_required", lang)
        elif name == NON_FIELD and isinstance(error.get("input"), bytes | str):
            message = catalogue.text("json_object_expected", lang)
        else:
            message = _message(error, catalogue, lang)
        fields.setdefault(name, []).append(message)
    return fields


async def on_request_validation(request: Request, exc: RequestValidationError) -> JSONResponse:
    errors = list(exc.errors())
    malformed = next((e for e in errors if e.get("type") == "json_invalid"), None)
    if malformed is not None:
        reason = (malformed.get("ctx") or {}).get("error", "cannot be parsed")
        return validation(400, say(request, "malformed_json", reason=reason))
    fields = validation_fields(errors, request.app.state.catalogue, language(request))
    name, messages = next(iter(fields.items()), (NON_FIELD, [say(request, "invalid_input")]))
    return validation(400, messages[0] if name == NON_FIELD else f"{name}: {messages[0]}", fields)


# --- HTTP exceptions (routing, body size, anything raising HTTPException) --------------------------


async def on_http_exception(request: Request, exc: HTTPException) -> JSONResponse:
    status = exc.status_code
    headers = dict(exc.headers or {})
    custom = exc.detail if isinstance(exc.detail, str) and exc.detail != _phrase(status) else None
    if status == 400:
        return validation(400, phrase(request, custom) if custom else say(request, "bad_request"))
    if status == 413:
        return validation(413, say(request, "body_too_large"))
    if status == 401:
        return detail(401, say(request, "not_authenticated"), {"WWW-Authenticate": 'Session realm="api"', **headers})
    if status == 403:
        return detail(403, phrase(request, custom, "permission_denied") if custom else say(request, "permission_denied"),
                      headers)
    if status == 404:
        return detail(404, phrase(request, custom, "not_found") if custom else say(request, "not_found"), headers)
    if status == 405:
        return detail(405, say(request, "method_not_allowed", method=request.method), headers)
    if status >= 500:
        return unavailable(request.app.state.catalogue, request.headers.get("accept-language"),
                           timeout=status == 504)
    return detail(status, phrase(request, custom, "error") if custom else say(request, "error"), headers)


def _phrase(status: int) -> str:
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return ""


# --- domain errors (raised here or carried over RPC) ---------------------------------------------


def _localized_fields(request: Request, fields: dict[str, list[str]]) -> dict[str, list[str]]:
    if language(request) == "en":
        return fields
    return {name: [phrase(request, str(m)) for m in messages] for name, messages in fields.items()}


async def on_domain_error(request: Request, exc: DomainError) -> JSONResponse:
    details = exc.details
    if isinstance(exc, NotFound):
        # The public text is fixed: a service's message may say more than a caller should learn.
        public = details.get("detail")
        return detail(404, phrase(request, public, "not_found") if public else say(request, "not_found"))
    if isinstance(exc, ValidationFailed):
        return validation(400, phrase(request, exc.message), _localized_fields(request, details.get("fields") or {}))
    if isinstance(exc, AccessDenied):
        return JSONResponse({"error": phrase(request, exc.message, "access_denied"),
                             "code": details.get("code", "access_denied")}, status_code=403)
    if isinstance(exc, Conflict):
        return JSONResponse({"error": phrase(request, exc.message, "conflict"), "code": details.get("code", "conflict")},
                            status_code=409)
    if isinstance(exc, LimitExceeded):
        return limit_exceeded(request, jsonable_encoder(details.get("limit") or {}))
    if isinstance(exc, UpstreamFailed):
        return JSONResponse({"error": phrase(request, exc.message, "upstream_error"), "code": "upstream_error"},
                            status_code=502)
    if not isinstance(exc, Timeout):
        log.warning("dependency unavailable on %s %s: %s", request.method, request.url.path, exc.message)
    return unavailable(request.app.state.catalogue, request.headers.get("accept-language"),
                       timeout=isinstance(exc, Timeout), retry_after=details.get("retry_after"))


def limit_exceeded(request: Request, limit: dict[str, Any]) -> JSONResponse:
    catalogue: Catalogue = request.app.state.catalogue
    language = language_of(request.headers.get("accept-language"))
    text = catalogue.text(str(limit.get("name") or "limit_exceeded"), language,
                          limit=limit.get("limit"), used=limit.get("used"), retry_after=limit.get("retry_after"))
    retry_after = _seconds(limit.get("retry_after"))
    headers = {"Retry-After": str(retry_after)} if retry_after is not None else None
    return JSONResponse({"error": text, "code": "limit_exceeded", "limit": limit}, status_code=429, headers=headers)


# --- the gateway's own auth errors ----------------------------------------------------------------


async def on_not_authenticated(request: Request, exc: NotAuthenticated) -> JSONResponse:
    return detail(401, say(request, "not_authenticated"), {"WWW-Authenticate": 'Session realm="api"'})


async def on_invalid_token(request: Request, exc: InvalidToken) -> JSONResponse:
    catalogue: Catalogue = request.app.state.catalogue
    text = catalogue.text("invalid_token", language_of(request.headers.get("accept-language")))
    return detail(401, text, {"WWW-Authenticate": 'Bearer realm="api", error="invalid_token"'})


async def on_authentication_failed(request: Request, exc: AuthenticationFailed) -> JSONResponse:
    return detail(401, say(request, "authentication_failed"), {"WWW-Authenticate": 'Session realm="api"'})


async def on_csrf_failed(request: Request, exc: CsrfFailed) -> JSONResponse:
    return detail(403, say(request, "csrf_failed", reason=phrase(request, exc.reason, "bad_request")))


async def on_permission_denied(request: Request, exc: PermissionDenied) -> JSONResponse:
    return detail(403, say(request, "permission_denied"))


def install_error_handlers(app: FastAPI) -> None:
    """Register every mapping; anything else is caught by `middleware.CatchAllMiddleware` (503)."""
    app.add_exception_handler(RequestValidationError, on_request_validation)
    app.add_exception_handler(HTTPException, on_http_exception)
    app.add_exception_handler(DomainError, on_domain_error)
    app.add_exception_handler(NotAuthenticated, on_not_authenticated)
    app.add_exception_handler(AuthenticationFailed, on_authentication_failed)
    app.add_exception_handler(InvalidToken, on_invalid_token)
    app.add_exception_handler(CsrfFailed, on_csrf_failed)
    app.add_exception_handler(PermissionDenied, on_permission_denied)
