"""Time off and closures API. Handlers parse, authorise (permission + object scope through the
access helpers) and call one service or selector; refusals are domain errors."""

from datetime import date, datetime
from datetime import date as calendar_date
from typing import Any
from uuid import UUID

from ninja import Field, Query, Router, Schema, Status
from ninja.pagination import paginate
from pydantic import AwareDatetime

from clinic.api.auth import require
from clinic.api.pagination import Mapped, PagePagination
from clinic.scheduling.models import Appointment, Closure, TimeOff
from clinic.scheduling.timeoff import selectors, services

router = Router(tags=["time off"])


class TimeOffIn(Schema):
    practitioner_id: UUID
    start: AwareDatetime | None = None
    end: AwareDatetime | None = None
    start_date: date | None = Field(None, description="whole days: first day (location's zone)")
    end_date: date | None = Field(None, description="whole days: last day, inclusive")
    type: str = "vacation"
    reason: str = ""
    location_id: UUID | None = None
    status: str | None = Field(None, description='"approved": record it already approved')


class TimeOffOut(Schema):
    id: UUID
    practitioner_id: UUID
    practitioner_name: str
    location_id: UUID | None
    start: datetime
    end: datetime
    all_day: bool
    type: str
    reason: str
    status: str
    requested_by_id: UUID | None
    decided_by_id: UUID | None
    decided_at: datetime | None
    decision_note: str
    affected_count: int | None = None


class DecisionIn(Schema):
    note: str = Field("", max_length=500)


class TimeOffQuery(Schema):
    practitioner_id: UUID | None = None
    status: list[str] = []
    start: AwareDatetime | None = None
    end: AwareDatetime | None = None


class AffectedOut(Schema):
    id: UUID
    kind: str
    status: str
    start: datetime
    end: datetime
    practitioner_id: UUID
    patient_id: UUID | None
    patient_name: str | None
    service_id: UUID | None
    service_name: str | None
    location_id: UUID
    time_zone: str
    hold_id: UUID | None


class CandidateOut(Schema):
    practitioner_id: UUID
    name: str
    score: int
    reasons: list[str]
    seen_patient: bool
    load_that_day: int


class CoverageOut(Schema):
    appointment: AffectedOut
    candidates: list[CandidateOut]


class ActionIn(Schema):
    appointment_id: UUID
    action: str = Field(..., description="reassign, reschedule, cancel or keep")
    practitioner_id: UUID | None = None
    start: AwareDatetime | None = None


class ResolveIn(Schema):
    actions: list[ActionIn] = Field(default_factory=list, max_length=500)
    notify: bool = True


class ResolvedOut(Schema):
    appointment_id: UUID
    action: str


def time_off_out(t: TimeOff) -> dict[str, Any]:
    return {
        "id": t.id,
        "practitioner_id": t.practitioner_id,
        "practitioner_name": t.practitioner.display_name,
        "location_id": t.location_id,
        "start": t.start_at,
        "end": t.end_at,
        "all_day": t.all_day,
        "type": t.type,
        "reason": t.reason,
        "status": t.status,
        "requested_by_id": t.requested_by_id,
        "decided_by_id": t.decided_by_id,
        "decided_at": t.decided_at,
        "decision_note": t.decision_note,
        "affected_count": getattr(t, "affected_count", None),
    }


def affected_out(a: Appointment) -> dict[str, Any]:
    return {
        "id": a.id,
        "kind": a.kind,
        "status": a.status,
        "start": a.start_at,
        "end": a.end_at,
        "practitioner_id": a.practitioner_id,
        "patient_id": a.patient_id,
        "patient_name": a.patient.display_name if a.patient_id else None,
        "service_id": a.service_id,
        "service_name": a.service.name if a.service_id else None,
        "location_id": a.location_id,
        "time_zone": a.location.time_zone,
        "hold_id": a.hold_id,
    }


@router.post("/time-off", response={201: TimeOffOut})
@require("time_off.request")
def time_off_request(request, payload: TimeOffIn):
    """Request time off (hours with `start`/`end`, or whole days with `start_date`/`end_date` in
    the location's zone). 409 naming the other request when it overlaps one."""
    time_off = services.time_off_request(
        actor=request.auth,
        practitioner_id=payload.practitioner_id,
        start=payload.start,
        end=payload.end,
        start_date=payload.start_date,
        end_date=payload.end_date,
        type=payload.type,
        reason=payload.reason,
        location_id=payload.location_id,
        approved=payload.status == "approved",
    )
    return Status(201, time_off_out(time_off))


@router.get("/time-off", response=list[TimeOffOut])
@require("time_off.view")
@paginate(PagePagination)
def time_off_list(request, filters: Query[TimeOffQuery]):
    """Time off, with the number of affected appointments of each: one query a page."""
    found = selectors.time_off_list(
        request.auth,
        practitioner_id=filters.practitioner_id,
        status=filters.status,
        start=filters.start,
        end=filters.end,
    )
    return Mapped(found, time_off_out)


@router.get("/time-off/{time_off_id}", response=TimeOffOut)
@require("time_off.view")
def time_off_detail(request, time_off_id: UUID):
    return time_off_out(selectors.time_off_for_actor(request.auth, time_off_id))


def _decide(request, time_off_id: UUID, decision: str, note: str) -> dict[str, Any]:
    time_off = selectors.time_off_for_actor(request.auth, time_off_id)
    return time_off_out(
        services.time_off_decide(
            actor=request.auth, time_off=time_off, decision=decision, note=note
        )
    )


