"""The patient chart (/patients/{id}/): the page the practitioner and the front desk open first —
who the patient is, what is coming, what happened, what is owed, what was sent — and its
timeline fragment and appointment cancellation.

Thin: each block comes from its module's selectors (which decide what the member may see), in a
constant number of queries whatever the patient's history; the timeline is
`directory.presenters.patient_timeline`, shared with the API."""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib import messages
from django.db import transaction
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from clinic.billing import selectors as billing_selectors
from clinic.care import selectors as care_selectors
from clinic.clinical import selectors as clinical_selectors
from clinic.clinical import services as clinical_services
from clinic.core import timefmt
from clinic.core.errors import DomainError, NotFound
from clinic.core.timeline import DEFAULT_LIMIT, KINDS, cursor_decode
from clinic.directory import selectors, services
from clinic.directory.presenters import patient_photo_url, patient_timeline
from clinic.directory.validation import phone_display
from clinic.directory.views import _can, _contacts_context, _not_found, _patient_or_404
from clinic.notifications import selectors as notifications_selectors
from clinic.scheduling import selectors as scheduling_selectors
from clinic.scheduling import services as scheduling_services
from clinic.web.access import page_requires

# status code -> Bootstrap badge colour (anything else: grey)
BADGES = {
    "scheduled": "text-bg-primary",
    "confirmed": "text-bg-primary",
    "checked_in": "text-bg-info",
    "in_progress": "text-bg-info",
    "completed": "text-bg-success",
    "cancelled": "text-bg-secondary",
    "no_show": "text-bg-danger",
    "active": "text-bg-primary",
    "on_hold": "text-bg-warning",
    "draft": "text-bg-light",
    "issued": "text-bg-primary",
    "partially_paid": "text-bg-warning",
    "paid": "text-bg-success",
    "void": "text-bg-secondary",
    "overdue": "text-bg-danger",
    "received": "text-bg-success",
    "refunded": "text-bg-secondary",
    "sent": "text-bg-success",
    "queued": "text-bg-light",
    "sending": "text-bg-light",
    "failed": "text-bg-danger",
    "bounced": "text-bg-danger",
    "skipped": "text-bg-secondary",
}
# the latest documents the chart lists (the rest: "N in all")
CHART_DOCUMENTS = 20
NOTE_BADGES = {
    "draft": "text-bg-warning",
    "awaiting_cosign": "text-bg-info",
    "signed": "text-bg-success",
}
KIND_LABELS = {
    "appointment": gettext_lazy("Appointments"),
    "plan": gettext_lazy("Treatment plans"),
    "invoice": gettext_lazy("Invoices"),
    "payment": gettext_lazy("Payments"),
    "message": gettext_lazy("Messages"),
}


def _badge(status: str) -> str:
    return BADGES.get(status, "text-bg-secondary")


def _kind_filter(request) -> str:
    kind = request.GET.get("kind") or ""
    return kind if kind in KINDS else ""


def _timeline_context(request, patient) -> dict:
    """The timeline page asked for by `kind` and `before`; a cursor that is not one (an old
    bookmark, a typo) starts from the newest."""
    kind = _kind_filter(request)
    try:
        before = cursor_decode(request.GET["before"]) if request.GET.get("before") else None
    except ValueError:
        before = None
    page = patient_timeline(
        request.membership,
        patient_id=patient.id,
        kinds=(kind,) if kind else KINDS,
        before=before,
        limit=DEFAULT_LIMIT,
    )
    older = None
    if page.next:
        older = urlencode({k: v for k, v in (("kind", kind), ("before", page.next)) if v})
    return {
        "timeline": [{"item": item, "badge": _badge(item.status)} for item in page.items],
        "timeline_kind": kind,
        "timeline_older": older,
        "timeline_first": before is None,
        "timeline_kinds": [(k, KIND_LABELS[k]) for k in KINDS],
    }


def _today():
    """The organization's day (the server runs in UTC)."""
    return timefmt.localize(timezone.now()).date()


