"""Reads for the privacy module: what the registry (core/privacy.py) knows about one patient."""

from __future__ import annotations

from typing import Any

from clinic.core.privacy import Outcome, personal_data_all


def erasure_plan(patient) -> list[dict[str, Any]]:
    """Each kind of personal data held about the patient: what it is, how many rows, what an
    erasure would do with it (and why it is kept, when it is), and what stops it for now."""
    plan = []
    for entry in personal_data_all():
        plan.append(
            {
                "name": entry.name,
                "holds": str(entry.holds),
                "count": entry.count(patient),
                "outcome": entry.outcome,
                "kept_because": str(entry.kept_because) if entry.outcome == Outcome.KEPT else "",
                "blocking": (entry.blocking(patient) if entry.blocking else "") or "",
            }
        )
    return plan


def personal_data_export(patient) -> dict[str, Any]:
    """Everything the modules hold about the patient, by kind (a subject access request)."""
    return {
        entry.name: entry.export(patient)
        for entry in personal_data_all()
        if entry.export is not None
    }


def erased_at(patient):
    from clinic.privacy.models import ErasureRequest

    done = (
        ErasureRequest.objects.filter(patient=patient, confirmed_at__isnull=False)
        .order_by("confirmed_at")
        .first()
    )
    return done.confirmed_at if done else None
