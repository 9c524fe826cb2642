"""The record's lists: allergies (and "no known allergies"), alerts, the problem list with the
ICD-10 search, and vital signs. Thin: rules live in clinical.services and clinical.selectors;
a patient outside the caller's caseload is a 404, as another clinic's."""

from uuid import UUID

from ninja import Router, Status
from ninja.pagination import paginate

from clinic.api.auth import require
from clinic.api.pagination import Mapped, PagePagination
from clinic.clinical import selectors, services
from clinic.clinical.icd10 import icd10_search
from clinic.clinical.presenters import (
    alert_out,
    allergy_out,
    condition_out,
    observation_out,
    vital_out,
)
from clinic.clinical.schemas import (
    AlertIn,
    AlertOut,
    AlertPatch,
    AllergyIn,
    AllergyOut,
    AllergyPatch,
    AllergyReviewOut,
    ConditionIn,
    ConditionOut,
    ConditionPatch,
    Icd10Out,
    ObservationIn,
    ObservationOut,
    VitalOut,
)
from clinic.clinical.vitals import VITALS

router = Router(tags=["clinical"])


def _changes(payload) -> dict:
    """The fields the caller sent (a PATCH leaves the others alone)."""
    return payload.dict(exclude_unset=True)


# --- allergies ---------------------------------------------------------------------------------


@router.get("/patients/{patient_id}/allergies", response=list[AllergyOut])
@require("allergy.view")
@paginate(PagePagination)
def allergies_list(request, patient_id: UUID, include_errors: bool = False):
    patient = selectors.record_patient(request.auth, patient_id)
    services.record_read(actor=request.auth, patient_id=patient.id, what="allergies")
    return Mapped(selectors.allergies_list(patient.id, include_errors=include_errors), allergy_out)


@router.post("/patients/{patient_id}/allergies", response={201: AllergyOut})
@require("allergy.edit")
def allergy_create(request, patient_id: UUID, payload: AllergyIn):
    allergy = services.allergy_create(actor=request.auth, patient_id=patient_id, **payload.dict())
    return Status(201, allergy_out(selectors.allergy_for_actor(request.auth, allergy.id)))


@router.post("/patients/{patient_id}/allergies/none-known", response=AllergyReviewOut)
@require("allergy.edit")
def allergies_none_known(request, patient_id: UUID):
    """Record that the patient has no known allergy (409 `allergies_recorded` if one is active)."""
    review = services.allergies_none_known(actor=request.auth, patient_id=patient_id)
    return {
        "patient_id": review.patient_id,
        "no_known_allergies": review.no_known_allergies,
        "reviewed_at": review.reviewed_at,
    }


@router.get("/allergies/{allergy_id}", response=AllergyOut)
@require("allergy.view")
def allergy_get(request, allergy_id: UUID):
    allergy = selectors.allergy_for_actor(request.auth, allergy_id)
    services.record_read(actor=request.auth, patient_id=allergy.patient_id, what="allergy")
    return allergy_out(allergy)


@router.patch("/allergies/{allergy_id}", response=AllergyOut)
@require("allergy.edit")
def allergy_update(request, allergy_id: UUID, payload: AllergyPatch):
    services.allergy_update(actor=request.auth, allergy_id=allergy_id, **_changes(payload))
    return allergy_out(selectors.allergy_for_actor(request.auth, allergy_id))


# --- alerts ------------------------------------------------------------------------------------


@router.get("/patients/{patient_id}/alerts", response=list[AlertOut])
@require("alert.view")
@paginate(PagePagination)
def alerts_list(request, patient_id: UUID, active: bool = False):
    patient = selectors.record_patient(request.auth, patient_id)
    return Mapped(selectors.alerts_list(patient.id, active_only=active), alert_out)


@router.post("/patients/{patient_id}/alerts", response={201: AlertOut})
@require("alert.edit")
def alert_create(request, patient_id: UUID, payload: AlertIn):
    alert = services.alert_create(actor=request.auth, patient_id=patient_id, **payload.dict())
    return Status(201, alert_out(selectors.alert_for_actor(request.auth, alert.id)))


