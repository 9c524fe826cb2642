"""Privacy pages on a patient: what the clinic holds (and would erase or must keep), the
download of it all, and the two-step erasure (reason → the plan and "Erase permanently").
Thin: the rules are in privacy.services, the reads in privacy.selectors."""

from __future__ import annotations

import json

from django.contrib import messages as flash
from django.core.serializers.json import DjangoJSONEncoder
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from clinic.core.errors import DomainError, NotFound
from clinic.directory.selectors import patient_for_actor
from clinic.privacy import selectors, services
from clinic.web.access import page_requires


def _not_found(request):
    return render(request, "web/not_found.html", status=404)


def _page(request, patient, *, reason="", error="", status=200):
    return render(
        request,
        "privacy/patient.html",
        {
            "patient": patient,
            "plan": selectors.erasure_plan(patient),
            "erased_at": selectors.erased_at(patient),
            "reason": reason,
            "error": error,
            "can_export": request.membership.has("personal_data.export"),
        },
        status=status,
    )


@page_requires("patient.erase")
def patient_privacy(request, patient_id):
    try:
        patient = patient_for_actor(request.membership, patient_id)
    except NotFound:
        return _not_found(request)
    return _page(request, patient)


@page_requires("personal_data.export")
def patient_export(request, patient_id):
    try:
        patient = patient_for_actor(request.membership, patient_id)
    except NotFound:
        return _not_found(request)
    body = json.dumps(
        selectors.personal_data_export(patient), cls=DjangoJSONEncoder, ensure_ascii=False, indent=2
    )
    response = HttpResponse(body, content_type="application/json; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="personal-data-{patient.mrn}.json"'
    return response


@require_POST
@page_requires("patient.erase")
def erasure_ask(request, patient_id):
    """Step 1: the reason; the answer is the plan with the "Erase permanently" button."""
    try:
        patient = patient_for_actor(request.membership, patient_id)
    except NotFound:
        return _not_found(request)
    reason = request.POST.get("reason", "")
    try:
        asked, code, plan = services.erasure_request(
            actor=request.membership, patient_id=patient.id, reason=reason
        )
    except DomainError as exc:
        return _page(request, patient, reason=reason, error=exc.message, status=exc.status)
    return render(
        request,
        "privacy/confirm.html",
        {"patient": patient, "plan": plan, "asked": asked, "code": code},
    )


@require_POST
@page_requires("patient.erase")
def erasure_confirm(request, patient_id):
    """Step 2: erase with the code of step 1; back to the chart, which now shows no name."""
    try:
        patient = patient_for_actor(request.membership, patient_id)
    except NotFound:
        return _not_found(request)
    try:
        services.erasure_confirm(
            actor=request.membership,
            patient_id=patient.id,
            confirmation=request.POST.get("confirmation", ""),
        )
    except DomainError as exc:
        return _page(request, patient, error=exc.message, status=exc.status)
    flash.success(request, _("The patient's personal data has been erased."))
    return redirect(reverse("privacy:patient", args=[patient.id]))
