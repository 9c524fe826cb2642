"""Privacy endpoints: a patient's personal data exported, and erased in two steps."""

from typing import Any
from uuid import UUID

from ninja import Router, Status

from clinic.api.auth import require
from clinic.directory.selectors import patient_for_actor
from clinic.privacy import selectors, services
from clinic.privacy.schemas import ErasureAsked, ErasureDone, ErasureIn, ErasureOverview

router = Router(tags=["privacy"])


@router.get("/patients/{patient_id}/personal-data", response=dict[str, Any])
@require("personal_data.export")
def personal_data_export(request, patient_id: UUID):
    """Everything the clinic's modules hold about the patient, by kind (access request)."""
    return selectors.personal_data_export(patient_for_actor(request.auth, patient_id))


@router.get("/patients/{patient_id}/erasure", response=ErasureOverview)
@require("patient.erase")
def erasure_overview(request, patient_id: UUID):
    """What an erasure would do, kind by kind, and whether it was done."""
    patient = patient_for_actor(request.auth, patient_id)
    return {
        "plan": selectors.erasure_plan(patient),
        "erased_at": selectors.erased_at(patient),
    }


@router.post("/patients/{patient_id}/erasure", response={202: ErasureAsked, 200: ErasureDone})
@require("patient.erase")
def erasure(request, patient_id: UUID, payload: ErasureIn):
    """Step 1 `{reason}` → 202 with the plan and a confirmation code; step 2 `{confirmation}`
    (same member, within 15 minutes) → 200, the data erased."""
    if payload.confirmation:
        done = services.erasure_confirm(
            actor=request.auth, patient_id=patient_id, confirmation=payload.confirmation
        )
        return Status(
            200,
            {"request_id": done.id, "erased_at": done.confirmed_at, "outcome": done.outcome},
        )
    asked, code, plan = services.erasure_request(
        actor=request.auth, patient_id=patient_id, reason=payload.reason
    )
    return Status(
        202,
        {
            "request_id": asked.id,
            "confirmation": code,
            "expires_at": asked.expires_at,
            "plan": plan,
        },
    )