@router.get("/alerts/{alert_id}", response=AlertOut)
@require("alert.view")
def alert_get(request, alert_id: UUID):
    return alert_out(selectors.alert_for_actor(request.auth, alert_id))


@router.patch("/alerts/{alert_id}", response=AlertOut)
@require("alert.edit")
def alert_update(request, alert_id: UUID, payload: AlertPatch):
    services.alert_update(actor=request.auth, alert_id=alert_id, **_changes(payload))
    return alert_out(selectors.alert_for_actor(request.auth, alert_id))


# --- conditions --------------------------------------------------------------------------------


@router.get("/patients/{patient_id}/conditions", response=list[ConditionOut])
@require("condition.view")
@paginate(PagePagination)
def conditions_list(request, patient_id: UUID, include_errors: bool = False):
    patient = selectors.record_patient(request.auth, patient_id)
    services.record_read(actor=request.auth, patient_id=patient.id, what="conditions")
    return Mapped(
        selectors.conditions_list(patient.id, include_errors=include_errors), condition_out
    )


@router.post("/patients/{patient_id}/conditions", response={201: ConditionOut})
@require("condition.edit")
def condition_create(request, patient_id: UUID, payload: ConditionIn):
    condition = services.condition_create(
        actor=request.auth, patient_id=patient_id, **payload.dict()
    )
    return Status(201, condition_out(selectors.condition_for_actor(request.auth, condition.id)))


@router.get("/conditions/{condition_id}", response=ConditionOut)
@require("condition.view")
def condition_get(request, condition_id: UUID):
    condition = selectors.condition_for_actor(request.auth, condition_id)
    services.record_read(actor=request.auth, patient_id=condition.patient_id, what="condition")
    return condition_out(condition)


@router.patch("/conditions/{condition_id}", response=ConditionOut)
@require("condition.edit")
def condition_update(request, condition_id: UUID, payload: ConditionPatch):
    services.condition_update(actor=request.auth, condition_id=condition_id, **_changes(payload))
    return condition_out(selectors.condition_for_actor(request.auth, condition_id))


@router.get("/icd10", response=list[Icd10Out])
@require("condition.view")
def icd10(request, q: str = ""):
    """ICD-10 entries by code or words (top 20)."""
    return [{"code": code, "label": label} for code, label in icd10_search(q[:100])]


# --- observations ------------------------------------------------------------------------------


@router.get("/vitals", response=list[VitalOut])
@require("observation.view")
def vitals_catalogue(request):
    """The measures the record takes: code, LOINC, unit and plausible range."""
    return [vital_out(vital) for vital in VITALS.values()]


@router.get("/patients/{patient_id}/observations", response=list[ObservationOut])
@require("observation.view")
@paginate(PagePagination)
def observations_list(
    request, patient_id: UUID, code: str | None = None, include_errors: bool = False
):
    patient = selectors.record_patient(request.auth, patient_id)
    services.record_read(actor=request.auth, patient_id=patient.id, what="observations")
    return Mapped(
        selectors.observations_list(patient.id, code=code, include_errors=include_errors),
        lambda observation: observation_out(observation, patient),
    )


@router.post("/patients/{patient_id}/observations", response={201: ObservationOut})
@require("observation.edit")
def observation_create(request, patient_id: UUID, payload: ObservationIn):
    observation = services.observation_create(
        actor=request.auth, patient_id=patient_id, **payload.dict()
    )
    return Status(
        201, observation_out(selectors.observation_for_actor(request.auth, observation.id))
    )


@router.get("/observations/{observation_id}", response=ObservationOut)
@require("observation.view")
def observation_get(request, observation_id: UUID):
    observation = selectors.observation_for_actor(request.auth, observation_id)
    services.record_read(actor=request.auth, patient_id=observation.patient_id, what="observation")
    return observation_out(observation)


@router.post("/observations/{observation_id}/entered-in-error", response=ObservationOut)
@require("observation.edit")
def observation_entered_in_error(request, observation_id: UUID):
    services.observation_entered_in_error(actor=request.auth, observation_id=observation_id)
    return observation_out(selectors.observation_for_actor(request.auth, observation_id))
