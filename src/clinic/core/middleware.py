from __future__ import annotations

import re
import time
import uuid

import structlog
from django.db import transaction

from clinic.core.logs import logger
from clinic.core.tenancy import request_meta, settings_activate, tenant_state_isolated

_REQUEST_ID_OK = re.compile(r"^[A-Za-z0-9._:-]{8,64}$")
log = logger("clinic.request")


def client_ip(request) -> str | None:
    return request.META.get("REMOTE_ADDR") or None


def bearer_token(request) -> str | None:
    """The secret of an `Authorization: Bearer` header (None without one, "" if empty)."""
    header = request.headers.get("Authorization", "")
    return header[7:].strip() if header[:7].lower() == "bearer " else None


class RequestLogMiddleware:
    """Gives every request an id (returned as X-Request-ID) and logs one JSON line for it."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        incoming = request.headers.get("X-Request-ID", "")
        request.request_id = incoming if _REQUEST_ID_OK.match(incoming) else uuid.uuid4().hex
        started = time.perf_counter()
        structlog.contextvars.bind_contextvars(request_id=request.request_id)
        try:
            response = self.get_response(request)
        finally:
            structlog.contextvars.unbind_contextvars("request_id")
        response["X-Request-ID"] = request.request_id
        if not request.path.startswith("/static/"):
            log.info(
                "request",
                request_id=request.request_id,
                method=request.method,
                path=request.path,
                status=response.status_code,
                duration_ms=round((time.perf_counter() - started) * 1000, 2),
                org=str(getattr(request, "log_org_id", "") or ""),
                user=str(getattr(request, "log_user_id", "") or ""),
            )
        return response


class RequestTransactionMiddleware:
    """Each request runs in one transaction, in which the tenant is set (set_config local).

    An error response (4xx/5xx) rolls the transaction back, so a refused request writes nothing.
    Views that must keep a record of a refusal (failed logins) set
    `request.keep_writes_on_error = True`.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.path.startswith("/static/") or request.path == "/healthz":
            return self.get_response(request)
        with tenant_state_isolated(), transaction.atomic():
            meta = request_meta(
                request_id=getattr(request, "request_id", None),
                ip=client_ip(request),
                user_agent=request.headers.get("User-Agent", ""),
            )
            if bearer_token(request):
                # The token's authentication applies these in its own round trip.
                request.db_settings_pending = meta
            else:
                settings_activate(meta)
            response = self.get_response(request)
            if response.status_code >= 400 and not getattr(request, "keep_writes_on_error", False):
                transaction.set_rollback(True)
        return response
