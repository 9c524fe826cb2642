"""A small clinical set-up: a clinic (tests/scheduling's), a practitioner member with a
practitioner profile, a patient in their caseload (an appointment tomorrow) and one outside it."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta

from clinic.core.tenancy import tenant_context
from tests.scheduling.conftest import clinic_build

SOAP = {
    "subjective": "Knee pain for two weeks.",
    "objective": "Swelling, range 0-90.",
    "assessment": "Sprain.",
    "plan": "Rest, ice, review in 10 days.",
}


@dataclass
class Setup:
    clinic: object
    owner: object
    practitioner: object  # persona
    profile: object  # directory.Practitioner of `practitioner`
    patient: object  # in the caseload
    stranger: object  # a patient outside the caseload
    appointment: object


def actor_of(persona):
    from clinic.accounts.models import Membership

    with tenant_context(persona.org.id, persona.user.id):
        return Membership.objects.select_related("organization", "user").get(
            id=persona.membership.id
        )


def appointment_make(clinic, *, practitioner, patient, start, status="scheduled"):
    from clinic.scheduling.models import Appointment

    return Appointment.objects.create(
        kind="individual",
        status=status,
        practitioner=practitioner,
        patient=patient,
        service=clinic.consult,
        location=clinic.location,
        start_at=start,
        end_at=start + timedelta(hours=1),
        occupied_start=start,
        occupied_end=start + timedelta(hours=1),
    )


def setup_build(owner, practitioner) -> Setup:
    from django.utils import timezone

    clinic = clinic_build(owner, practitioner_membership=practitioner.membership, rules=False)
    with tenant_context(owner.org.id, owner.user.id):
        start = (timezone.now() + timedelta(days=1)).replace(microsecond=0)
        appointment = appointment_make(
            clinic, practitioner=clinic.practitioner, patient=clinic.patients[0], start=start
        )
    return Setup(
        clinic=clinic,
        owner=owner,
        practitioner=practitioner,
        profile=clinic.practitioner,
        patient=clinic.patients[0],
        stranger=clinic.patients[1],
        appointment=appointment,
    )


def encounter_make(setup, persona=None, **extra):
    from clinic.clinical import services

    persona = persona or setup.practitioner
    with tenant_context(persona.org.id, persona.user.id):
        return services.encounter_create(
            actor=actor_of(persona), patient_id=setup.patient.id, **extra
        )


def note_make(setup, encounter=None, persona=None, sections=None, **extra):
    from clinic.clinical import services

    persona = persona or setup.practitioner
    encounter = encounter or encounter_make(setup, persona)
    with tenant_context(persona.org.id, persona.user.id):
        return services.note_create(
            actor=actor_of(persona),
            encounter=encounter,
            template=extra.pop("template", "soap"),
            sections=sections if sections is not None else dict(SOAP),
            **extra,
        )


def clinical_rows(persona) -> dict:
    """A row in every clinical table of the persona's clinic (tenant active): settings, an
    encounter, a signed note with two versions and an addendum, an allergy (after "no known
    allergies"), an alert, a condition, an observation, a document, a break-glass access, a
    consent template required by a service, a signed consent and a care-team member."""
    from django.utils import timezone

    from clinic.clinical import services
    from clinic.clinical.models import BreakGlassAccess, CareTeamMember
    from clinic.directory import services as directory
    from tests.clinical.test_consents import signature_png

    actor = actor_of(persona)
    services.settings_update(actor=actor, late_signing_hours=48)
    practitioner = directory.practitioner_create(
        actor=actor, data={"display_name": "Clinical RLS practitioner"}
    )
    patient = directory.patient_create(
        actor=actor,
        force=True,
        data={"given_name": "Clinical", "family_name": "Rls", "date_of_birth": "1990-01-01"},
    )
    encounter = services.encounter_create(
        actor=actor, patient_id=patient.id, practitioner_id=practitioner.id
    )
    note = services.note_create(actor=actor, encounter=encounter, template="soap", sections=SOAP)
    services.note_update(
        actor=actor, note_id=note.id, sections={**SOAP, "plan": "Changed."}, version=1
    )
    services.note_sign(actor=actor, note_id=note.id)
    services.addendum_add(actor=actor, note_id=note.id, text="Called back: better.")
    services.allergies_none_known(actor=actor, patient_id=patient.id)
    allergy = services.allergy_create(
        actor=actor, patient_id=patient.id, substance="Penicillin", severity="severe"
    )
    alert = services.alert_create(
        actor=actor, patient_id=patient.id, text="Fall risk", level="danger"
    )
    condition = services.condition_create(actor=actor, patient_id=patient.id, code="J45.0")
    observation = services.observation_create(
        actor=actor, patient_id=patient.id, code="weight", value="71.5", encounter_id=encounter.id
    )
    document = services.document_upload(
        actor=actor,
        patient_id=patient.id,
        data=b"%PDF-1.4\n%%EOF\n",
        title="Referral",
        encounter_id=encounter.id,
    )
    # break-glass is a practitioner's; the row itself is what the RLS proof needs
    BreakGlassAccess.objects.create(
        patient=patient,
        membership=actor,
        reason="RLS proof row",
        opened_at=timezone.now(),
        expires_at=timezone.now() + timedelta(minutes=5),
    )
    tag = uuid.uuid4().hex[:8]
    service = directory.service_create(
        actor=actor, data={"name": f"Consent service {tag}", "duration_minutes": 30, "price": "1"}
    )
    template = services.consent_template_create(
        actor=actor,
        data={"name": f"RLS consent {tag}", "text": "I agree.", "service_ids": [str(service.id)]},
    )
    consent = services.consent_sign(
        actor=actor,
        patient_id=patient.id,
        template_id=template.id,
        signed_name="Clinical Rls",
        signature=signature_png(),
    )
    # the row itself (the service wants a practitioner with an account; this one has none)
    CareTeamMember.objects.create(patient=patient, practitioner=practitioner, added_by=actor)
    return {
        "template_id": template.id,
        "consent_id": consent.id,
        "document_id": document.id,
        "encounter_id": encounter.id,
        "note_id": note.id,
        "allergy_id": allergy.id,
        "alert_id": alert.id,
        "condition_id": condition.id,
        "observation_id": observation.id,
    }


def other_org_object(kind: str):
    def make(persona):
        with tenant_context(persona.org.id, persona.user.id):
            return clinical_rows(persona)[kind]

    return make
