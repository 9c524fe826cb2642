from __future__ import annotations

from datetime import datetime

from clinic.audit.models import AuditEvent


def audit_events_list(
    *,
    object_type: str | None = None,
    object_id: str | None = None,
    actor_id=None,
    action: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
):
    qs = AuditEvent.objects.all()
    if object_type:
        qs = qs.filter(object_type=object_type)
    if object_id:
        qs = qs.filter(object_id=str(object_id))
    if actor_id:
        qs = qs.filter(actor_id=actor_id)
    if action:
        qs = qs.filter(action=action)
    if since:
        qs = qs.filter(occurred_at__gte=since)
    if until:
        qs = qs.filter(occurred_at__lt=until)
    return qs.order_by("-occurred_at", "-id")


def audit_event_get(event_id) -> AuditEvent | None:
    return AuditEvent.objects.filter(id=event_id).first()