def _chart_context(request, patient) -> dict:
    actor = request.membership
    today = _today()
    chart: dict = {"today": today, "age": selectors.patient_age(patient.date_of_birth, today=today)}
    if actor.has("appointment.view"):
        appointments = scheduling_selectors.patient_appointments(actor, patient_id=patient.id)
        chart["upcoming"] = [{"a": a, "badge": _badge(a.status)} for a in appointments.upcoming]
        chart["past"] = [{"a": a, "badge": _badge(a.status)} for a in appointments.past]
    if actor.has("treatment_plan.view"):
        plans = care_selectors.plans_list(actor, patient_id=patient.id)[:20]
        chart["plans"] = [
            {"plan": p, "progress": care_selectors.plan_progress(p, today=today)} for p in plans
        ]
    if actor.has("encounter.view"):
        chart["encounters"] = [
            {
                "encounter": e,
                "notes": [
                    {"note": n, "badge": NOTE_BADGES.get(n.status, "text-bg-secondary")}
                    for n in e.notes.all()
                ],
            }
            for e in clinical_selectors.chart_encounters(actor, patient_id=patient.id)
        ]
        chart["can_write_note"] = actor.has("note.write") and clinical_selectors.content_visible(
            actor, patient.id
        )
        chart["note_templates"] = clinical_selectors.note_templates()
    if actor.has("invoice.view") or actor.has("payment.view"):
        billing = billing_selectors.patient_billing(actor, patient_id=patient.id, as_of=today)
        chart["billing"] = billing
        chart["invoices"] = [
            {
                "invoice": inv,
                "overdue": billing_selectors.invoice_is_overdue(inv, today),
                "badge": _badge(inv.status),
            }
            for inv in billing.invoices
        ]
    if actor.has("delivery.view"):
        chart["messages"] = [
            {"d": d, "title": notifications_selectors.delivery_title(d), "badge": _badge(d.status)}
            for d in notifications_selectors.patient_deliveries(actor, patient_id=patient.id)
        ]
    # the clinical summary card and the banner: clinical content, for those who may read it
    record = clinical_selectors.record_card(actor, patient)
    if record is not None:
        clinical_services.record_read(actor=actor, patient_id=patient.id, what="summary")
        if actor.has("document.view"):
            # one more than shown says whether there are more, without counting them all
            documents = list(clinical_selectors.documents_list(patient.id)[: CHART_DOCUMENTS + 1])
            chart["documents"] = documents[:CHART_DOCUMENTS]
            chart["documents_more"] = len(documents) > CHART_DOCUMENTS
            chart["can_upload_document"] = actor.has("document.upload")
            chart["document_categories"] = clinical_selectors.document_categories()
            chart["document_max_mb"] = clinical_services.document_max_bytes() // (1024 * 1024)
    if actor.has("consent.view"):
        consents = clinical_selectors.patient_consents(patient.id)[:CHART_DOCUMENTS]
        chart["consents"] = [
            {"c": c, "valid": clinical_selectors.consent_is_valid(c)} for c in consents
        ]
        if actor.has("consent.record"):
            chart["consent_templates"] = list(
                clinical_selectors.consent_templates_list(active=True)
            )
    if actor.has("encounter.view"):
        # staff only: the practitioners assigned to this patient's care by hand
        chart["care_team"] = list(clinical_selectors.care_team(patient.id))
        chart["can_manage_care_team"] = actor.has("care_team.manage")
        if chart["can_manage_care_team"]:
            taken = {m.practitioner_id for m in chart["care_team"]}
            chart["care_team_choices"] = [
                p
                for p in selectors.practitioners_list().filter(membership__isnull=False)
                if p.id not in taken
            ]
    if actor.has("record.break_glass"):
        # a practitioner outside whose caseload the patient is may open emergency access;
        # while it is open the chart says until when
        chart["break_glass"] = clinical_selectors.break_glass_open_for(actor, patient.id)
        chart["break_glass_available"] = record is None
    return {"chart": chart, "record": record, **_timeline_context(request, patient)}


