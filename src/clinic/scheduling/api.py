"""Scheduling API: appointments, series, holds, slots, availability, settings, calendar feeds.

Handlers parse, authorise (permission + object scope through the selectors' access helpers) and
call one service or selector; every refusal is a domain error mapped to the JSON envelope.
"""

import json
from typing import Any
from uuid import UUID

from django.core.serializers.json import DjangoJSONEncoder
from django.db.models import UUIDField, Value
from django.http import HttpResponse
from django.urls import reverse
from django.utils.translation import gettext as _
from ninja import Field, Query, Router, Schema, Status
from pydantic import AwareDatetime

from clinic.api.auth import require
from clinic.billing import selectors as billing_selectors
from clinic.care import selectors as care_selectors
from clinic.core.errors import ValidationFailed
from clinic.scheduling import selectors, services
from clinic.scheduling import status as machine
from clinic.scheduling.models import Appointment
from clinic.scheduling.schemas import (
    AppointmentIn,
    AppointmentOut,
    AppointmentPatch,
    AppointmentRange,
    CheckOut,
    ExceptionIn,
    ExceptionOut,
    FeedCreated,
    FeedIn,
    FeedOut,
    HoldIn,
    HoldOut,
    RuleIn,
    RuleOut,
    RulePatch,
    RulesCopyIn,
    SeriesCreated,
    SeriesDetail,
    SeriesIn,
    SettingsIn,
    SettingsOut,
    SlotsOut,
    StatusIn,
    WorkingTimeOut,
)

router = Router(tags=["scheduling"])


def _iso(value) -> str | None:
    return value.isoformat() if value is not None else None


def _id(value) -> str | None:
    return str(value) if value is not None else None


def appointment_links(actor) -> dict[str, Any]:
    """The records of the modules above scheduling that an appointment links to, as subqueries
    on the appointment (the plan it was scheduled for, the invoice billing it), each only where
    the actor's role may open such a record at all; the same for one appointment and a range."""
    links: dict[str, Any] = {"plan_id": Value(None, UUIDField())}
    links["invoice_id"] = Value(None, UUIDField())
    if actor.has("treatment_plan.view"):
        links["plan_id"] = care_selectors.plan_of_appointment(actor)
    if actor.has("invoice.view"):
        links["invoice_id"] = billing_selectors.invoice_of_appointment(actor)
    return links


def appointments_out(appointments: list[Appointment], actor) -> list[dict[str, Any]]:
    """`appointment_out` for several appointments, their links read in one query."""
    found = selectors.appointment_links([a.id for a in appointments], appointment_links(actor))
    return [appointment_out(a, actor, links=found[a.id]) for a in appointments]


def appointment_out(a: Appointment, actor, *, links: dict | None = None) -> dict[str, Any]:
    """The API view of an appointment (patients do not see staff notes), in JSON types. The range
    endpoint's items are the same view written by PostgreSQL
    (`selectors.appointments_range_json`): change both together (a test compares them).
    `links` (plan and invoice ids) are read here when not given."""
    if links is None:
        links = selectors.appointment_links([a.id], appointment_links(actor))[a.id]
    return {
        "id": str(a.id),
        "kind": a.kind,
        "status": a.status,
        "practitioner": {
            "id": str(a.practitioner_id),
            "name": a.practitioner.display_name,
            "colour": a.practitioner.colour,
        },
        "patient": {"id": str(a.patient_id), "name": a.patient.display_name}
        if a.patient_id
        else None,
        "service": {
            "id": str(a.service_id),
            "name": a.service.name,
            "colour": a.service.colour,
            "duration_minutes": a.service.duration_minutes,
        }
        if a.service_id
        else None,
        "location": {
            "id": str(a.location_id),
            "name": a.location.name,
            "time_zone": a.location.time_zone,
        },
        "room": {"id": str(a.room_id), "name": a.room.name} if a.room_id else None,
        "start": a.start_at.isoformat(),
        "end": a.end_at.isoformat(),
        "occupied_start": a.occupied_start.isoformat(),
        "occupied_end": a.occupied_end.isoformat(),
        "modality": a.modality,
        "notes": None if actor.role == "patient" else a.notes,
        "series_id": _id(a.series_id),
        "recurrence_date": _iso(a.recurrence_date),
        "series_exception": a.series_exception,
        "hold_id": _id(a.hold_id),
        "hold_expires_at": _iso(a.hold_expires_at),
        "cancelled_at": _iso(a.cancelled_at),
        "cancel_reason": a.cancel_reason,
        "late_cancel": a.late_cancel,
        "outside_availability": getattr(a, "outside_availability", False),
        "allowed_transitions": machine.allowed_from(a.status),
        "plan_id": _id(links.get("plan_id")),
        "invoice_id": _id(links.get("invoice_id")),
    }


