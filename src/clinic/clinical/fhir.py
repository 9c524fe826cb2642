"""One patient's record as a FHIR R4 `Bundle` of type `collection`, built and validated with the
`fhir.resources` models.

`fhir.resources` 8 ships R5 at its root and R4B (4.3, backwards compatible with R4 for every
resource used here) in `fhir.resources.R4B`; there is no separate R4 package, so R4B is the model
set. Each resource kind has one builder: a function taking the `FhirExport` (the patient, the
actor, the reference helpers) and returning the resources of that kind. `RESOURCE_BUILDERS` is the
list the export runs, in order; a new kind (documents, consents) adds one builder to it. Every
builder reads with a constant number of queries, through the owning module's selectors, with the
actor's visibility rules. The practitioners referenced by the other resources are gathered while
they are built and written last, in one query.

Entries are identified by `urn:uuid:<row id>` (the `fullUrl`) and every `reference` names one of
them; a row outside the bundle (an appointment the actor may not see) is not referenced. Items
marked "entered in error" are left out: the export is a snapshot of the record as it stands.
Instants are written in the time zone of the place concerned (the organization's otherwise) with
their offset, dates as dates."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from django.utils import timezone
from fhir.resources.R4B.allergyintolerance import AllergyIntolerance
from fhir.resources.R4B.appointment import Appointment as FhirAppointment
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.careplan import CarePlan
from fhir.resources.R4B.condition import Condition as FhirCondition
from fhir.resources.R4B.consent import Consent as FhirConsent
from fhir.resources.R4B.documentreference import DocumentReference
from fhir.resources.R4B.encounter import Encounter as FhirEncounter
from fhir.resources.R4B.observation import Observation as FhirObservation
from fhir.resources.R4B.patient import Patient as FhirPatient
from fhir.resources.R4B.practitioner import Practitioner as FhirPractitioner
from fhir.resources.R4B.relatedperson import RelatedPerson
from fhir.resources.R4B.resource import Resource

from clinic.accounts.models import Membership
from clinic.care.selectors import plans_visible_to
from clinic.clinical.models import (
    AllergyStatus,
    ConditionStatus,
    EncounterStatus,
)
from clinic.clinical.selectors import (
    allergies_list,
    conditions_list,
    consent_is_valid,
    documents_list,
    encounters_visible_to,
    observations_list,
)
from clinic.clinical.vitals import VITALS
from clinic.core import timefmt
from clinic.directory.models import Patient
from clinic.directory.selectors import patient_contacts, practitioners_list
from clinic.scheduling.selectors import appointments_visible_to

FHIR_CONTENT_TYPE = "application/fhir+json"
ICD10 = "http://hl7.org/fhir/sid/icd-10"
LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
TERMINOLOGY = "http://terminology.hl7.org/CodeSystem"

# the units of clinical.vitals in UCUM (what FHIR quantities are coded in)
UCUM_UNITS = {"kg": "kg", "cm": "cm", "mmHg": "mm[Hg]", "/min": "/min", "°C": "Cel"}

ENCOUNTER_CLASS = {  # v3 ActCode
    "visit": ("AMB", "ambulatory"),
    "telehealth": ("VR", "virtual"),
    "group_member": ("AMB", "ambulatory"),
    "phone": ("VR", "virtual"),
    "hospital_round": ("IMP", "inpatient encounter"),
}
APPOINTMENT_STATUS = {
    "scheduled": "booked",
    "confirmed": "booked",
    "checked_in": "checked-in",
    "in_progress": "arrived",
    "completed": "fulfilled",
    "cancelled": "cancelled",
    "no_show": "noshow",
}
CAREPLAN_STATUS = {
    "draft": "draft",
    "active": "active",
    "on_hold": "on-hold",
    "completed": "completed",
    "cancelled": "revoked",
}
# a contact's relationship as an HL7 code where one exists (an animal's owner has none)
RELATIONSHIP_CODES = {
    "parent": (f"{TERMINOLOGY}/v3-RoleCode", "PRN", "parent"),
    "legal_guardian": (f"{TERMINOLOGY}/v3-RoleCode", "GUARD", "guardian"),
    "emergency_contact": (f"{TERMINOLOGY}/v2-0131", "C", "Emergency Contact"),
}


def urn(row_id: Any) -> str:
    return f"urn:uuid:{row_id}"


def instant(value: dt.datetime | None, where=None) -> str | None:
    """An instant with its offset, in the zone of `where` (through the one time helper)."""
    if value is None:
        return None
    return timefmt.localize(value, where).isoformat()


def day(value: dt.date | dt.datetime | None) -> str | None:
    if value is None:
        return None
    return (value.date() if isinstance(value, dt.datetime) else value).isoformat()


def _drop_empty(data: dict) -> dict:
    return {k: v for k, v in data.items() if v not in (None, "", [], {})}


@dataclass
class FhirExport:
    """What the builders share: the patient, who exports, the references made so far."""

    actor: Membership
    patient: Patient
    # practitioners referenced by the resources built so far (written by the last builder)
    practitioner_ids: set = field(default_factory=set)
    # ids of the encounters and appointments in the bundle (only those are referenced)
    encounter_ids: set = field(default_factory=set)
    appointment_ids: set = field(default_factory=set)

    @property
    def patient_reference(self) -> dict:
        return {"reference": urn(self.patient.id)}

    def practitioner_reference(self, practitioner_id: Any) -> dict | None:
        if practitioner_id is None:
            return None
        self.practitioner_ids.add(practitioner_id)
        return {"reference": urn(practitioner_id)}

    def encounter_reference(self, encounter_id: Any) -> dict | None:
        return {"reference": urn(encounter_id)} if encounter_id in self.encounter_ids else None


Builder = Callable[[FhirExport], Iterable[Resource]]


# --- builders, one per resource kind -----------------------------------------------------------


def patient_build(export: FhirExport) -> list[Resource]:
    patient = export.patient
    names = [
        _drop_empty(
            {"use": "official", "family": patient.family_name, "given": [patient.given_name]}
        )
    ]
    if patient.preferred_name:
        names.append({"use": "usual", "given": [patient.preferred_name]})
    data = {
        "id": str(patient.id),
        "identifier": [
            {
                "type": {"coding": [{"system": f"{TERMINOLOGY}/v2-0203", "code": "MR"}]},
                "value": patient.mrn,
            }
        ],
        "active": patient.archived_at is None,
        "name": names,
        "telecom": _telecom(patient),
        "gender": patient.sex or "unknown",
        "birthDate": day(patient.date_of_birth),
        "address": _address(patient),
        "communication": (
            [
                {
                    "language": {
                        "coding": [
                            {"system": "urn:ietf:bcp:47", "code": patient.preferred_language}
                        ]
                    }
                }
            ]
            if patient.preferred_language
            else None
        ),
    }
    if patient.species:
        # R4 moved `animal` out of Patient into this standard extension
        animal = [{"url": "species", "valueCodeableConcept": {"text": patient.species}}]
        if patient.breed:
            animal.append({"url": "breed", "valueCodeableConcept": {"text": patient.breed}})
        data["extension"] = [
            {
                "url": "http://hl7.org/fhir/StructureDefinition/patient-animal",
                "extension": animal,
            }
        ]
    return [FhirPatient.model_validate(_drop_empty(data))]


def related_persons_build(export: FhirExport) -> list[Resource]:
    """The patient's contacts (parents, guardians, owners, ...): one query."""
    found = []
    for link in patient_contacts(export.patient):
        contact = link.contact
        relationship: dict = {"text": link.get_relationship_display()}
        if link.relationship in RELATIONSHIP_CODES:
            system, code, display = RELATIONSHIP_CODES[link.relationship]
            relationship["coding"] = [{"system": system, "code": code, "display": display}]
        name = _drop_empty(
            {
                "family": contact.family_name,
                "given": [contact.given_name] if contact.given_name else None,
            }
        )
        data = {
            "id": str(link.id),
            "active": contact.archived_at is None,
            "patient": export.patient_reference,
            "relationship": [relationship],
            "name": [name] if name else None,
            "telecom": _telecom(contact),
            "address": _address(contact),
        }
        found.append(RelatedPerson.model_validate(_drop_empty(data)))
    return found


