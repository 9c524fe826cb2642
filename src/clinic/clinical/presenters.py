"""Plain dicts for the API (no queries: the selectors load what these read)."""

from __future__ import annotations

from django.urls import reverse

from clinic.clinical.models import Addendum, ClinicalNote, Encounter, NoteVersion
from clinic.clinical.selectors import observation_interpretation
from clinic.clinical.vitals import VITALS


def _ref(row, name: str) -> dict | None:
    return {"id": row.id, "name": name} if row is not None else None


def member_name(membership) -> str:
    if membership is None:
        return ""
    return membership.user.full_name or membership.user.email


def patient_name(patient) -> str:
    return " ".join(p for p in (patient.given_name, patient.family_name) if p)


def note_summary_out(note: ClinicalNote) -> dict:
    """What anyone who may see that the note exists sees: no content."""
    return {
        "id": note.id,
        "encounter_id": note.encounter_id,
        "patient_id": note.patient_id,
        "template": note.template,
        "status": note.status,
        "version": note.version,
        "author": _ref(note.author, member_name(note.author)),
        "created_at": note.created_at,
        "signed_at": note.signed_at,
        "late": note.late,
        "requires_cosign": note.requires_cosign,
        "cosigned_at": note.cosigned_at,
    }


def addendum_out(addendum: Addendum) -> dict:
    return {
        "id": addendum.id,
        "author": _ref(addendum.author, member_name(addendum.author)),
        "text": addendum.text,
        "created_at": addendum.created_at,
    }


def note_out(note: ClinicalNote, *, addenda: list[Addendum] | None = None) -> dict:
    """The whole note, or its summary with `sections` null when its content is not shown."""
    shown = addenda is not None
    return {
        **note_summary_out(note),
        "content_visible": shown,
        "sections": note.sections if shown else None,
        "signed_by": _ref(note.signed_by, member_name(note.signed_by)),
        "cosigner": _ref(note.cosigner, note.cosigner.display_name if note.cosigner else ""),
        "updated_at": note.updated_at,
        "addenda": [addendum_out(a) for a in addenda] if shown else [],
    }


def version_out(version: NoteVersion) -> dict:
    return {
        "number": version.number,
        "sections": version.sections,
        "saved_by": _ref(version.saved_by, member_name(version.saved_by)),
        "saved_at": version.saved_at,
    }


def encounter_out(encounter: Encounter) -> dict:
    return {
        "id": encounter.id,
        "patient": _ref(encounter.patient, patient_name(encounter.patient)),
        "practitioner": _ref(encounter.practitioner, encounter.practitioner.display_name),
        "appointment_id": encounter.appointment_id,
        "location": _ref(encounter.location, encounter.location.name if encounter.location else ""),
        "kind": encounter.kind,
        "status": encounter.status,
        "started_at": encounter.started_at,
        "ended_at": encounter.ended_at,
        "notes": [note_summary_out(n) for n in encounter.notes.all()],
    }


# --- the record's lists ------------------------------------------------------------------------


def allergy_out(allergy) -> dict:
    return {
        "id": allergy.id,
        "patient_id": allergy.patient_id,
        "substance": allergy.substance,
        "reaction": allergy.reaction,
        "severity": allergy.severity,
        "status": allergy.status,
        "onset": allergy.onset,
        "note": allergy.note,
        "recorded_by": _ref(allergy.recorded_by, member_name(allergy.recorded_by)),
        "created_at": allergy.created_at,
        "updated_at": allergy.updated_at,
    }


def alert_out(alert) -> dict:
    return {
        "id": alert.id,
        "patient_id": alert.patient_id,
        "text": alert.text,
        "level": alert.level,
        "active": alert.active,
        "created_by": _ref(alert.created_by, member_name(alert.created_by)),
        "created_at": alert.created_at,
        "updated_at": alert.updated_at,
    }


def condition_out(condition) -> dict:
    return {
        "id": condition.id,
        "patient_id": condition.patient_id,
        "code": condition.code,
        "label": condition.label,
        "clinical_status": condition.clinical_status,
        "onset": condition.onset,
        "abatement": condition.abatement,
        "note": condition.note,
        "recorded_by": _ref(condition.recorded_by, member_name(condition.recorded_by)),
        "created_at": condition.created_at,
        "updated_at": condition.updated_at,
    }


def observation_out(observation, patient=None) -> dict:
    """`patient`: the observation's (a list passes it once; a single one reads its own)."""
    vital = VITALS.get(observation.code)
    patient = patient or observation.patient
    return {
        "interpretation": observation_interpretation(observation, patient),
        "id": observation.id,
        "patient_id": observation.patient_id,
        "encounter_id": observation.encounter_id,
        "code": observation.code,
        "loinc": vital.loinc if vital else "",
        "value": observation.value,
        "unit": observation.unit,
        "status": observation.status,
        "recorded_at": observation.recorded_at,
        "recorded_by": _ref(observation.recorded_by, member_name(observation.recorded_by)),
    }


def vital_out(vital) -> dict:
    return {
        "code": vital.code,
        "loinc": vital.loinc,
        "label": str(vital.label),
        "unit": vital.unit,
        "minimum": vital.minimum,
        "maximum": vital.maximum,
        "decimals": vital.decimals,
    }


def document_out(document) -> dict:
    return {
        "id": document.id,
        "patient_id": document.patient_id,
        "encounter_id": document.encounter_id,
        "title": document.title,
        "category": document.category,
        "content_type": document.content_type,
        "size": document.size,
        "original_name": document.original_name,
        "status": document.status,
        "uploaded_by": _ref(document.uploaded_by, member_name(document.uploaded_by)),
        "uploaded_at": document.uploaded_at,
        "content_url": reverse("api:document_content", args=[document.id]),
    }


def break_glass_out(access) -> dict:
    return {
        "id": access.id,
        "patient_id": access.patient_id,
        "reason": access.reason,
        "opened_at": access.opened_at,
        "expires_at": access.expires_at,
    }


def consent_template_out(template) -> dict:
    return {
        "id": template.id,
        "name": template.name,
        "procedure": template.procedure,
        "text": template.text,
        "risks": template.risks,
        "alternatives": template.alternatives,
        "estimated_cost": template.estimated_cost,
        "validity_days": template.validity_days,
        "version": template.version,
        "is_active": template.is_active,
        "services": [
            {"id": r.service.id, "name": r.service.name} for r in template.requirements.all()
        ],
    }


def consent_out(consent, *, with_signature: bool = False) -> dict:
    from clinic.clinical.selectors import consent_is_valid

    data = {
        "id": consent.id,
        "patient_id": consent.patient_id,
        "template": {"id": consent.template.id, "name": consent.template.name},
        "template_version": consent.template_version,
        "text_signed": consent.text_signed,
        "signer": consent.signer,
        "contact": _ref(consent.contact, consent.contact.display_name if consent.contact else ""),
        "signed_name": consent.signed_name,
        "witness_name": consent.witness_name,
        "recorded_by": _ref(consent.recorded_by, member_name(consent.recorded_by)),
        "signed_at": consent.signed_at,
        "expires_at": consent.expires_at,
        "status": consent.status,
        "valid": consent_is_valid(consent),
        "withdrawn_at": consent.withdrawn_at,
        "withdrawn_reason": consent.withdrawn_reason,
    }
    if with_signature:
        data["signature"] = consent.signature
    return data


def care_team_out(member) -> dict:
    return {
        "practitioner": {"id": member.practitioner.id, "name": member.practitioner.display_name},
        "added_by": _ref(member.added_by, member_name(member.added_by)),
        "added_at": member.added_at,
    }
