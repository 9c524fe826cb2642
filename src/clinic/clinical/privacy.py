"""The clinical record's personal data (core/privacy.py): encounters, notes, allergies,
conditions and observations must be kept for the legal period. The export points at the FHIR
bundle (GET /api/v1/patients/{id}/fhir), whose every read is audited as a clinical read."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from clinic.clinical.models import Encounter
from clinic.core.privacy import Outcome, personal_data


def register() -> None:
    personal_data(
        "clinical.record",
        holds=_("Clinical record: encounters, notes, allergies, conditions, observations"),
        outcome=Outcome.KEPT,
        count=lambda patient: Encounter.objects.filter(patient=patient).count(),
        export=lambda patient: {"fhir": f"/api/v1/patients/{patient.id}/fhir"},
        kept_because=_("Medical records must be kept for the legal period."),
        order=80,
    )