def encounters_build(export: FhirExport) -> list[Resource]:
    rows = (
        encounters_visible_to(export.actor)
        .filter(patient_id=export.patient.id)
        .select_related("location")
        .order_by("started_at", "id")
    )
    found = []
    for encounter in rows:
        export.encounter_ids.add(encounter.id)
        code, display = ENCOUNTER_CLASS[encounter.kind]
        participant = export.practitioner_reference(encounter.practitioner_id)
        where = encounter.location if encounter.location_id else None
        data = {
            "id": str(encounter.id),
            "status": "finished" if encounter.status == EncounterStatus.CLOSED else "in-progress",
            "class": {"system": f"{TERMINOLOGY}/v3-ActCode", "code": code, "display": display},
            "type": [{"text": encounter.get_kind_display()}],
            "subject": export.patient_reference,
            "participant": [{"individual": participant}],
            "period": _drop_empty(
                {
                    "start": instant(encounter.started_at, where),
                    "end": instant(encounter.ended_at, where),
                }
            ),
            "appointment": (
                [{"reference": urn(encounter.appointment_id)}]
                if encounter.appointment_id in export.appointment_ids
                else None
            ),
            "location": (
                [{"location": {"display": encounter.location.name}}] if where is not None else None
            ),
        }
        found.append(FhirEncounter.model_validate(_drop_empty(data)))
    return found


