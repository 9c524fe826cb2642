"""Care's personal data (core/privacy.py): treatment plans and their consultations are part of
the clinical record, which the clinic must keep; they are declared, exported, and kept."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from clinic.care.models import TreatmentPlan
from clinic.core.privacy import Outcome, personal_data


def plans_export(patient) -> list[dict]:
    return [
        {
            "title": p.title,
            "status": p.status,
            "start_date": p.start_date,
            "end_date": p.end_date,
            "reason": p.reason,
            "diagnosis_codes": p.diagnosis_codes,
            "goals": p.goals,
        }
        for p in TreatmentPlan.objects.filter(patient=patient).order_by("start_date")
    ]


def register() -> None:
    personal_data(
        "care.plans",
        holds=_("Treatment plans, goals and consultations"),
        outcome=Outcome.KEPT,
        count=lambda patient: TreatmentPlan.objects.filter(patient=patient).count(),
        export=plans_export,
        kept_because=_("Part of the clinical record, which must be kept for the legal period."),
        order=70,
    )