# --- appointments ---------------------------------------------------------------------------


class RangeQuery(Schema):
    start: AwareDatetime
    end: AwareDatetime
    practitioner_id: list[UUID] = []
    room_id: UUID | None = None
    patient_id: UUID | None = None
    status: list[str] = []
    limit: int = 5000


@router.get("/appointments", response=AppointmentRange)
@require("appointment.view")
def appointments_list(request, filters: Query[RangeQuery]):
    """Appointments overlapping [start, end) (at most 62 days): one query whatever the size."""
    if not 1 <= filters.limit <= 5000:
        raise ValidationFailed(
            _("Invalid value for %(field)s.") % {"field": "limit"},
            details={"limit": [_("Between 1 and 5000.")]},
        )
    found = selectors.appointments_range_json(
        actor=request.auth,
        start=filters.start,
        end=filters.end,
        practitioner_ids=filters.practitioner_id,
        room_id=filters.room_id,
        patient_id=filters.patient_id,
        statuses=filters.status,
        limit=filters.limit,
        hide_notes=request.auth.role == "patient",
        links=appointment_links(request.auth),
    )
    # The items are JSON text from PostgreSQL in the documented shape (AppointmentRange, as
    # appointment_out writes one appointment): wrapped as they are, neither parsed nor validated.
    body = (
        f'{{"items": {found.items}, "count": {found.count}, '
        f'"truncated": {"true" if found.truncated else "false"}}}'
    )
    return HttpResponse(body, content_type="application/json")


@router.post("/appointments", response={201: AppointmentOut})
@require("appointment.book")
def appointment_book(request, payload: AppointmentIn):
    """Book. 409 with the conflicting items and five alternatives if the time is taken; 422 if
    it is outside availability and the caller may not override."""
    if payload.kind == "block" and not request.auth.has("availability.manage"):
        raise ValidationFailed(
            _("Your role cannot block time."), details={"kind": [_("Not allowed.")]}
        )
    appointment = services.appointment_book(
        actor=request.auth,
        practitioner_id=payload.practitioner_id,
        patient_id=payload.patient_id,
        service_id=payload.service_id,
        start=payload.start,
        end=payload.end,
        room_id=payload.room_id,
        location_id=payload.location_id,
        notes=payload.notes,
        kind=payload.kind,
        override=payload.override_availability,
    )
    return Status(201, appointment_out(appointment, request.auth))


@router.post("/appointments/check", response=CheckOut)
@require("appointment.book")
def appointment_check(request, payload: AppointmentIn, ignore_id: UUID | None = None):
    """What booking this (or moving `ignore_id` to it) would meet, without writing anything."""
    if ignore_id:
        selectors.appointment_for_actor(request.auth, ignore_id)
    return services.booking_check(
        actor=request.auth,
        practitioner_id=payload.practitioner_id,
        patient_id=payload.patient_id,
        service_id=payload.service_id,
        start=payload.start,
        end=payload.end,
        room_id=payload.room_id,
        location_id=payload.location_id,
        kind=payload.kind,
        ignore_id=ignore_id,
    )


@router.get("/appointments/{appointment_id}", response=AppointmentOut)
@require("appointment.view")
def appointment_detail(request, appointment_id: UUID):
    return appointment_out(
        selectors.appointment_for_actor(request.auth, appointment_id), request.auth
    )


@router.patch("/appointments/{appointment_id}", response=list[AppointmentOut])
@require("appointment.update")
def appointment_update(
    request, appointment_id: UUID, payload: AppointmentPatch, scope: str = "this"
):
    """Reschedule (start/end), reassign (practitioner/room) or annotate. For a series
    occurrence, `scope` is this, following (splits the series) or all; past occurrences are
    never changed. Returns every appointment changed."""
    appointment = selectors.appointment_for_actor(request.auth, appointment_id, for_update=True)
    given = payload.model_dump(exclude_unset=True)
    changed = services.appointment_reschedule(
        actor=request.auth,
        appointment=appointment,
        scope=scope,
        start=given.get("start", services.UNSET),
        end=given.get("end", services.UNSET),
        practitioner_id=given.get("practitioner_id", services.UNSET),
        room_id=given.get("room_id", services.UNSET),
        notes=services.UNSET if given.get("notes") is None else given["notes"],
        override=payload.override_availability,
        notify=payload.notify,
    )
    return appointments_out(changed, request.auth)


