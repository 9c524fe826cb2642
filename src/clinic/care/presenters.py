"""Plain dicts for the API and pages (names of related rows, progress), no queries."""

from __future__ import annotations

from clinic.care.models import Consultation, TreatmentPlan
from clinic.care.selectors import plan_progress


def _ref(row, name: str) -> dict | None:
    return {"id": row.id, "name": name} if row is not None else None


def patient_name(patient) -> str:
    return " ".join(p for p in (patient.given_name, patient.family_name) if p)


def plan_out(plan: TreatmentPlan) -> dict:
    return {
        "id": plan.id,
        "title": plan.title,
        "status": plan.status,
        "patient": _ref(plan.patient, patient_name(plan.patient)),
        "practitioner": _ref(plan.practitioner, plan.practitioner.display_name),
        "service": _ref(plan.service, plan.service.name if plan.service else ""),
        "location": _ref(plan.location, plan.location.name if plan.location else ""),
        "modality": plan.modality,
        "start_date": plan.start_date,
        "end_date": plan.end_date,
        "planned_consultations": plan.planned_consultations,
        "frequency_count": plan.frequency_count,
        "frequency_unit": plan.frequency_unit,
        "frequency": plan.frequency_label,
        "reason": plan.reason,
        "diagnosis_codes": plan.diagnosis_codes,
        "goals": plan.goals,
        "notes": plan.notes,
        "progress": plan_progress(plan).__dict__,
        "created_at": plan.created_at,
        "updated_at": plan.updated_at,
    }


def consultation_out(c: Consultation) -> dict:
    return {
        "id": c.id,
        "plan_id": c.plan_id,
        "sequence": c.sequence,
        "type": c.type,
        "status": c.status,
        "planned_start": c.planned_start,
        "planned_end": c.planned_end,
        "duration_minutes": c.duration_minutes,
        "modality": c.modality,
        "practitioner": _ref(c.practitioner, c.practitioner.display_name),
        "location": _ref(c.location, c.location.name if c.location else ""),
        "appointment_id": getattr(c, "appointment_id", None),
        "notes": c.notes,
    }
