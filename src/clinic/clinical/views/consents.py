"""Consent pages: sign (a tablet-sized page with a drawn signature), the signed consent (text,
signature, withdrawal), and the templates (list, create, edit). Thin: rules in
clinical.services and clinical.selectors; a refused form comes back with what was typed."""

from __future__ import annotations

from django.contrib import messages
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from clinic.clinical import selectors, services
from clinic.core.errors import DomainError, NotFound, ValidationFailed
from clinic.directory.selectors import (
    patient_for_actor,
    patient_responsible_contacts,
    services_list,
)
from clinic.web.access import page_requires

TEMPLATE_FIELDS = (
    "name",
    "procedure",
    "text",
    "risks",
    "alternatives",
    "estimated_cost",
    "validity_days",
)


def _errors(exc: DomainError) -> dict:
    return exc.details if isinstance(exc, ValidationFailed) and exc.details else {}


@page_requires("consent.record")
def consent_sign(request, patient_id):
    patient = patient_for_actor(request.membership, patient_id)
    template_id = request.POST.get("template_id") or request.GET.get("template")
    try:
        template = selectors.consent_template_get(template_id)
    except NotFound:
        messages.error(request, _("Choose the consent to sign."))
        return redirect(reverse("directory:patient", args=[patient.id]) + "#consents")
    context = {
        "patient": patient,
        "template": template,
        "text": services.text_to_sign(template),
        "contacts": list(patient_responsible_contacts(patient.id)),
        "form": {"signer": "patient", "signed_name": patient.display_name},
        "errors": {},
    }
    if request.method == "POST":
        form = {
            k: request.POST.get(k, "")
            for k in ("signer", "contact_id", "signed_name", "witness_name")
        }
        try:
            consent = services.consent_sign(
                actor=request.membership,
                patient_id=patient.id,
                template_id=template.id,
                signature=request.POST.get("signature"),
                signer=form["signer"],
                contact_id=form["contact_id"] or None,
                signed_name=form["signed_name"],
                witness_name=form["witness_name"],
            )
        except DomainError as exc:
            if isinstance(exc, NotFound):
                raise
            context.update(form=form, errors=_errors(exc), error=exc.message)
            return render(request, "clinical/consent_sign.html", context, status=exc.status)
        messages.success(request, _("The consent was signed."))
        return redirect("clinical:consent", consent_id=consent.id)
    return render(request, "clinical/consent_sign.html", context)


@page_requires("consent.view")
def consent_page(request, consent_id):
    consent = selectors.consent_for_actor(request.membership, consent_id)
    context = {
        "consent": consent,
        "patient": consent.patient,
        "valid": selectors.consent_is_valid(consent),
        "can_record": request.membership.has("consent.record"),
    }
    return render(request, "clinical/consent.html", context)


@require_POST
@page_requires("consent.record")
def consent_withdraw(request, consent_id):
    try:
        consent = services.consent_withdraw(
            actor=request.membership, consent_id=consent_id, reason=request.POST.get("reason")
        )
    except DomainError as exc:
        if isinstance(exc, NotFound):
            raise
        messages.error(request, exc.message)
        return redirect("clinical:consent", consent_id=consent_id)
    messages.success(request, _("The consent was withdrawn."))
    return redirect("clinical:consent", consent_id=consent.id)


def _template_form(request) -> dict:
    data = {k: request.POST.get(k, "") for k in TEMPLATE_FIELDS}
    data["is_active"] = request.POST.get("is_active") == "on"
    data["service_ids"] = request.POST.getlist("service_ids")
    return data


@page_requires("consent_template.manage")
def consent_templates(request):
    """The templates, and the form to add one."""
    context = {
        "templates": list(selectors.consent_templates_list()),
        "services": list(services_list()),
        "form": {"is_active": True, "service_ids": []},
        "errors": {},
    }
    if request.method == "POST":
        data = _template_form(request)
        try:
            template = services.consent_template_create(actor=request.membership, data=data)
        except DomainError as exc:
            context.update(form=data, errors=_errors(exc), error=exc.message)
            return render(request, "clinical/consent_templates.html", context, status=exc.status)
        messages.success(request, _("“%(name)s” was added.") % {"name": template.name})
        return redirect("clinical:consent_templates")
    return render(request, "clinical/consent_templates.html", context)


@page_requires("consent_template.manage")
def consent_template_edit(request, template_id):
    template = selectors.consent_template_get(template_id)
    form = {k: getattr(template, k) for k in TEMPLATE_FIELDS}
    form["is_active"] = template.is_active
    form["service_ids"] = [str(r.service_id) for r in template.requirements.all()]
    context = {
        "template": template,
        "services": list(services_list(status="all")),
        "form": form,
        "errors": {},
    }
    if request.method == "POST":
        data = _template_form(request)
        try:
            services.consent_template_update(
                actor=request.membership, template_id=template.id, data=data
            )
        except DomainError as exc:
            if isinstance(exc, NotFound):
                raise
            context.update(form=data, errors=_errors(exc), error=exc.message)
            return render(
                request, "clinical/consent_template_edit.html", context, status=exc.status
            )
        messages.success(request, _("The consent template was saved."))
        return redirect("clinical:consent_templates")
    return render(request, "clinical/consent_template_edit.html", context)