def observations_build(export: FhirExport) -> list[Resource]:
    """Vital signs, coded in LOINC with UCUM units (entered-in-error ones left out)."""
    found = []
    for observation in observations_list(export.patient.id).order_by("recorded_at", "id"):
        vital = VITALS.get(observation.code)
        code = {"text": str(vital.label) if vital else observation.code}
        if vital is not None:
            code["coding"] = [{"system": LOINC, "code": vital.loinc, "display": str(vital.label)}]
        quantity = {"value": observation.value, "unit": observation.unit}
        if observation.unit in UCUM_UNITS:
            quantity |= {"system": UCUM, "code": UCUM_UNITS[observation.unit]}
        elif observation.unit.startswith("{"):  # an annotation such as {score}
            quantity |= {"system": UCUM, "code": observation.unit}
        data = {
            "id": str(observation.id),
            "status": "final",
            "category": [
                {
                    "coding": [
                        {
                            "system": f"{TERMINOLOGY}/observation-category",
                            "code": "vital-signs",
                            "display": "Vital Signs",
                        }
                    ]
                }
            ],
            "code": code,
            "subject": export.patient_reference,
            "encounter": export.encounter_reference(observation.encounter_id),
            "effectiveDateTime": instant(observation.recorded_at, observation.location),
            "issued": instant(observation.created_at, observation.location),
            "valueQuantity": quantity,
        }
        found.append(FhirObservation.model_validate(_drop_empty(data)))
    return found


def conditions_build(export: FhirExport) -> list[Resource]:
    """The problem list in ICD-10 (entered-in-error ones left out)."""
    found = []
    for condition in conditions_list(export.patient.id):
        status = "resolved" if condition.clinical_status == ConditionStatus.RESOLVED else "active"
        data = {
            "id": str(condition.id),
            "clinicalStatus": {
                "coding": [{"system": f"{TERMINOLOGY}/condition-clinical", "code": status}]
            },
            "verificationStatus": {
                "coding": [{"system": f"{TERMINOLOGY}/condition-ver-status", "code": "confirmed"}]
            },
            "category": [
                {
                    "coding": [
                        {
                            "system": f"{TERMINOLOGY}/condition-category",
                            "code": "problem-list-item",
                        }
                    ]
                }
            ],
            "code": {
                "coding": [{"system": ICD10, "code": condition.code, "display": condition.label}],
                "text": condition.label,
            },
            "subject": export.patient_reference,
            "onsetDateTime": day(condition.onset),
            "abatementDateTime": day(condition.abatement),
            "recordedDate": instant(condition.created_at),
            "note": [{"text": condition.note}] if condition.note else None,
        }
        found.append(FhirCondition.model_validate(_drop_empty(data)))
    return found


