from __future__ import annotations

from django.db import connections

from clinic.core.database import role_safety_problem


def serving_refused_reason(using: str = "default") -> str | None:
    """Why the app must not serve on this connection (its role could see past RLS), or None."""
    connection = connections[using]
    try:
        return role_safety_problem(connection)
    finally:
        if not connection.in_atomic_block:
            connection.close()  # the check ran before serving; workers open their own
