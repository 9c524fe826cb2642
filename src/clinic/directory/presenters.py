"""A patient's timeline, composed from the modules that contribute to it: shared by the chart
page (chart_views) and the API (chart_api). One query per kind asked for, whatever the history
size; each module decides what the actor may see of its own records."""

from __future__ import annotations

from clinic.accounts.models import Membership
from clinic.billing import selectors as billing_selectors
from clinic.care import selectors as care_selectors
from clinic.core.timeline import Cursor, TimelinePage, timeline_page
from clinic.notifications import selectors as notifications_selectors
from clinic.scheduling import selectors as scheduling_selectors

TIMELINE_SOURCES = {
    "appointment": scheduling_selectors.patient_appointments_timeline,
    "plan": care_selectors.patient_plans_timeline,
    "invoice": billing_selectors.patient_invoices_timeline,
    "payment": billing_selectors.patient_payments_timeline,
    "message": notifications_selectors.patient_messages_timeline,
}


def patient_timeline(
    actor: Membership,
    *,
    patient_id,
    kinds: tuple[str, ...],
    before: Cursor | None,
    limit: int,
) -> TimelinePage:
    """One page of the patient's timeline (the patient is already authorised for `actor`)."""
    sources = [
        TIMELINE_SOURCES[kind](actor, patient_id=patient_id, before=before, limit=limit)
        for kind in kinds
    ]
    return timeline_page(sources, limit=limit)


def patient_photo_url(patient) -> str | None:
    """Where a member's browser reads the patient's photo (the authorised page), with the
    stored name's tail as a version so a new photo is not hidden by the cache; None without."""
    from django.urls import reverse

    if not patient.photo:
        return None
    version = patient.photo.rsplit("-", 1)[-1].split(".", 1)[0]
    return f"{reverse('directory:patient_photo', args=[patient.id])}?v={version}"
