"""The chart's "Clinical summary" card (allergies, alerts, problems, vital signs): its htmx
forms, each answered with the card again and the banner out of band, and the ICD-10 choices of
the problem form. Thin: rules in clinical.services and clinical.selectors."""

from __future__ import annotations

from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from clinic.clinical import selectors, services
from clinic.clinical.icd10 import icd10_search
from clinic.core import timefmt
from clinic.core.errors import DomainError, NotFound, ValidationFailed
from clinic.web.access import page_requires


def _card(request, patient, *, error: str = "", status: int = 200):
    """The card after a change (htmx), or the chart again (a plain form post)."""
    if not request.headers.get("HX-Request"):
        return redirect(reverse("directory:patient", args=[patient.id]) + "#clinical-summary")
    record = selectors.record_card(request.membership, patient)
    if record is None:
        raise NotFound(_("Patient not found."))
    context = {"patient": patient, "record": record, "oob": True, "record_error": error}
    return render(request, "clinical/_record_card.html", context, status=status)


def _apply(request, patient_id, change):
    """Run `change` (a service call) and answer with the card, the refusal shown in it."""
    actor = request.membership
    patient = selectors.record_patient(actor, patient_id)
    try:
        change(actor, patient)
    except NotFound:
        raise
    except DomainError as exc:
        return _card(request, patient, error=exc.message, status=exc.status)
    return _card(request, patient)


@require_POST
@page_requires("allergy.edit")
def allergy_add(request, patient_id):
    def change(actor, patient):
        services.allergy_create(
            actor=actor,
            patient_id=patient.id,
            substance=request.POST.get("substance", ""),
            severity=request.POST.get("severity", ""),
            reaction=request.POST.get("reaction", ""),
        )

    return _apply(request, patient_id, change)


@require_POST
@page_requires("allergy.edit")
def allergies_none_known(request, patient_id):
    return _apply(
        request,
        patient_id,
        lambda actor, patient: services.allergies_none_known(actor=actor, patient_id=patient.id),
    )


@require_POST
@page_requires("allergy.edit")
def allergy_error(request, allergy_id):
    allergy = selectors.allergy_for_actor(request.membership, allergy_id)
    return _apply(
        request,
        allergy.patient_id,
        lambda actor, patient: services.allergy_update(
            actor=actor, allergy_id=allergy.id, status="entered_in_error"
        ),
    )


@require_POST
@page_requires("alert.edit")
def alert_add(request, patient_id):
    def change(actor, patient):
        services.alert_create(
            actor=actor,
            patient_id=patient.id,
            text=request.POST.get("text", ""),
            level=request.POST.get("level", "warning"),
        )

    return _apply(request, patient_id, change)


@require_POST
@page_requires("alert.edit")
def alert_end(request, alert_id):
    alert = selectors.alert_for_actor(request.membership, alert_id)
    return _apply(
        request,
        alert.patient_id,
        lambda actor, patient: services.alert_update(actor=actor, alert_id=alert.id, active=False),
    )


@require_POST
@page_requires("condition.edit")
def condition_add(request, patient_id):
    def change(actor, patient):
        services.condition_create(
            actor=actor,
            patient_id=patient.id,
            code=request.POST.get("code", ""),
            onset=request.POST.get("onset") or None,
        )

    return _apply(request, patient_id, change)


@require_POST
@page_requires("condition.edit")
def condition_resolve(request, condition_id):
    condition = selectors.condition_for_actor(request.membership, condition_id)
    return _apply(
        request,
        condition.patient_id,
        lambda actor, patient: services.condition_update(
            actor=actor, condition_id=condition.id, clinical_status="resolved"
        ),
    )


@require_POST
@page_requires("observation.edit")
def observation_add(request, patient_id):
    """A vital sign; the time typed is a wall time of the practitioner's location (the
    organization's zone otherwise)."""

    def change(actor, patient):
        own = selectors.practitioner_of(actor)
        where = own.default_location if own is not None else None
        typed = (request.POST.get("recorded_at") or "").strip()
        recorded_at = timefmt.parse_local(typed, where) if typed else None
        if typed and recorded_at is None:
            message = _("Give a date and time.")
            raise ValidationFailed(message, details={"recorded_at": [message]})
        services.observation_create(
            actor=actor,
            patient_id=patient.id,
            code=request.POST.get("code", ""),
            value=request.POST.get("value", ""),
            recorded_at=recorded_at,
            location_id=where.id if where is not None else None,
        )

    return _apply(request, patient_id, change)


@require_GET
@page_requires("condition.view")
def icd10_choices(request):
    query = (request.GET.get("code") or request.GET.get("q") or "")[:100]
    return render(request, "clinical/_icd10_choices.html", {"choices": icd10_search(query)})
