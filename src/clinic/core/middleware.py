from __future__ import annotations

import ipaddress
import re
import time
import uuid

import structlog
from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.http import JsonResponse
from django.utils.translation import gettext as _

from clinic.core.errors import error_body
from clinic.core.health import PROBES, database_unavailable, unavailable_response
from clinic.core.logs import logger
from clinic.core.tenancy import request_meta, settings_activate, tenant_state_isolated

_REQUEST_ID_OK = re.compile(r"^[A-Za-z0-9._:-]{8,64}$")
log = logger("clinic.request")


# The audit log, the login throttle and the sessions list read the client's address the same
# way (axes too: AXES_CLIENT_IP_CALLABLE).
def _networks(entries) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    return [ipaddress.ip_network(e.strip(), strict=False) for e in entries if e and e.strip()]


def _parse_ip(value: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    value = value.strip()
    if value.startswith("[") and "]" in value:  # [v6]:port
        value = value[1 : value.index("]")]
    elif value.count(":") == 1:  # v4:port
        value = value.split(":", 1)[0]
    try:
        return ipaddress.ip_address(value)
    except ValueError:
        return None


def _trusted(address, networks) -> bool:
    return any(address in net for net in networks)


def client_ip(request) -> str | None:
    """The client's address: `REMOTE_ADDR`, unless that is a trusted proxy, in which case the
    right-most `X-Forwarded-For` entry that is not itself a trusted proxy (entries left of it
    were written by the client and prove nothing)."""
    remote = _parse_ip(request.META.get("REMOTE_ADDR") or "")
    if remote is None:
        return None
    networks = _networks(getattr(settings, "TRUSTED_PROXIES", ()))
    if not networks or not _trusted(remote, networks):
        return str(remote)
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    client = remote
    for entry in reversed([e for e in forwarded.split(",") if e.strip()]):
        address = _parse_ip(entry)
        if address is None:
            break  # garbage from here leftwards: keep the last address a proxy vouched for
        client = address
        if not _trusted(address, networks):
            break
    return str(client)


def bearer_token(request) -> str | None:
    """The secret of an `Authorization: Bearer` header (None without one, "" if empty)."""
    header = request.headers.get("Authorization", "")
    return header[7:].strip() if header[:7].lower() == "bearer " else None


def input_refusal(request) -> JsonResponse | None:
    """Input no handler can take, refused before any of them runs (issue 18, defect 4): a body
    over DATA_UPLOAD_MAX_MEMORY_SIZE (413; multipart uploads count their files elsewhere), and
    a NUL character in the query string, which PostgreSQL cannot store or compare (422 naming
    the parameter)."""
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    multipart = request.content_type == "multipart/form-data"
    if limit is not None and length > limit and not multipart:
        return JsonResponse(
            error_body(
                "request_too_large",
                _("The request body is larger than %(limit)s bytes.") % {"limit": limit},
                {"limit": limit},
            ),
            status=413,
        )
    bad = set()
    if "%00" in request.META.get("QUERY_STRING", ""):
        for name, values in request.GET.lists():
            if "\x00" in name:
                bad.add("query")
            elif any("\x00" in v for v in values):
                bad.add(name)
    if "\x00" in request.path:
        bad.add("path")
    if bad:
        fields = sorted(bad)
        return JsonResponse(
            error_body(
                "validation_error",
                _("Invalid value for %(field)s.") % {"field": fields[0]},
                {name: [_("Must not contain a NUL character.")] for name in fields},
            ),
            status=422,
        )
    return None


class RequestLogMiddleware:
    """Gives every request an id (returned as X-Request-ID) and logs one JSON line for it;
    refuses input no handler can take (`input_refusal`)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        incoming = request.headers.get("X-Request-ID", "")
        request.request_id = incoming if _REQUEST_ID_OK.match(incoming) else uuid.uuid4().hex
        started = time.perf_counter()
        structlog.contextvars.bind_contextvars(request_id=request.request_id)
        try:
            response = input_refusal(request) or self.get_response(request)
        finally:
            structlog.contextvars.unbind_contextvars("request_id")
        response["X-Request-ID"] = request.request_id
        if not request.path.startswith("/static/"):
            log.info(
                "request",
                request_id=request.request_id,
                method=request.method,
                path=loggable_path(request),
                status=response.status_code,
                duration_ms=round((time.perf_counter() - started) * 1000, 2),
                org=str(getattr(request, "log_org_id", "") or ""),
                user=str(getattr(request, "log_user_id", "") or ""),
            )
        return response


# URL parts that are secrets (invitation and password-reset links): never written to the logs
SECRET_URL_KWARGS = ("token", "uidb64")


def loggable_path(request) -> str:
    """The request's path with the secret parts of single-use links replaced: anyone who reads
    the logs could otherwise accept a pending invitation or reset a password first."""
    path = request.path
    match = getattr(request, "resolver_match", None)
    if match is not None:
        for name in SECRET_URL_KWARGS:
            value = match.kwargs.get(name)
            if value:
                path = path.replace(str(value), "[redacted]")
    return path


class RequestTransactionMiddleware:
    """Each request runs in one transaction, in which the tenant is set (set_config local).

    An error response (4xx/5xx) rolls the transaction back, so a refused request writes nothing.
    Views that must keep a record of a refusal (failed logins) set
    `request.keep_writes_on_error = True`.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.path.startswith("/static/"):
            return self.get_response(request)
        probe = PROBES.get(request.path)
        if probe is not None:
            # before sessions and authentication: a cookie or an outage never makes them fail
            return probe(request)
        try:
            return self._in_transaction(request)
        except DatabaseError as exc:
            if not database_unavailable(exc):
                raise
            log.warning("database unavailable", error=type(exc).__name__, path=request.path)
            connection.close()  # the next request connects afresh: recovery needs no restart
            return unavailable_response()

    def process_exception(self, request, exception):
        """A view that lost the database answers 503, not the 500 page."""
        if database_unavailable(exception):
            log.warning("database unavailable", error=type(exception).__name__, path=request.path)
            return unavailable_response()
        return None

    def _in_transaction(self, request):
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
