"""Domain failures that cross service boundaries.

A service raises one of these; the RPC layer carries it as `{"code", "message", "details"}`
and re-raises the same type in the caller; the gateway maps each type to HTTP in one place.
"""

from typing import Any, ClassVar


class DomainError(Exception):
    code: ClassVar[str] = "error"

    def __init__(self, message: str = "", **details: Any) -> None:
        super().__init__(message or self.code)
        self.message = message or self.code
        self.details = details

    def to_wire(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "details": self.details}


class NotFound(DomainError):
    code = "not_found"


class ValidationFailed(DomainError):
    """Bad input; `details["fields"]` maps request field names to messages."""

    code = "validation_error"


class AccessDenied(DomainError):
    """The plan does not allow this; `details["code"]` is the public error code."""

    code = "access_denied"


class Conflict(DomainError):
    """The request clashes with current state; `details["code"]` is the public error code."""

    code = "conflict"


class LimitExceeded(DomainError):
    """A usage limit denies the request; `details["limit"]` describes it."""

    code = "limit_exceeded"


class Unavailable(DomainError):
    """A dependency is down or timed out; the caller should retry later."""

    code = "unavailable"


class Timeout(Unavailable):
    code = "timeout"


class UpstreamFailed(DomainError):
    """An outside provider answered with an error or nothing usable (the gateway answers 502)."""

    code = "upstream_failed"


_BY_CODE: dict[str, type[DomainError]] = {
    cls.code: cls
    for cls in (NotFound, ValidationFailed, AccessDenied, Conflict, LimitExceeded, Unavailable, Timeout, UpstreamFailed)
}


def from_wire(payload: dict[str, Any]) -> DomainError:
    cls = _BY_CODE.get(payload.get("code", ""), Unavailable)
    err = cls(payload.get("message", ""), **(payload.get("details") or {}))
    return err
