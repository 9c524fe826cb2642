"""Consent templates and patients' signed consents. Thin: rules live in clinical.services and
clinical.selectors."""

from uuid import UUID

from ninja import Router, Status
from ninja.pagination import paginate

from clinic.api.auth import require
from clinic.api.pagination import Mapped, PagePagination
from clinic.clinical import selectors, services
from clinic.clinical.presenters import consent_out, consent_template_out
from clinic.clinical.schemas import (
    ConsentDetailOut,
    ConsentIn,
    ConsentOut,
    ConsentTemplateIn,
    ConsentTemplateOut,
    ConsentTemplatePatch,
    ConsentWithdrawIn,
)
from clinic.directory.selectors import patient_for_actor

router = Router(tags=["clinical"])


@router.get("/consent-templates", response=list[ConsentTemplateOut])
@require("consent.view")
@paginate(PagePagination)
def consent_templates_list(request, active: bool | None = None, q: str = ""):
    return Mapped(selectors.consent_templates_list(active=active, q=q), consent_template_out)


@router.post("/consent-templates", response={201: ConsentTemplateOut})
@require("consent_template.manage")
def consent_template_create(request, payload: ConsentTemplateIn):
    template = services.consent_template_create(actor=request.auth, data=payload.dict())
    return Status(201, consent_template_out(selectors.consent_template_get(template.id)))


@router.get("/consent-templates/{template_id}", response=ConsentTemplateOut)
@require("consent.view")
def consent_template_get(request, template_id: UUID):
    return consent_template_out(selectors.consent_template_get(template_id))


@router.patch("/consent-templates/{template_id}", response=ConsentTemplateOut)
@require("consent_template.manage")
def consent_template_update(request, template_id: UUID, payload: ConsentTemplatePatch):
    services.consent_template_update(
        actor=request.auth, template_id=template_id, data=payload.dict(exclude_unset=True)
    )
    return consent_template_out(selectors.consent_template_get(template_id))


@router.get("/patients/{patient_id}/consents", response=list[ConsentOut])
@require("consent.view")
@paginate(PagePagination)
def patient_consents(request, patient_id: UUID):
    patient = patient_for_actor(request.auth, patient_id)
    return Mapped(selectors.patient_consents(patient.id), consent_out)


@router.post("/patients/{patient_id}/consents", response={201: ConsentDetailOut})
@require("consent.record")
def consent_sign(request, patient_id: UUID, payload: ConsentIn):
    consent = services.consent_sign(actor=request.auth, patient_id=patient_id, **payload.dict())
    return Status(201, consent_out(consent, with_signature=True))


@router.get("/consents/{consent_id}", response=ConsentDetailOut)
@require("consent.view")
def consent_get(request, consent_id: UUID):
    consent = selectors.consent_for_actor(request.auth, consent_id)
    return consent_out(consent, with_signature=True)


@router.post("/consents/{consent_id}/withdraw", response=ConsentOut)
@require("consent.record")
def consent_withdraw(request, consent_id: UUID, payload: ConsentWithdrawIn):
    consent = services.consent_withdraw(
        actor=request.auth, consent_id=consent_id, reason=payload.reason
    )
    return consent_out(consent)