@router.delete("/appointments/{appointment_id}", response=list[AppointmentOut])
@require("appointment.cancel")
def appointment_cancel(
    request, appointment_id: UUID, scope: str = "this", reason: str = "", notify: bool = True
):
    """Cancel (kept, with who/when/why and the late-cancel flag); `scope` as for PATCH;
    `notify=false`: the patient is not sent a cancellation message (staff are still told)."""
    appointment = selectors.appointment_for_actor(request.auth, appointment_id, for_update=True)
    done = services.appointment_cancel(
        actor=request.auth, appointment=appointment, reason=reason, scope=scope, notify=notify
    )
    return appointments_out(done, request.auth)


STATUS_PERMISSIONS = {"cancelled": "appointment.cancel"}


@router.post("/appointments/{appointment_id}/status", response=AppointmentOut)
@require("appointment.update")
def appointment_status(request, appointment_id: UUID, payload: StatusIn):
    """One transition of the status machine; any other → 409 with the allowed transitions."""
    appointment = selectors.appointment_for_actor(request.auth, appointment_id, for_update=True)
    if not payload.status:
        raise ValidationFailed(
            _("Invalid value for %(field)s.") % {"field": "status"},
            details={"status": [_("This field is required.")]},
        )
    needed = STATUS_PERMISSIONS.get(payload.status)
    if needed and not request.auth.has(needed):
        from clinic.core.errors import PermissionDenied

        raise PermissionDenied(
            _("Your role does not allow this (%(perm)s).") % {"perm": needed},
            details={"permission": needed},
        )
    updated = services.appointment_status_set(
        actor=request.auth, appointment=appointment, status=payload.status, reason=payload.reason
    )
    return appointment_out(updated, request.auth)


# --- series ------------------------------------------------------------------------------------


@router.post("/appointment-series", response={201: SeriesCreated})
@require("appointment.book")
def series_create(request, payload: SeriesIn):
    """A recurring appointment (RRULE in the location's wall time, DST-safe); every occurrence
    is a real appointment. on_conflict=fail (default: all or nothing) or skip."""
    result = services.series_create(
        actor=request.auth,
        practitioner_id=payload.practitioner_id,
        patient_id=payload.patient_id,
        service_id=payload.service_id,
        start=payload.start,
        end=payload.end,
        rrule=payload.rrule,
        exdates=payload.exdates,
        location_id=payload.location_id,
        room_id=payload.room_id,
        on_conflict=payload.on_conflict,
        notes=payload.notes,
    )
    return Status(
        201,
        {
            "series": result.series,
            "occurrences": appointments_out(result.occurrences, request.auth),
            "skipped": result.skipped,
            "truncated": result.truncated,
        },
    )


@router.get("/appointment-series/{series_id}", response=SeriesDetail)
@require("appointment.view")
def series_detail(request, series_id: UUID):
    series = selectors.series_for_actor(request.auth, series_id)
    occurrences = (
        selectors.appointments_visible_to(request.auth)
        .filter(series_id=series.id)
        .select_related("practitioner", "patient", "service", "location", "room")
        .order_by("start_at")
    )
    return {
        "series": series,
        "occurrences": appointments_out(list(occurrences), request.auth),
    }


# --- holds ---------------------------------------------------------------------------------------


def hold_out(hold, rows, actor) -> dict[str, Any]:
    return {
        "id": hold.id,
        "state": hold.state,
        "expires_at": hold.expires_at,
        "created_at": hold.created_at,
        "appointments": appointments_out(list(rows), actor),
    }


@router.post("/holds", response={201: HoldOut})
@require("hold.create")
def hold_create(request, payload: HoldIn):
    """Hold one or more slots (default 300 s) before booking; send an Idempotency-Key so a
    retried request gets the same hold. 409 carries retry_after and alternatives."""
    hold, rows = services.hold_create(
        actor=request.auth,
        practitioner_id=payload.practitioner_id,
        patient_id=payload.patient_id,
        service_id=payload.service_id,
        start=payload.start,
        end=payload.end,
        occurrences=[o.model_dump() for o in payload.occurrences],
        hold_seconds=payload.hold_seconds,
        room_id=payload.room_id,
        location_id=payload.location_id,
    )
    return Status(201, hold_out(hold, rows, request.auth))


