"""Patient chart API: GET /patients/{id}/timeline — everything that happened to a patient, newest
first, a page at a time (clinic.core.timeline). Read like the patient: another clinic's patient,
or one the caller may not see, is 404."""

import datetime as dt
from uuid import UUID

from django.utils.translation import gettext as _
from ninja import Router, Schema

from clinic.api.auth import require
from clinic.core import timefmt
from clinic.core.errors import ValidationFailed
from clinic.core.timeline import KINDS, MAX_LIMIT, cursor_decode, kinds_parse, limit_parse
from clinic.directory import selectors, services
from clinic.directory.presenters import patient_timeline

router = Router(tags=["patients"])


class TimelineItemOut(Schema):
    kind: str
    at: dt.datetime
    title: str
    status: str
    object_id: UUID
    url: str


class TimelineOut(Schema):
    items: list[TimelineItemOut]
    next: str | None


def _invalid(field: str, message: str) -> ValidationFailed:
    return ValidationFailed(
        _("Invalid value for %(field)s.") % {"field": field}, details={field: [message]}
    )


@router.get("/patients/{patient_id}/timeline", response=TimelineOut)
@require("patient.view")
def patient_timeline_get(
    request,
    patient_id: UUID,
    kind: str | None = None,
    before: str | None = None,
    limit: str | None = None,
):
    """`kind`: one or more of appointment, plan, invoice, payment, message (comma-separated;
    all when empty). `before`: the `next` of the previous page. `limit`: 1 to 100 (20)."""
    patient = selectors.patient_for_actor(request.auth, patient_id)
    try:
        kinds = kinds_parse(kind)
    except ValueError:
        raise _invalid(
            "kind", _("Must be one or more of: %(kinds)s.") % {"kinds": ", ".join(KINDS)}
        ) from None
    try:
        size = limit_parse(limit)
    except ValueError:
        raise _invalid(
            "limit", _("Must be a whole number from 1 to %(max)d.") % {"max": MAX_LIMIT}
        ) from None
    try:
        cursor = cursor_decode(before) if before else None
    except ValueError:
        raise _invalid("before", _("Must be the “next” value of a previous page.")) from None
    services.patient_access_record(actor=request.auth, patient=patient)
    page = patient_timeline(
        request.auth, patient_id=patient.id, kinds=kinds, before=cursor, limit=size
    )
    return {
        "items": [
            {
                "kind": item.kind,
                "at": timefmt.localize(item.at, item.place),
                "title": item.title,
                "status": item.status,
                "object_id": item.object_id,
                "url": item.url,
            }
            for item in page.items
        ],
        "next": page.next,
    }