@page_requires("patient.view")
def patient_chart(request, patient_id):
    patient = _patient_or_404(request, patient_id)
    if patient is None:
        return _not_found(request)
    services.patient_access_record(actor=request.membership, patient=patient)
    context = {
        **_contacts_context(request, patient),
        **_chart_context(request, patient),
        "phone": phone_display(patient.phone),
        "photo_url": patient_photo_url(patient),
        "initials": _initials(patient),
        "can": _can(request, "patient", "update", "archive", "erase"),
        "can_appointment": _can(request, "appointment", "book", "update", "cancel"),
        "can_create_plan": request.membership.has("treatment_plan.create"),
        "can_create_invoice": request.membership.has("invoice.manage"),
        "can_waitlist": request.membership.has("waitlist.manage"),
        "can_access_log": request.membership.has("clinical.access_log"),
    }
    return render(request, "directory/patient_detail.html", context)


def _initials(patient) -> str:
    """The fallback avatar's letters: the first letter of the first and last name words."""
    words = patient.display_name.split()
    return "".join(w[0] for w in (words[:1] + words[1:][-1:])).upper()


@page_requires("patient.view")
def patient_photo(request, patient_id):
    """The patient's photo, to members who may see the patient (another clinic's: 404)."""
    patient = _patient_or_404(request, patient_id)
    found = services.patient_photo_open(patient) if patient is not None else None
    if found is None:
        return _not_found(request)
    data, content_type = found
    response = HttpResponse(data, content_type=content_type)
    response["Cache-Control"] = "private, max-age=3600"
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Disposition"] = "inline"
    return response


@require_POST
@page_requires("patient.update")
def patient_photo_upload(request, patient_id):
    """Upload (or, with `remove`, remove) the photo from the chart's header form."""
    patient = _patient_or_404(request, patient_id)
    if patient is None:
        return _not_found(request)
    upload = request.FILES.get("photo")
    try:
        if request.POST.get("remove"):
            services.patient_photo_set(actor=request.membership, patient=patient, data=None)
            messages.success(request, _("Photo removed."))
        else:
            data = upload.read(services.PHOTO_MAX_BYTES + 1) if upload else b""
            services.patient_photo_set(actor=request.membership, patient=patient, data=data)
            messages.success(request, _("Photo saved."))
    except DomainError as exc:
        messages.error(request, exc.message)
    return redirect("directory:patient", patient_id=patient.id)


@page_requires("patient.view")
def patient_timeline_more(request, patient_id):
    """The next page of the timeline (htmx "Older"), or the list for another kind."""
    patient = _patient_or_404(request, patient_id)
    if patient is None:
        return _not_found(request)
    # a page of the history is a read of the record, as the chart itself
    services.patient_access_record(actor=request.membership, patient=patient)
    context = {"patient": patient, **_timeline_context(request, patient)}
    return render(request, "directory/_timeline.html", context)


@require_POST
@page_requires("appointment.cancel")
def patient_appointment_cancel(request, patient_id, appointment_id):
    """Cancel one upcoming appointment from the chart (the form asked for confirmation)."""
    chart = reverse("directory:patient", args=[patient_id]) + "#appointments"
    reason = (request.POST.get("reason") or "").strip()[:500]
    try:
        with transaction.atomic():
            appointment = scheduling_selectors.appointment_for_actor(
                request.membership, appointment_id, for_update=True
            )
            if str(appointment.patient_id) != str(patient_id):
                raise NotFound(_("Appointment not found."))
            scheduling_services.appointment_cancel(
                actor=request.membership, appointment=appointment, reason=reason
            )
    except NotFound:
        return _not_found(request)
    except DomainError as exc:
        messages.error(request, _("Not cancelled: %(reason)s") % {"reason": exc.message})
        return redirect(chart)
    messages.success(request, _("Appointment cancelled."))
    return redirect(chart)
