from __future__ import annotations

from django.db import connection
from django.utils import timezone

from clinic.audit.models import AuditEvent


def audit_record(
    *,
    action: str,
    organization_id=None,
    actor_id=None,
    object_type: str = "",
    object_id: str = "",
    details: dict | None = None,
) -> AuditEvent:
    """An event that is not a row change (login, failed login, token creation).

    IP, user agent and request id come from the transaction's request context, like the
    trigger-written events.
    """
    with connection.cursor() as cur:
        cur.execute(
            "SELECT NULLIF(current_setting('app.ip', true), ''), "
            "coalesce(current_setting('app.user_agent', true), ''), "
            "coalesce(current_setting('app.request_id', true), '')"
        )
        ip, user_agent, request_id = cur.fetchone()
    # bulk_create: an event may belong to no organization (TenantModel.save would demand one).
    (event,) = AuditEvent.unscoped_objects.bulk_create(
        [
            AuditEvent(
                organization_id=organization_id,
                actor_id=actor_id,
                action=action,
                object_type=object_type,
                object_id=str(object_id or ""),
                details=details or {},
                ip=ip,
                user_agent=user_agent,
                request_id=request_id,
                occurred_at=timezone.now(),
            )
        ]
    )
    return event


MONTHS_AHEAD = 3


def partitions_ensure(months_ahead: int = MONTHS_AHEAD) -> int:
    """Create the audit log's monthly partitions up to `months_ahead` months from now (an
    owner-run database function: the application role cannot create tables); how many made."""
    with connection.cursor() as cur:
        cur.execute("SELECT app_audit_partitions_ensure(%s)", [months_ahead])
        return cur.fetchone()[0]
