from uuid import UUID

from ninja import Query, Router, Schema, Status
from ninja.pagination import paginate

from clinic.api.auth import require
from clinic.api.pagination import Mapped, PagePagination
from clinic.care import selectors, services
from clinic.care.presenters import consultation_out, plan_out
from clinic.care.schemas import (
    BulkIn,
    BulkOut,
    ConsultationCreate,
    ConsultationOut,
    ConsultationUpdate,
    PlanCreate,
    PlanOut,
    PlanStatusIn,
    PlanUpdate,
    ScheduleIn,
)

router = Router(tags=["care"])


class PlanFilters(Schema):
    patient_id: UUID | None = None
    practitioner_id: UUID | None = None
    status: str | None = None
    search: str | None = None
    sort: str = "-start_date"


@router.get("/treatment-plans", response=list[PlanOut])
@require("treatment_plan.view")
@paginate(PagePagination)
def plans_list(request, filters: Query[PlanFilters]):
    return Mapped(selectors.plans_list(request.auth, **filters.dict()), plan_out)


@router.post("/treatment-plans", response={201: PlanOut})
@require("treatment_plan.create")
def plan_create(request, payload: PlanCreate):
    plan = services.plan_create(actor=request.auth, data=payload.model_dump(mode="python"))
    return Status(201, plan_out(selectors.plan_for_actor(request.auth, plan.id)))


@router.get("/treatment-plans/{plan_id}", response=PlanOut)
@require("treatment_plan.view")
def plan_get(request, plan_id: UUID):
    return plan_out(selectors.plan_for_actor(request.auth, plan_id))


@router.patch("/treatment-plans/{plan_id}", response=PlanOut)
@require("treatment_plan.update")
def plan_update(request, plan_id: UUID, payload: PlanUpdate):
    plan = selectors.plan_for_actor(request.auth, plan_id)
    services.plan_update(actor=request.auth, plan=plan, data=payload.model_dump(exclude_unset=True))
    return plan_out(selectors.plan_for_actor(request.auth, plan_id))


@router.delete("/treatment-plans/{plan_id}", response={204: None})
@require("treatment_plan.update")
def plan_delete(request, plan_id: UUID):
    services.plan_delete(actor=request.auth, plan=selectors.plan_for_actor(request.auth, plan_id))
    return Status(204, None)


@router.post("/treatment-plans/{plan_id}/status", response=PlanOut)
@require("treatment_plan.status")
def plan_status(request, plan_id: UUID, payload: PlanStatusIn):
    plan = selectors.plan_for_actor(request.auth, plan_id)
    services.plan_status_set(
        actor=request.auth, plan=plan, status=payload.status, reason=payload.reason
    )
    return plan_out(selectors.plan_for_actor(request.auth, plan_id))


@router.get("/treatment-plans/{plan_id}/consultations", response=list[ConsultationOut])
@require("consultation.view")
@paginate(PagePagination)
def consultations_list(request, plan_id: UUID, status: str | None = None):
    plan = selectors.plan_for_actor(request.auth, plan_id)
    return Mapped(
        selectors.consultations_of_plan(request.auth, plan, status=status), consultation_out
    )


@router.post("/treatment-plans/{plan_id}/consultations", response={201: ConsultationOut})
@require("consultation.manage")
def consultation_create(request, plan_id: UUID, payload: ConsultationCreate):
    plan = selectors.plan_for_actor(request.auth, plan_id)
    data = payload.model_dump(exclude_unset=True)
    consultation = services.consultation_create(actor=request.auth, plan=plan, data=data)
    return Status(
        201, consultation_out(selectors.consultation_for_actor(request.auth, consultation.id))
    )


@router.post("/treatment-plans/{plan_id}/consultations/bulk", response=BulkOut)
@require("consultation.manage")
def consultations_bulk(request, plan_id: UUID, payload: BulkIn):
    """Several operations at once: all or nothing unless `atomic` is false."""
    plan = selectors.plan_for_actor(request.auth, plan_id)
    operations = [op.model_dump(exclude_unset=True) for op in payload.operations]
    results = services.consultations_bulk(
        actor=request.auth, plan=plan, operations=operations, atomic=payload.atomic
    )
    for result in results:
        if result.get("consultation") is not None:
            result["consultation"] = consultation_out(result["consultation"])
    ok = sum(1 for r in results if r["ok"])
    return {
        "atomic": payload.atomic,
        "applied": ok,
        "failed": len(results) - ok,
        "results": results,
    }


@router.get("/consultations/{consultation_id}", response=ConsultationOut)
@require("consultation.view")
def consultation_get(request, consultation_id: UUID):
    return consultation_out(selectors.consultation_for_actor(request.auth, consultation_id))


@router.patch("/consultations/{consultation_id}", response=ConsultationOut)
@require("consultation.manage")
def consultation_update(request, consultation_id: UUID, payload: ConsultationUpdate):
    consultation = selectors.consultation_for_actor(request.auth, consultation_id)
    services.consultation_update(
        actor=request.auth, consultation=consultation, data=payload.model_dump(exclude_unset=True)
    )
    return consultation_out(selectors.consultation_for_actor(request.auth, consultation_id))


@router.delete("/consultations/{consultation_id}", response={204: None})
@require("consultation.manage")
def consultation_delete(request, consultation_id: UUID):
    consultation = selectors.consultation_for_actor(request.auth, consultation_id)
    services.consultation_delete(actor=request.auth, consultation=consultation)
    return Status(204, None)


@router.post("/consultations/{consultation_id}/schedule", response=ConsultationOut)
@require("consultation.schedule")
def consultation_schedule(request, consultation_id: UUID, payload: ScheduleIn):
    """Book the consultation's appointment at its planned time, or at `start`."""
    consultation = selectors.consultation_for_actor(request.auth, consultation_id)
    services.consultation_schedule(
        actor=request.auth, consultation=consultation, start=payload.start
    )
    return consultation_out(selectors.consultation_for_actor(request.auth, consultation_id))


@router.post("/consultations/{consultation_id}/status", response=ConsultationOut)
@require("consultation.manage")
def consultation_status(request, consultation_id: UUID, payload: PlanStatusIn):
    consultation = selectors.consultation_for_actor(request.auth, consultation_id)
    services.consultation_status_set(
        actor=request.auth, consultation=consultation, status=payload.status, reason=payload.reason
    )
    return consultation_out(selectors.consultation_for_actor(request.auth, consultation_id))
