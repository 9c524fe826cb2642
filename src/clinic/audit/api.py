from datetime import datetime
from typing import Any
from uuid import UUID

from django.utils.translation import gettext as _
from ninja import Query, Router, Schema
from ninja.pagination import paginate

from clinic.api.auth import require
from clinic.api.pagination import PagePagination
from clinic.audit import selectors
from clinic.core.errors import NotFound

router = Router(tags=["audit"])


class AuditEventOut(Schema):
    id: UUID
    action: str
    actor_id: UUID | None
    object_type: str
    object_id: str
    before: Any | None
    after: Any | None
    details: Any
    ip: str | None
    user_agent: str
    request_id: str
    occurred_at: datetime


class AuditFilters(Schema):
    object_type: str | None = None
    object_id: str | None = None
    actor_id: UUID | None = None
    action: str | None = None
    since: datetime | None = None
    until: datetime | None = None


@router.get("", response=list[AuditEventOut])
@require("audit.view")
@paginate(PagePagination)
def audit_events_list(request, filters: Query[AuditFilters]):
    return selectors.audit_events_list(**filters.dict())


@router.get("/{event_id}", response=AuditEventOut)
@require("audit.view")
def audit_event_get(request, event_id: UUID):
    event = selectors.audit_event_get(event_id)
    if event is None:
        raise NotFound(_("Audit event not found."))
    return event
