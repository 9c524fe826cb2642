"""Probes (/healthz, /readyz) and the answer given when the database cannot be reached.

Both probes are answered by `RequestTransactionMiddleware` before sessions, authentication and
the request transaction, so neither a browser's session cookie nor a database outage can turn
them into a 500."""

from __future__ import annotations

import psycopg
from django.db import InterfaceError, connection
from django.http import JsonResponse
from django.utils.translation import gettext as _

from clinic.core.database import migrations_pending
from clinic.core.errors import error_body

RETRY_AFTER_SECONDS = 5
# SQLSTATEs of a server that is going away or not yet accepting connections
_UNAVAILABLE_STATES = {"57P01", "57P02", "57P03", "53300"}


def healthz(request):
    """The process is alive (no database access)."""
    return JsonResponse({"status": "ok"})


def readyz(request):
    """The database answers and every migration is applied (503 JSON otherwise)."""
    try:
        with connection.cursor() as cur:
            cur.execute("SELECT 1")
        if migrations_pending(connection):
            return JsonResponse(
                {"status": "unavailable", "reason": "migrations pending"}, status=503
            )
    except Exception as exc:
        connection.close()  # the next probe connects afresh: recovery needs no restart
        response = JsonResponse({"status": "unavailable", "reason": type(exc).__name__}, status=503)
        response["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return response
    return JsonResponse({"status": "ok"})


PROBES = {"/healthz": healthz, "/readyz": readyz}


def database_unavailable(exc: BaseException | None) -> bool:
    """Whether `exc` means the database cannot be reached (connection refused or lost, server
    shutting down or starting up) rather than a problem with one statement (a deadlock or a
    cancelled query is an OperationalError too, and is not this)."""
    while exc is not None:
        if isinstance(exc, InterfaceError | psycopg.InterfaceError):
            return True
        if isinstance(exc, psycopg.OperationalError):
            state = exc.sqlstate
            return state is None or state.startswith("08") or state in _UNAVAILABLE_STATES
        exc = exc.__cause__
    return False


def unavailable_response() -> JsonResponse:
    """503 with the error envelope and Retry-After: the request did nothing; try again."""
    response = JsonResponse(
        error_body(
            "database_unavailable",
            _("The database is unavailable; nothing was done. Please try again shortly."),
            {"retry_after": RETRY_AFTER_SECONDS},
        ),
        status=503,
    )
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response
