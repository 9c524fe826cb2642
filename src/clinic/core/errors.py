"""Domain errors: raised by services, mapped once to the JSON envelope and to form errors."""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    status = 400
    code = "bad_request"

    def __init__(self, message: str, *, details: Any = None, code: str | None = None):
        super().__init__(message)
        self.message = message
        self.details = details
        if code:
            self.code = code


class ValidationFailed(DomainError):
    """Input that is well-formed but breaks a rule; details map field -> messages."""

    status = 422
    code = "validation_error"


def field_error(field: str, message: str, *, code: str | None = None) -> ValidationFailed:
    """A 422 about one field: the message, and the same message under that field's name."""
    return ValidationFailed(message, code=code, details={field: [message]})


class NotAuthenticated(DomainError):
    status = 401
    code = "not_authenticated"


class PermissionDenied(DomainError):
    status = 403
    code = "permission_denied"


class NotFound(DomainError):
    status = 404
    code = "not_found"


class Conflict(DomainError):
    status = 409
    code = "conflict"


class Gone(DomainError):
    """A link or record that existed and can no longer be used (an expired invitation)."""

    status = 410
    code = "gone"


class TooManyRequests(DomainError):
    status = 429
    code = "too_many_requests"

    def __init__(self, message: str, *, retry_after: int | None = None, **kwargs):
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


def error_body(code: str, message: str, details: Any = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": details}}