def allergies_build(export: FhirExport) -> list[Resource]:
    """Allergies and intolerances (entered-in-error ones left out)."""
    found = []
    for allergy in allergies_list(export.patient.id):
        status = "active" if allergy.status == AllergyStatus.ACTIVE else "inactive"
        # FHIR's reaction severity stops at "severe"; life-threatening is the high criticality
        severity = "severe" if allergy.severity == "life_threatening" else allergy.severity
        critical = allergy.severity in ("severe", "life_threatening")
        reaction = {"severity": severity}
        if allergy.reaction:
            reaction["manifestation"] = [{"text": allergy.reaction}]
        data = {
            "id": str(allergy.id),
            "clinicalStatus": {
                "coding": [{"system": f"{TERMINOLOGY}/allergyintolerance-clinical", "code": status}]
            },
            "verificationStatus": {
                "coding": [
                    {
                        "system": f"{TERMINOLOGY}/allergyintolerance-verification",
                        "code": "confirmed",
                    }
                ]
            },
            "criticality": "high" if critical else "low",
            "code": {"text": allergy.substance},
            "patient": export.patient_reference,
            "onsetDateTime": day(allergy.onset),
            "recordedDate": instant(allergy.created_at),
            # a reaction needs a manifestation: without one, the severity alone is not written
            "reaction": [reaction] if "manifestation" in reaction else None,
            "note": [{"text": allergy.note}] if allergy.note else None,
        }
        found.append(AllergyIntolerance.model_validate(_drop_empty(data)))
    return found


def appointments_build(export: FhirExport) -> list[Resource]:
    """The appointments the actor may see (holds are a booking in progress: left out)."""
    rows = (
        appointments_visible_to(export.actor)
        .filter(patient_id=export.patient.id)
        .exclude(status="held")
        .select_related("service", "location")
        .order_by("start_at", "id")
    )
    found = []
    for appointment in rows:
        export.appointment_ids.add(appointment.id)
        status = APPOINTMENT_STATUS.get(appointment.status, "booked")
        where = appointment.location
        data = {
            "id": str(appointment.id),
            "status": status,
            "serviceType": (
                [{"text": appointment.service.name}] if appointment.service_id else None
            ),
            "start": instant(appointment.start_at, where),
            "end": instant(appointment.end_at, where),
            "minutesDuration": int(
                (appointment.end_at - appointment.start_at).total_seconds() // 60
            ),
            "created": instant(appointment.created_at, where),
            "participant": [
                {"actor": export.patient_reference, "status": "accepted"},
                {
                    "actor": export.practitioner_reference(appointment.practitioner_id),
                    "status": "accepted",
                },
                {"actor": {"display": where.name}, "status": "accepted"},
            ],
        }
        found.append(FhirAppointment.model_validate(_drop_empty(data)))
    return found


def care_plans_build(export: FhirExport) -> list[Resource]:
    """Treatment plans (care) with their goals as text (FHIR goals are resources of their own)."""
    rows = (
        plans_visible_to(export.actor)
        .filter(patient_id=export.patient.id)
        .select_related("location")
        .order_by("start_date", "id")
    )
    found = []
    for plan in rows:
        notes = [
            {"text": f"{goal.get('text', '')} ({goal.get('status', '')})".strip()}
            for goal in plan.goals or []
            if isinstance(goal, dict) and goal.get("text")
        ]
        data = {
            "id": str(plan.id),
            "status": CAREPLAN_STATUS.get(plan.status, "unknown"),
            "intent": "plan",
            "title": plan.title,
            "description": plan.reason,
            "subject": export.patient_reference,
            "period": _drop_empty({"start": day(plan.start_date), "end": day(plan.end_date)}),
            "created": instant(plan.created_at, plan.location if plan.location_id else None),
            "author": export.practitioner_reference(plan.practitioner_id),
            "note": notes,
        }
        if plan.diagnosis_codes:
            # the plan's diagnoses are codes, not Condition rows: written as the plan's category
            data["category"] = [
                {"coding": [{"system": ICD10, "code": code}]} for code in plan.diagnosis_codes
            ]
        found.append(CarePlan.model_validate(_drop_empty(data)))
    return found