@router.get("/holds/{hold_id}", response=HoldOut)
@require("hold.create")
def hold_detail(request, hold_id: UUID):
    hold = selectors.hold_for_actor(request.auth, hold_id)
    return hold_out(hold, selectors.hold_appointments(hold), request.auth)


@router.post("/holds/{hold_id}/confirm", response=HoldOut)
@require("hold.confirm")
def hold_confirm(request, hold_id: UUID):
    """Turn the held slots into scheduled appointments, atomically."""
    hold = selectors.hold_for_actor(request.auth, hold_id)
    rows = services.hold_confirm(actor=request.auth, hold=hold)
    hold.refresh_from_db()
    return hold_out(hold, rows, request.auth)


@router.delete("/holds/{hold_id}", response=HoldOut)
@require("hold.create")
def hold_release(request, hold_id: UUID):
    hold = selectors.hold_for_actor(request.auth, hold_id)
    hold = services.hold_release(actor=request.auth, hold=hold)
    return hold_out(hold, [], request.auth)


# --- slots ----------------------------------------------------------------------------------------


class SlotQuery(Schema):
    service_id: UUID
    start: AwareDatetime
    end: AwareDatetime
    practitioner_id: list[UUID] = []
    location_id: UUID | None = None
    modality: str | None = None
    patient_id: UUID | None = None
    limit: int = 200


@router.get("/slots", response=SlotsOut)
@require("slot.view")
def slots(request, filters: Query[SlotQuery]):
    """Free start times where the service (duration and buffers) fits inside availability and
    outside every appointment, live hold and block. Three queries whatever the range."""
    if not 1 <= filters.limit <= 1000:
        raise ValidationFailed(
            _("Invalid value for %(field)s.") % {"field": "limit"},
            details={"limit": [_("Between 1 and 1000.")]},
        )
    search = selectors.slots_find(
        service_id=filters.service_id,
        start=filters.start,
        end=filters.end,
        practitioner_ids=filters.practitioner_id,
        location_id=filters.location_id,
        modality=filters.modality,
        patient_id=filters.patient_id,
        limit=filters.limit,
        actor=request.auth,
    )
    if not search.service.is_active:
        # As booking it would answer: slots of an archived service could not be booked.
        raise ValidationFailed(
            _("Invalid value for %(field)s.") % {"field": "service_id"},
            details={"service_id": [_("This service is archived.")]},
        )
    body = {
        "service_id": search.service.id,
        "duration_minutes": search.service.duration_minutes,
        "granularity_minutes": search.granularity_minutes,
        "slots": [
            {
                "start": s.start,
                "end": s.end,
                "practitioner_id": s.practitioner_id,
                "location_id": s.location_id,
            }
            for s in search.slots
        ],
    }
    # Already the documented shape (SlotsOut), encoded as ninja encodes it: skip the response
    # validation pass, a third of the request's time for a thousand slots.
    return HttpResponse(json.dumps(body, cls=DjangoJSONEncoder), content_type="application/json")


# --- availability ------------------------------------------------------------------------------


class WorkingTimeQuery(Schema):
    start: AwareDatetime
    end: AwareDatetime
    practitioner_id: list[UUID] = []


@router.get("/working-time", response=WorkingTimeOut)
@require("availability.view")
def working_time(request, filters: Query[WorkingTimeQuery]):
    """The practitioners' working windows (weekly hours and extra hours, blocked time cut out)
    and their blocked time with its label, for shading a calendar: two queries."""
    found = selectors.availability_windows(
        request.auth,
        practitioner_ids=filters.practitioner_id,
        start=filters.start,
        end=filters.end,
    )
    return {"windows": found.windows, "blocked": found.blocked}


@router.get("/availability-rules", response=list[RuleOut])
@require("availability.view")
def rules_list(request, practitioner_id: UUID | None = None):
    return list(selectors.rules_list(request.auth, practitioner_id=practitioner_id)[:1000])


@router.post("/availability-rules", response={201: RuleOut})
@require("availability.manage")
def rule_create(request, payload: RuleIn):
    data = payload.model_dump()
    rule = services.availability_rule_create(
        actor=request.auth, practitioner_id=data.pop("practitioner_id"), data=data
    )
    return Status(201, rule)


