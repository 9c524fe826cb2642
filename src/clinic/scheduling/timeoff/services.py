"""Every time-off and closure write: keyword-only, one transaction each, domain errors for every
refusal. Moving the affected appointments goes through scheduling's own services, so the usual
rules (constraints, availability, notifications of the patient) hold for every item."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from clinic.accounts.models import Membership
from clinic.core import timefmt
from clinic.core.errors import Conflict, DomainError, NotFound, PermissionDenied, ValidationFailed
from clinic.core.events import publish
from clinic.scheduling import selectors as scheduling
from clinic.scheduling import services as booking
from clinic.scheduling.events import TimeOffDecided
from clinic.scheduling.models import (
    Closure,
    TimeOff,
    TimeOffStatus,
    TimeOffType,
)
from clinic.scheduling.recurrence import wall_to_instant
from clinic.scheduling.timeoff import selectors

DECIDE = "time_off.decide"
MAX_TIME_OFF_DAYS = 366
MAX_IMPORT = 400
RESOLVE_ACTIONS = ("reassign", "reschedule", "cancel", "keep")


def _zone_of(location, practitioner) -> str:
    """Whole days are read in the location's zone: the one given, else the practitioner's
    default location's, else the organization's."""
    if location is not None:
        return location.time_zone
    if practitioner is not None and practitioner.default_location_id:
        return practitioner.default_location.time_zone
    return scheduling.connection_org_zone()


def days_to_range(first: date, last: date, zone: str) -> tuple[datetime, datetime]:
    """[local midnight of `first`, local midnight after `last`): the wall-clock bounds stay
    midnights whatever DST change lies between."""
    tz = scheduling.tz(zone)
    return wall_to_instant(first, time(0), tz), wall_to_instant(
        last + timedelta(days=1), time(0), tz
    )


def _bounds(*, start, end, start_date, end_date, zone: str) -> tuple[datetime, datetime, bool]:
    errors: dict[str, list[str]] = {}
    if start_date is not None:
        last = end_date or start_date
        if last < start_date:
            errors["end_date"] = [_("Must not be before the start date.")]
        else:
            start, end = days_to_range(start_date, last, zone)
            all_day = True
    else:
        all_day = False
        for name, value in (("start", start), ("end", end)):
            if value is None:
                errors[name] = [_("This field is required.")]
            elif value.tzinfo is None:
                errors[name] = [_("Give a time zone offset.")]
        if not errors and end <= start:
            errors["end"] = [_("Must be after start.")]
    if not errors and end - start > timedelta(days=MAX_TIME_OFF_DAYS):
        errors["end"] = [_("At most %(n)d days.") % {"n": MAX_TIME_OFF_DAYS}]
    if errors:
        raise ValidationFailed(
            _("Invalid value for %(field)s.") % {"field": next(iter(errors))}, details=errors
        )
    return start, end, all_day


def _overlap_conflict(time_off_other: TimeOff) -> Conflict:
    zone = _zone_of(time_off_other.location, time_off_other.practitioner)
    return Conflict(
        _("This overlaps another time off request of the practitioner (%(start)s to %(end)s).")
        % {
            "start": timefmt.local_datetime(time_off_other.start_at, zone),
            "end": timefmt.local_datetime(time_off_other.end_at, zone),
        },
        code="time_off_overlap",
        details={
            "time_off": {
                "id": str(time_off_other.id),
                "start": time_off_other.start_at.isoformat(),
                "end": time_off_other.end_at.isoformat(),
                "status": time_off_other.status,
                "type": time_off_other.type,
            }
        },
    )


def _overlap_check(practitioner_id, start: datetime, end: datetime, *, exclude_id=None) -> None:
    qs = TimeOff.objects.filter(
        practitioner_id=practitioner_id,
        status__in=[TimeOffStatus.PENDING, TimeOffStatus.APPROVED],
        start_at__lt=end,
        end_at__gt=start,
    )
    if exclude_id:
        qs = qs.exclude(id=exclude_id)
    other = qs.select_related("location", "practitioner__default_location").order_by("start_at")
    other = other.first()
    if other is not None:
        raise _overlap_conflict(other)


def _save(time_off: TimeOff) -> None:
    """Save; a concurrent overlapping request (the exclusion constraint) is the same 409."""
    try:
        with transaction.atomic():
            time_off.save()
    except IntegrityError as exc:
        if "time_off_no_overlap" not in str(exc):
            raise
        _overlap_check(time_off.practitioner_id, time_off.start_at, time_off.end_at)
        raise Conflict(
            _("This overlaps another time off request of the practitioner."),
            code="time_off_overlap",
        ) from None


@transaction.atomic
def time_off_request(
    *,
    actor: Membership,
    practitioner_id,
    start: datetime | None = None,
    end: datetime | None = None,
    start_date: date | None = None,
    end_date: date | None = None,
    type: str = TimeOffType.VACATION,
    reason: str = "",
    location_id=None,
    approved: bool = False,
) -> TimeOff:
    """Request time off (a practitioner for themselves; those who decide for anyone, and may
    record it already approved). Overlapping a pending or approved request of the same
    practitioner is a 409 naming it."""
    practitioner = scheduling.practitioner_for_actor(actor, practitioner_id)
    if approved and not actor.has(DECIDE):
        raise PermissionDenied(
            _("Your role does not allow this (%(perm)s).") % {"perm": DECIDE},
            details={"permission": DECIDE},
        )
    errors: dict[str, list[str]] = {}
    if type not in TimeOffType.values:
        errors["type"] = [_("Must be one of: %(v)s.") % {"v": ", ".join(TimeOffType.values)}]
    if len(reason or "") > 500:
        errors["reason"] = [_("At most %(n)d characters.") % {"n": 500}]
    location = None
    if location_id:
        try:
            location = scheduling.location_get(location_id)
        except ValidationFailed as exc:
            errors.update(exc.details)
    if errors:
        raise ValidationFailed(
            _("Invalid value for %(field)s.") % {"field": next(iter(errors))}, details=errors
        )
    start, end, all_day = _bounds(
        start=start,
        end=end,
        start_date=start_date,
        end_date=end_date,
        zone=_zone_of(location, practitioner),
    )
    _overlap_check(practitioner.id, start, end)
    now = timezone.now()
    time_off = TimeOff(
        practitioner=practitioner,
        location=location,
        start_at=start,
        end_at=end,
        all_day=all_day,
        type=type,
        reason=reason or "",
        requested_by=actor,
        status=TimeOffStatus.APPROVED if approved else TimeOffStatus.PENDING,
        decided_by=actor if approved else None,
        decided_at=now if approved else None,
    )
    _save(time_off)
    return time_off


_ALLOWED = {
    "approve": ((TimeOffStatus.PENDING,), TimeOffStatus.APPROVED),
    "deny": ((TimeOffStatus.PENDING,), TimeOffStatus.DENIED),
    "cancel": ((TimeOffStatus.PENDING, TimeOffStatus.APPROVED), TimeOffStatus.CANCELLED),
}


@transaction.atomic
def time_off_decide(
    *, actor: Membership, time_off: TimeOff, decision: str, note: str = ""
) -> TimeOff:
    """approve / deny (those who decide) or cancel (the requester's practitioner, or those who
    decide). A decision on a request already decided is a 409 naming its status. Approving
    makes the time unavailable for booking; the affected appointments stay until resolved."""
    if decision not in _ALLOWED:
        raise ValidationFailed(
            _("Invalid value for %(field)s.") % {"field": "decision"},
            details={"decision": [_("Must be one of: approve, deny, cancel.")]},
        )
    if decision != "cancel" and not actor.has(DECIDE):
        raise PermissionDenied(
            _("Your role does not allow this (%(perm)s).") % {"perm": DECIDE},
            details={"permission": DECIDE},
        )
    time_off = TimeOff.objects.select_for_update().get(id=time_off.id)
    allowed_from, target = _ALLOWED[decision]
    if time_off.status not in allowed_from:
        raise Conflict(
            _("This time off is already %(status)s.")
            % {"status": time_off.get_status_display().lower()},
            code="time_off_already_decided",
            details={"status": time_off.status},
        )
    time_off.status = target
    time_off.decided_by = actor
    time_off.decided_at = timezone.now()
    time_off.decision_note = (note or "")[:500]
    time_off.save(update_fields=["status", "decided_by", "decided_at", "decision_note"])
    if decision != "cancel":  # a withdrawal is the requester's own doing: nobody to tell
        publish(TimeOffDecided(time_off=time_off, actor=actor))
    return time_off


@dataclass
class ResolveAction:
    appointment_id: Any
    action: str
    practitioner_id: Any = None
    start: datetime | None = None


def _resolve_refusal(index: int, item: ResolveAction, exc: DomainError) -> Conflict:
    return Conflict(
        _("Item %(n)d (appointment %(id)s) cannot be applied: %(why)s Nothing was changed.")
        % {"n": index + 1, "id": item.appointment_id, "why": exc.message},
        code="resolve_conflict",
        details={
            "index": index,
            "appointment_id": str(item.appointment_id),
            "action": item.action,
            "error": {"code": exc.code, "message": exc.message, "details": exc.details},
        },
    )


@transaction.atomic
def time_off_resolve(
    *,
    actor: Membership,
    time_off: TimeOff,
    actions: list[ResolveAction],
    notify: bool = True,
) -> list[dict]:
    """Apply a decision to each affected appointment — reassign to another practitioner,
    reschedule (another start, optionally another practitioner), cancel, or keep — all in this
    one transaction, through scheduling's services (constraints, working hours, the patient told
    in their language by the usual notifications). The first item that cannot be applied is a
    409 naming it, and nothing at all is applied."""
    affected = {a.id: a for a in selectors.time_off_affected(time_off)}
    errors: dict[str, list[str]] = {}
    seen = set()
    for index, item in enumerate(actions):
        if item.action not in RESOLVE_ACTIONS:
            errors[f"actions.{index}.action"] = [
                _("Must be one of: %(v)s.") % {"v": ", ".join(RESOLVE_ACTIONS)}
            ]
        elif item.action == "reassign" and not item.practitioner_id:
            errors[f"actions.{index}.practitioner_id"] = [_("This field is required.")]
        elif item.action == "reschedule" and item.start is None:
            errors[f"actions.{index}.start"] = [_("This field is required.")]
        if item.appointment_id in seen:
            errors[f"actions.{index}.appointment_id"] = [_("Given twice.")]
        seen.add(item.appointment_id)
    if errors:
        raise ValidationFailed(
            _("Invalid value for %(field)s.") % {"field": next(iter(errors))}, details=errors
        )
    reason = _("Practitioner unavailable (time off).")
    done = []
    for index, item in enumerate(actions):
        appointment = affected.get(item.appointment_id)
        try:
            if appointment is None:
                raise NotFound(_("This appointment is not affected by this time off."))
            if item.action == "keep":
                done.append({"appointment_id": str(appointment.id), "action": "keep"})
                continue
            appointment = scheduling.appointment_for_actor(actor, appointment.id, for_update=True)
            if item.action == "cancel":
                booking.appointment_cancel(
                    actor=actor, appointment=appointment, reason=reason, notify=notify
                )
            else:
                kwargs: dict[str, Any] = {"override": False, "notify": notify}
                if item.practitioner_id:
                    kwargs["practitioner_id"] = item.practitioner_id
                if item.action == "reschedule":
                    kwargs["start"] = item.start
                booking.appointment_reschedule(actor=actor, appointment=appointment, **kwargs)
        except DomainError as exc:
            raise _resolve_refusal(index, item, exc) from None
        done.append({"appointment_id": str(appointment.id), "action": item.action})
    return done


# --- closures --------------------------------------------------------------------------------


def _closure_values(*, name, location_id, start, end, start_date, end_date) -> dict[str, Any]:
    errors: dict[str, list[str]] = {}
    name = (name or "").strip()
    if not name:
        errors["name"] = [_("This field is required.")]
    elif len(name) > 200:
        errors["name"] = [_("At most %(n)d characters.") % {"n": 200}]
    location = None
    if location_id:
        try:
            location = scheduling.location_get(location_id)
        except ValidationFailed as exc:
            errors.update(exc.details)
    if errors:
        raise ValidationFailed(
            _("Invalid value for %(field)s.") % {"field": next(iter(errors))}, details=errors
        )
    start, end, all_day = _bounds(
        start=start,
        end=end,
        start_date=start_date,
        end_date=end_date,
        zone=location.time_zone if location else scheduling.connection_org_zone(),
    )
    return {
        "name": name,
        "location": location,
        "start_at": start,
        "end_at": end,
        "all_day": all_day,
    }


@transaction.atomic
def closure_create(
    *,
    actor: Membership,
    name: str,
    location_id=None,
    start: datetime | None = None,
    end: datetime | None = None,
    start_date: date | None = None,
    end_date: date | None = None,
) -> Closure:
    """Close a location (or every location) for whole days or hours: no slot there any more;
    booked appointments stay and are listed (GET /closures/{id}/affected)."""
    values = _closure_values(
        name=name,
        location_id=location_id,
        start=start,
        end=end,
        start_date=start_date,
        end_date=end_date,
    )
    return Closure.objects.create(created_by=actor, **values)


@transaction.atomic
def closure_update(*, actor: Membership, closure: Closure, data: dict[str, Any]) -> Closure:
    values = _closure_values(
        name=data.get("name", closure.name),
        location_id=data.get("location_id", closure.location_id),
        start=data.get("start", closure.start_at),
        end=data.get("end", closure.end_at),
        start_date=data.get("start_date"),
        end_date=data.get("end_date"),
    )
    for key, value in values.items():
        setattr(closure, key, value)
    closure.save()
    return closure


@transaction.atomic
def closure_delete(*, actor: Membership, closure: Closure) -> None:
    closure.delete()


@transaction.atomic
def closures_import(
    *, actor: Membership, items: list[tuple[date, str]], location_id=None
) -> list[Closure]:
    """Whole-day closures from a list of (date, name) — a year's public holidays: all or none.
    A day already closed there is skipped (importing the same list twice adds nothing)."""
    if not items:
        raise ValidationFailed(
            _("Give at least one date."), details={"dates": [_("This field is required.")]}
        )
    if len(items) > MAX_IMPORT:
        raise ValidationFailed(
            _("At most %(n)d dates at once.") % {"n": MAX_IMPORT},
            details={"dates": [_("At most %(n)d dates at once.") % {"n": MAX_IMPORT}]},
        )
    made = []
    for index, (day, name) in enumerate(items):
        try:
            values = _closure_values(
                name=name,
                location_id=location_id,
                start=None,
                end=None,
                start_date=day,
                end_date=day,
            )
        except ValidationFailed as exc:
            raise ValidationFailed(
                exc.message, details={f"dates.{index}": next(iter(exc.details.values()))}
            ) from None
        made.append(Closure(organization_id=actor.organization_id, created_by=actor, **values))
    existing = set(
        Closure.objects.filter(
            location_id=location_id or None,
            start_at__in=[c.start_at for c in made],
            all_day=True,
        ).values_list("start_at", "end_at")
    )
    fresh = [c for c in made if (c.start_at, c.end_at) not in existing]
    return Closure.objects.bulk_create(fresh)