def practitioners_build(export: FhirExport) -> list[Resource]:
    """The practitioners the other resources reference (one query): runs last."""
    if not export.practitioner_ids:
        return []
    rows = practitioners_list(status="all").filter(id__in=export.practitioner_ids)
    found = []
    for practitioner in rows.order_by("display_name", "id"):
        data = {
            "id": str(practitioner.id),
            "active": practitioner.is_active,
            "name": [{"text": practitioner.display_name}],
            "qualification": (
                [{"code": {"text": practitioner.discipline}}] if practitioner.discipline else None
            ),
        }
        found.append(FhirPractitioner.model_validate(_drop_empty(data)))
    return found


def documents_build(export: FhirExport) -> list[Resource]:
    """Documents as references to their bytes (the authorised address: a reader needs the
    record's access to fetch them); entered-in-error ones left out."""
    from django.urls import reverse

    found = []
    for document in documents_list(export.patient.id):
        context = export.encounter_reference(document.encounter_id)
        data = {
            "id": str(document.id),
            "status": "current",
            "type": {"text": document.get_category_display()},
            "category": [{"text": document.category}],
            "subject": export.patient_reference,
            "date": instant(document.uploaded_at),
            "description": document.title,
            "content": [
                {
                    "attachment": {
                        "contentType": document.content_type,
                        "size": document.size,
                        "title": document.title,
                        "url": reverse("api:document_content", args=[document.id]),
                        "creation": instant(document.uploaded_at),
                    }
                }
            ],
            "context": {"encounter": [context]} if context else None,
        }
        found.append(DocumentReference.model_validate(_drop_empty(data)))
    return found


def consents_build(export: FhirExport) -> list[Resource]:
    """Signed consents (withdrawn ones as inactive), the signer named; the drawing stays here."""
    from clinic.clinical.selectors import patient_consents

    found = []
    now = timezone.now()
    for consent in patient_consents(export.patient.id):
        if consent.status == "withdrawn":
            state = "inactive"
        else:
            state = "active" if consent_is_valid(consent, now) else "inactive"
        data = {
            "id": str(consent.id),
            "status": state,
            "scope": {"coding": [{"system": f"{TERMINOLOGY}/consentscope", "code": "treatment"}]},
            "category": [{"text": consent.template.name}],
            "patient": export.patient_reference,
            "dateTime": instant(consent.signed_at),
            "policyRule": {"text": f"{consent.template.name} v{consent.template_version}"},
            "provision": {
                "period": {
                    "start": instant(consent.signed_at),
                    "end": instant(consent.withdrawn_at or consent.expires_at),
                }
            },
            "sourceAttachment": {"title": consent.template.name, "contentType": "text/plain"},
        }
        found.append(FhirConsent.model_validate(_drop_empty(data)))
    return found


# The export's resource kinds, in order. Appointments come before encounters (an encounter
# references its appointment when it is in the bundle), encounters before observations, and the
# practitioners last.
RESOURCE_BUILDERS: list[Builder] = [
    patient_build,
    related_persons_build,
    appointments_build,
    encounters_build,
    observations_build,
    conditions_build,
    allergies_build,
    care_plans_build,
    documents_build,
    consents_build,
]
FINAL_BUILDERS: list[Builder] = [practitioners_build]


def patient_bundle(actor: Membership, patient: Patient) -> Bundle:
    """The patient's record as a FHIR `collection` bundle (the caller checked the access)."""
    export = FhirExport(actor=actor, patient=patient)
    resources: list[Resource] = []
    for builder in [*RESOURCE_BUILDERS, *FINAL_BUILDERS]:
        resources.extend(builder(export))
    return Bundle.model_validate(
        {
            "type": "collection",
            "timestamp": instant(timezone.now()),
            "entry": [
                {"fullUrl": urn(resource.id), "resource": resource} for resource in resources
            ],
        }
    )


# --- small pieces ------------------------------------------------------------------------------


def _telecom(person) -> list[dict] | None:
    found = []
    if person.phone:
        found.append({"system": "phone", "value": person.phone})
    if person.email:
        found.append({"system": "email", "value": person.email})
    return found or None


def _address(row) -> list[dict] | None:
    address = _drop_empty(
        {
            "line": [x for x in (row.address_line1, row.address_line2) if x] or None,
            "city": row.city,
            "postalCode": row.postal_code,
            "state": row.region,
            "country": row.country,
        }
    )
    return [address] if address else None