@router.post("/availability-rules/copy", response={201: list[RuleOut]})
@require("availability.manage")
def rules_copy(request, payload: RulesCopyIn):
    """Copy a day's hours to other days, or a week (or one day) to other practitioners; all
    or nothing (409 naming the first clash)."""
    made = services.availability_rules_copy(actor=request.auth, **payload.model_dump())
    return Status(201, made)


@router.patch("/availability-rules/{rule_id}", response=RuleOut)
@require("availability.manage")
def rule_update(request, rule_id: UUID, payload: RulePatch):
    rule = selectors.rule_for_actor(request.auth, rule_id)
    return services.availability_rule_update(
        actor=request.auth, rule=rule, data=payload.model_dump(exclude_unset=True)
    )


@router.delete("/availability-rules/{rule_id}", response={204: None})
@require("availability.manage")
def rule_delete(request, rule_id: UUID):
    rule = selectors.rule_for_actor(request.auth, rule_id)
    services.availability_rule_delete(actor=request.auth, rule=rule)
    return Status(204, None)


@router.get("/availability-exceptions", response=list[ExceptionOut])
@require("availability.view")
def exceptions_list(
    request,
    practitioner_id: UUID | None = None,
    start: AwareDatetime | None = None,
    end: AwareDatetime | None = None,
):
    return list(
        selectors.exceptions_list(
            request.auth, practitioner_id=practitioner_id, start=start, end=end
        )[:1000]
    )


@router.post("/availability-exceptions", response={201: ExceptionOut})
@require("availability.manage")
def exception_create(request, payload: ExceptionIn):
    exception = services.availability_exception_create(
        actor=request.auth,
        practitioner_id=payload.practitioner_id,
        kind=payload.kind,
        start=payload.start,
        end=payload.end,
        location_id=payload.location_id,
        reason=payload.reason,
        block_anyway=payload.block_anyway,
    )
    return Status(201, exception)


class ExceptionPatch(Schema):
    kind: str | None = None
    start: AwareDatetime | None = None
    end: AwareDatetime | None = None
    location_id: UUID | None = None
    reason: str | None = Field(None, max_length=200)


@router.patch("/availability-exceptions/{exception_id}", response=ExceptionOut)
@require("availability.manage")
def exception_update(request, exception_id: UUID, payload: ExceptionPatch):
    exception = selectors.exception_for_actor(request.auth, exception_id)
    return services.availability_exception_update(
        actor=request.auth, exception=exception, data=payload.model_dump(exclude_unset=True)
    )


@router.delete("/availability-exceptions/{exception_id}", response={204: None})
@require("availability.manage")
def exception_delete(request, exception_id: UUID):
    exception = selectors.exception_for_actor(request.auth, exception_id)
    services.availability_exception_delete(actor=request.auth, exception=exception)
    return Status(204, None)


# --- settings and feeds ----------------------------------------------------------------------


@router.get("/scheduling-settings", response=SettingsOut)
@require("appointment.view")
def settings_detail(request):
    return selectors.settings_get()


@router.patch("/scheduling-settings", response=SettingsOut)
@require("scheduling.settings")
def settings_update(request, payload: SettingsIn):
    return services.settings_update(actor=request.auth, data=payload.model_dump(exclude_unset=True))


@router.get("/ics-feeds", response=list[FeedOut])
@require("icsfeed.manage")
def feeds_list(request):
    return list(selectors.feeds_list(request.auth)[:200])


@router.post("/ics-feeds", response={201: FeedCreated})
@require("icsfeed.manage")
def feed_create(request, payload: FeedIn):
    """A private calendar feed URL for a practitioner; the URL (with its secret) is shown once."""
    issued = services.ics_feed_create(
        actor=request.auth, practitioner_id=payload.practitioner_id, name=payload.name
    )
    feed = issued.feed
    url = request.build_absolute_uri(reverse("scheduling:ics_feed", args=[issued.token]))
    return Status(
        201,
        {
            "id": feed.id,
            "practitioner_id": feed.practitioner_id,
            "name": feed.name,
            "prefix": feed.prefix,
            "created_at": feed.created_at,
            "last_used_at": None,
            "revoked_at": None,
            "url": url,
            "token": issued.token,
        },
    )


@router.delete("/ics-feeds/{feed_id}", response=FeedOut)
@require("icsfeed.manage")
def feed_revoke(request, feed_id: UUID):
    feed = selectors.feed_for_actor(request.auth, feed_id)
    return services.ics_feed_revoke(actor=request.auth, feed=feed)
