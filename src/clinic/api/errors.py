"""One error envelope for every 4xx/5xx of the API: {"error": {"code", "message", "details"}}."""

from __future__ import annotations

import logging

from django.core.exceptions import RequestDataTooBig
from django.db import DatabaseError, DataError
from django.http import Http404
from django.http.multipartparser import MultiPartParserError
from django.utils.translation import gettext as _
from ninja.errors import AuthenticationError, HttpError, ValidationError

from clinic.core.errors import DomainError, TooManyRequests, error_body
from clinic.core.health import database_unavailable, unavailable_response

log = logging.getLogger("clinic.api")


def _field_name(loc: list) -> str:
    """ninja locates errors as ["body", <param name>, field, ...] or ["query", field]."""
    parts = [str(p) for p in loc]
    if parts and parts[0] == "body":
        parts = parts[2:]
    elif parts and parts[0] in ("query", "path", "header", "cookie", "form"):
        parts = parts[1:]
    return ".".join(parts) or "body"


def validation_details(errors: list[dict]) -> dict[str, list[str]]:
    details: dict[str, list[str]] = {}
    for err in errors:
        details.setdefault(_field_name(list(err.get("loc", []))), []).append(err.get("msg", ""))
    return details


def errors_register(api) -> None:
    def respond(request, status, code, message, details=None, headers=None):
        response = api.create_response(request, error_body(code, message, details), status=status)
        for k, v in (headers or {}).items():
            response[k] = v
        return response

    @api.exception_handler(DomainError)
    def domain_error(request, exc: DomainError):
        headers = {}
        if isinstance(exc, TooManyRequests) and exc.retry_after:
            headers["Retry-After"] = str(exc.retry_after)
        return respond(request, exc.status, exc.code, exc.message, exc.details, headers)

    @api.exception_handler(ValidationError)
    def validation_error(request, exc: ValidationError):
        details = validation_details(exc.errors)
        if any(e.get("type") == "json_invalid" for e in exc.errors):
            return respond(
                request, 400, "malformed_json", _("The request body is not valid JSON."), details
            )
        first = next(iter(details), "body")
        return respond(
            request,
            422,
            "validation_error",
            _("Invalid value for %(field)s.") % {"field": first},
            details,
        )

    @api.exception_handler(AuthenticationError)
    def auth_error(request, exc):
        return respond(
            request,
            401,
            "not_authenticated",
            _("Authentication required: send a bearer token or log in."),
        )

    @api.exception_handler(HttpError)
    def http_error(request, exc: HttpError):
        code = {
            400: "bad_request",
            401: "not_authenticated",
            403: "permission_denied",
            404: "not_found",
            405: "method_not_allowed",
            429: "too_many_requests",
        }
        message = str(exc)
        if exc.status_code == 400 and "parse" in message.lower():
            return respond(request, 400, "malformed_json", _("The request body is not valid JSON."))
        return respond(request, exc.status_code, code.get(exc.status_code, "error"), message)

    @api.exception_handler(Http404)
    def not_found(request, exc):
        return respond(request, 404, "not_found", _("Not found."))

    @api.exception_handler(RequestDataTooBig)
    def too_large(request, exc):
        return respond(request, 413, "request_too_large", _("The request body is too large."), None)

    @api.exception_handler(MultiPartParserError)
    def unreadable_body(request, exc):
        # a multipart Content-Type without a usable boundary: the client's request, not our 500
        return respond(request, 400, "bad_request", _("The request body could not be read."), None)

    def invalid_value(request, exc):
        # The last wall behind the schemas' own checks (clinic.api.types): a value PostgreSQL
        # refuses (SQLSTATE class 22: out of range, bad time zone displacement, NUL…) or one
        # Python cannot convert (a date past year 9999) is the caller's input, not our 500.
        log.warning("invalid value reached the database or a conversion: %s", exc)
        return respond(
            request,
            422,
            "validation_error",
            _("A value is out of range or not representable."),
            {"body": [str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__]},
        )

    @api.exception_handler(DatabaseError)
    def database_error(request, exc: DatabaseError):
        if database_unavailable(exc):
            return unavailable_response()
        if isinstance(exc, DataError):
            return invalid_value(request, exc)
        return unexpected(request, exc)

    @api.exception_handler(OverflowError)
    def overflow(request, exc: OverflowError):
        return invalid_value(request, exc)

    @api.exception_handler(Exception)
    def unexpected(request, exc):
        log.exception("unhandled API error", exc_info=exc)
        return respond(
            request,
            500,
            "internal_error",
            _("Something went wrong on our side; it has been logged."),
            {"request_id": getattr(request, "request_id", None)},
        )