@router.post("/time-off/{time_off_id}/approve", response=TimeOffOut)
@require("time_off.decide")
def time_off_approve(request, time_off_id: UUID, payload: DecisionIn | None = None):
    return _decide(request, time_off_id, "approve", payload.note if payload else "")


@router.post("/time-off/{time_off_id}/deny", response=TimeOffOut)
@require("time_off.decide")
def time_off_deny(request, time_off_id: UUID, payload: DecisionIn | None = None):
    return _decide(request, time_off_id, "deny", payload.note if payload else "")


@router.post("/time-off/{time_off_id}/cancel", response=TimeOffOut)
@require("time_off.request")
def time_off_cancel(request, time_off_id: UUID, payload: DecisionIn | None = None):
    return _decide(request, time_off_id, "cancel", payload.note if payload else "")


@router.get("/time-off/{time_off_id}/affected", response=list[AffectedOut])
@require("time_off.view")
def time_off_affected(request, time_off_id: UUID):
    """Booked appointments and live holds inside the time off, before and after approval."""
    time_off = selectors.time_off_for_actor(request.auth, time_off_id)
    return [affected_out(a) for a in selectors.time_off_affected(time_off)]


@router.get("/time-off/{time_off_id}/coverage", response=list[CoverageOut])
@require("time_off.decide")
def time_off_coverage(request, time_off_id: UUID):
    """Per affected appointment, who could take it (delivers the service, works and is free at
    that exact time), ranked with reasons: a constant number of queries."""
    time_off = selectors.time_off_for_actor(request.auth, time_off_id)
    return [
        {
            "appointment": affected_out(c.appointment),
            "candidates": [
                {
                    "practitioner_id": x.practitioner_id,
                    "name": x.name,
                    "score": x.score,
                    "reasons": x.reasons,
                    "seen_patient": x.seen_patient,
                    "load_that_day": x.load_that_day,
                }
                for x in c.candidates
            ],
        }
        for c in selectors.time_off_coverage(time_off)
    ]


@router.post("/time-off/{time_off_id}/resolve", response=list[ResolvedOut])
@require("time_off.decide")
def time_off_resolve(request, time_off_id: UUID, payload: ResolveIn):
    """All actions in one transaction; the first that cannot apply is a 409 naming it and
    nothing is applied."""
    time_off = selectors.time_off_for_actor(request.auth, time_off_id)
    return services.time_off_resolve(
        actor=request.auth,
        time_off=time_off,
        actions=[services.ResolveAction(**a.model_dump()) for a in payload.actions],
        notify=payload.notify,
    )


# --- closures --------------------------------------------------------------------------------


class ClosureIn(Schema):
    name: str = Field(..., max_length=200)
    location_id: UUID | None = None
    start: AwareDatetime | None = None
    end: AwareDatetime | None = None
    start_date: date | None = None
    end_date: date | None = None


class ClosurePatch(Schema):
    name: str | None = Field(None, max_length=200)
    location_id: UUID | None = None
    start: AwareDatetime | None = None
    end: AwareDatetime | None = None
    start_date: date | None = None
    end_date: date | None = None


class ClosureOut(Schema):
    id: UUID
    name: str
    location_id: UUID | None
    start: datetime = Field(..., alias="start_at")
    end: datetime = Field(..., alias="end_at")
    all_day: bool
    affected_count: int | None = Field(None, description="booked appointments inside (lists)")


class ClosureDateIn(Schema):
    date: calendar_date
    name: str = Field(..., max_length=200)


class ClosureImportIn(Schema):
    location_id: UUID | None = None
    dates: list[ClosureDateIn] = Field(..., max_length=400)


class ClosureQuery(Schema):
    start: AwareDatetime | None = None
    end: AwareDatetime | None = None


@router.get("/closures", response=list[ClosureOut])
@require("availability.view")
@paginate(PagePagination)
def closures_list(request, filters: Query[ClosureQuery]):
    return selectors.closures_list(start=filters.start, end=filters.end)


@router.post("/closures", response={201: ClosureOut})
@require("closure.manage")
def closure_create(request, payload: ClosureIn):
    closure = services.closure_create(actor=request.auth, **payload.model_dump())
    return Status(201, closure)


@router.post("/closures/import", response={201: list[ClosureOut]})
@require("closure.manage")
def closures_import(request, payload: ClosureImportIn):
    """Whole-day closures from a list of dates (public holidays): all or none; days already
    closed there are skipped."""
    made = services.closures_import(
        actor=request.auth,
        items=[(d.date, d.name) for d in payload.dates],
        location_id=payload.location_id,
    )
    return Status(201, made)


@router.get("/closures/{closure_id}", response=ClosureOut)
@require("availability.view")
def closure_detail(request, closure_id: UUID):
    return selectors.closure_get(closure_id)


@router.patch("/closures/{closure_id}", response=ClosureOut)
@require("closure.manage")
def closure_update(request, closure_id: UUID, payload: ClosurePatch):
    closure: Closure = selectors.closure_get(closure_id)
    return services.closure_update(
        actor=request.auth, closure=closure, data=payload.model_dump(exclude_unset=True)
    )


@router.delete("/closures/{closure_id}", response={204: None})
@require("closure.manage")
def closure_delete(request, closure_id: UUID):
    services.closure_delete(actor=request.auth, closure=selectors.closure_get(closure_id))
    return Status(204, None)


@router.get("/closures/{closure_id}/affected", response=list[AffectedOut])
@require("closure.manage")
def closure_affected(request, closure_id: UUID):
    """Booked appointments and live holds inside the closure (to warn and move them)."""
    closure = selectors.closure_get(closure_id)
    return [affected_out(a) for a in selectors.closure_affected(closure)]
