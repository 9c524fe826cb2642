from __future__ import annotations

from django.db import connection
from django.http import JsonResponse

from clinic.core.database import migrations_pending


def healthz(request):
    """The process is alive (no database access)."""
    return JsonResponse({"status": "ok"})


def readyz(request):
    """The database answers and every migration is applied."""
    try:
        with connection.cursor() as cur:
            cur.execute("SELECT 1")
        if migrations_pending(connection):
            return JsonResponse(
                {"status": "unavailable", "reason": "migrations pending"}, status=503
            )
    except Exception as exc:
        return JsonResponse({"status": "unavailable", "reason": type(exc).__name__}, status=503)
    return JsonResponse({"status": "ok"})
