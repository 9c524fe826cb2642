"""Tasks used by the tests (found again by module path, also by worker subprocesses)."""

from __future__ import annotations

import time

from django.db import connection

from clinic.core.tasks import PermanentTaskError, RetryLater, current_task_id, tenant_task


@tenant_task(max_attempts=3, backoff_seconds=10)
def where_am_i(organization_id: str) -> dict:
    """Reports the tenant the database sees inside the task, and what RLS lets it read."""
    from clinic.accounts.models import Membership

    with connection.cursor() as cur:
        cur.execute(
            "SELECT current_setting('app.org_id', true), current_setting('app.request_id', true)"
        )
        org, request_id = cur.fetchone()
        cur.execute("SELECT count(DISTINCT organization_id) FROM accounts_membership")
        (orgs_visible,) = cur.fetchone()
    return {
        "org": org,
        "request_id": request_id,
        "orgs_visible": orgs_visible,
        "members": Membership.objects.count(),
        "task_id": current_task_id(),
    }


@tenant_task(max_attempts=3, backoff_seconds=10)
def always_fails(organization_id: str) -> None:
    raise RuntimeError("the printer is on fire")


@tenant_task(max_attempts=5, backoff_seconds=1)
def refuses(organization_id: str) -> None:
    raise PermanentTaskError("bad input: nothing to retry")


@tenant_task(max_attempts=2, backoff_seconds=1)
def later(organization_id: str) -> None:
    raise RetryLater("not yet", delay_seconds=120)


@tenant_task()
def slow(organization_id: str, seconds: float) -> str:
    time.sleep(seconds)
    return "finished"
