"""Every scheduling write. Keyword-only, one transaction each (nested in the caller's when there
is one), domain errors for every refusal.

The database is the guarantee against overlaps (exclusion constraints, see models.py); these
functions give the friendly answer: which items conflict, what the next free slots are, why a
time is outside working hours. A booking meets expired holds on its way and clears them in its
own transaction, so an expired hold never blocks anyone, sweep or no sweep.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from math import gcd
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from django.utils.dates import WEEKDAYS
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from psycopg import errors as pg_errors

from clinic.accounts.models import Membership
from clinic.audit.services import audit_record
from clinic.core import timefmt
from clinic.core.errors import Conflict, NotFound, ValidationFailed
from clinic.core.events import publish
from clinic.scheduling import events, recurrence, selectors
from clinic.scheduling import status as machine
from clinic.scheduling.models import (
    MAX_DURATION_HOURS,
    RELEASED_STATUSES,
    Appointment,
    AppointmentKind,
    AppointmentSeries,
    AppointmentStatus,
    AvailabilityException,
    AvailabilityRule,
    ExceptionKind,
    Hold,
    HoldState,
    IcsDetail,
    IcsFeed,
    Modality,
    SchedulingSettings,
)

UNSET: Any = object()
OVERRIDE = "appointment.override_availability"
MAX_HOLD_OCCURRENCES = 52
AVAILABILITY_REASONS = {
    "outside_hours": lambda: _("Outside the practitioner's working hours."),
    "other_location": lambda: _("The practitioner works at another location at that time."),
    "day_full": lambda: _("The practitioner's day is already fully booked."),
}
# A start this far back still counts as "now" (a walk-in booked at 10:00 at 10:07).
PAST_GRACE = timedelta(minutes=10)


# --- small helpers -------------------------------------------------------------------------


def _aware(value: datetime | None, name: str) -> datetime | None:
    if value is None:
        return None
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValidationFailed(
            _("Give %(field)s with a UTC offset (e.g. 2026-03-02T09:00:00+01:00).")
            % {"field": name},
            details={name: [_("A date-time with a UTC offset is required.")]},
        )
    return value


def _text(value: str | None, name: str, max_length: int) -> str:
    value = (value or "").strip()
    if len(value) > max_length:
        raise ValidationFailed(
            _("Invalid value for %(field)s.") % {"field": name},
            details={name: [_("At most %(n)d characters.") % {"n": max_length}]},
        )
    return value


def _exclusion_violation(exc: BaseException) -> str | None:
    """The constraint name if `exc` is an exclusion violation, else None."""
    cause = exc.__cause__
    if isinstance(cause, pg_errors.ExclusionViolation):
        return cause.diag.constraint_name or "exclusion"
    return None


def _now() -> datetime:
    return timezone.now()


def _override_check(actor: Membership, override: bool | None) -> bool:
    """Whether this write may go outside working hours or into the past: only by an explicit
    choice (True), refused without the permission. Unset or False: the rules hold, even for
    those who may override (issue 11: never by the permission alone)."""
    if override is None:
        return False
    if override and not actor.has(OVERRIDE):
        raise ValidationFailed(
            _("Your role cannot book outside working hours or in the past."),
            details={"override_availability": [_("Not allowed for your role.")]},
            code="override_not_allowed",
        )
    return bool(override)


def _past_check(start: datetime, *, may_override: bool) -> None:
    """Booking or moving an appointment to a start in the past is an override, like booking
    outside working hours: it rewrites what happened."""
    if start < _now() - PAST_GRACE and not may_override:
        message = _("That time is in the past.")
        raise ValidationFailed(message, details={"start": [message]}, code="in_the_past")


@dataclass
class Plan:
    """One appointment row to be written (or moved to)."""

    practitioner: Any
    patient: Any
    service: Any
    location: Any
    room: Any
    start: datetime
    end: datetime
    kind: str = AppointmentKind.INDIVIDUAL
    buffer_before: int = 0
    buffer_after: int = 0
    allows_overlap: bool = False
    modality: str = Modality.IN_PERSON
    notes: str = ""
    wall_date: Any = None
    extra: dict = field(default_factory=dict)

    def local_iso(self, instant: datetime) -> str:
        """ISO 8601 with the location's offset (what a person at the clinic reads)."""
        return instant.astimezone(selectors.tz(self.location.time_zone)).isoformat()

    @property
    def occupied_start(self) -> datetime:
        return self.start - timedelta(minutes=self.buffer_before)

    @property
    def occupied_end(self) -> datetime:
        return self.end + timedelta(minutes=self.buffer_after)

    @property
    def room_exclusive(self) -> bool:
        return self.room is not None and self.room.capacity == 1

    def wanted(self) -> selectors.Wanted:
        return selectors.Wanted(
            practitioner_id=self.practitioner.id,
            room_id=self.room.id if self.room else None,
            patient_id=self.patient.id if self.patient and self.kind != "group" else None,
            occupied_start=self.occupied_start,
            occupied_end=self.occupied_end,
            start=self.start,
            end=self.end,
            strict_practitioner=not self.allows_overlap,
            room_exclusive=self.room_exclusive,
        )

    def values(self) -> dict[str, Any]:
        """Constructor arguments: the related rows themselves (no reload to serialise them)."""
        values = self.fields()
        for name in ("practitioner", "patient", "service", "location", "room"):
            del values[f"{name}_id"]
            values[name] = getattr(self, name)
        return values

    def fields(self) -> dict[str, Any]:
        return {
            "practitioner_id": self.practitioner.id,
            "patient_id": self.patient.id if self.patient else None,
            "service_id": self.service.id if self.service else None,
            "location_id": self.location.id,
            "room_id": self.room.id if self.room else None,
            "start_at": self.start,
            "end_at": self.end,
            "kind": self.kind,
            "buffer_before_minutes": self.buffer_before,
            "buffer_after_minutes": self.buffer_after,
            "occupied_start": self.occupied_start,
            "occupied_end": self.occupied_end,
            "allows_overlap": self.allows_overlap,
            "room_exclusive": self.room_exclusive,
            "modality": self.modality,
        }


def _practitioner_scope_check(actor: Membership, practitioner) -> None:
    scope = selectors.practitioner_ids_scope(actor)
    if scope is not None and actor.role != "patient" and practitioner.id not in scope:
        raise NotFound(_("Practitioner not found."))


def _patient_scope_check(actor: Membership, patient) -> None:
    if (
        actor.role == "patient"
        and patient is not None
        and not selectors.patients_of(actor).filter(id=patient.id).exists()
    ):
        raise ValidationFailed(
            _("Patient not found."),
            details={"patient_id": [_("No such patient in this organization.")]},
        )


def _plan_build(
    *,
    actor: Membership,
    settings: SchedulingSettings,
    practitioner_id,
    patient_id,
    service_id,
    start: datetime,
    end: datetime | None,
    room_id=None,
    location_id=None,
    kind: str = AppointmentKind.INDIVIDUAL,
    notes: str = "",
) -> Plan:
    """Resolve and validate everything a booking needs; every refusal names its field."""
    _aware(start, "start")
    _aware(end, "end")
    if kind not in AppointmentKind.values:
        raise ValidationFailed(
            _("Invalid value for %(field)s.") % {"field": "kind"},
            details={
                "kind": [_("Must be one of: %(v)s.") % {"v": ", ".join(AppointmentKind.values)}]
            },
        )
    errors: dict[str, list[str]] = {}
    practitioner = patient = service = location = room = None
    for name, getter, value in (
        ("practitioner_id", selectors.practitioner_get, practitioner_id),
        ("patient_id", selectors.patient_get, patient_id),
        (
            "service_id",
            lambda v, n: selectors.service_get(v, n, practitioner_id=practitioner_id),
            service_id,
        ),
        ("room_id", selectors.room_get, room_id),
        ("location_id", selectors.location_get, location_id),
    ):
        try:
            obj = getter(value, name) if value else None
        except ValidationFailed as exc:
            errors.update(exc.details)
            continue
        if name == "practitioner_id":
            practitioner = obj
        elif name == "patient_id":
            patient = obj
        elif name == "service_id":
            service = obj
        elif name == "room_id":
            room = obj
        else:
            location = obj
    if not practitioner_id:
        errors.setdefault("practitioner_id", []).append(_("This field is required."))
    if kind == AppointmentKind.INDIVIDUAL and not patient_id:
        errors.setdefault("patient_id", []).append(_("This field is required."))
    if kind != AppointmentKind.BLOCK and not service_id:
        errors.setdefault("service_id", []).append(_("This field is required."))
    if errors:
        raise ValidationFailed(
            _("Invalid value for %(field)s.") % {"field": next(iter(errors))}, details=errors
        )
    _practitioner_scope_check(actor, practitioner)
    _patient_scope_check(actor, patient)
    if not practitioner.is_active:
        errors["practitioner_id"] = [_("This practitioner is archived.")]
    if patient is not None and patient.archived_at is not None:
        errors["patient_id"] = [_("This patient is archived.")]
    if service is not None:
        if not service.is_active:
            errors["service_id"] = [_("This service is archived.")]
        elif not service.delivered:
            errors["service_id"] = [_("This practitioner does not deliver this service.")]
    if end is None:
        if service is None:
            errors["end"] = [_("This field is required for blocked time.")]
        else:
            end = start + timedelta(minutes=service.duration_minutes)
    if end is not None and end <= start:
        errors["end"] = [_("Must be after start.")]
    elif end is not None and end - start > timedelta(hours=MAX_DURATION_HOURS):
        errors["end"] = [_("An appointment lasts at most 24 hours.")]
    if room is not None:
        if not room.is_active:
            errors["room_id"] = [_("This room is archived.")]
        if location is not None and room.location_id != location.id:
            errors["room_id"] = [_("This room is not at the chosen location.")]
        location = location or room.location
    if errors:
        raise ValidationFailed(
            _("Invalid value for %(field)s.") % {"field": next(iter(errors))}, details=errors
        )
    availability = None
    if location is None:
        before = service.buffer_before_minutes if service else 0
        after = service.buffer_after_minutes if service else 0
        span = (start - timedelta(minutes=before), end + timedelta(minutes=after))
        availability = (
            span,
            *selectors.availability_for(
                practitioner_id=practitioner.id,
                start=span[0],
                end=span[1],
                modality=service.modality if service else None,
            ),
        )
        found = selectors.default_location_for(practitioner, start, windows=availability[1])
        if found is None:
            raise ValidationFailed(
                _("Choose a location."), details={"location_id": [_("This field is required.")]}
            )
        if practitioner.default_location_id == found:
            location = practitioner.default_location
        else:
            location = selectors.location_get(found)
    if not location.is_active:
        raise ValidationFailed(
            _("This location is archived."),
            details={"location_id": [_("This location is archived.")]},
        )
    return Plan(
        practitioner=practitioner,
        patient=patient if kind != AppointmentKind.BLOCK else None,
        service=service,
        location=location,
        room=room,
        start=start,
        end=end,
        kind=kind,
        buffer_before=service.buffer_before_minutes if service else 0,
        buffer_after=service.buffer_after_minutes if service else 0,
        allows_overlap=practitioner.id in settings.double_booking_practitioner_ids,
        modality=service.modality if service else Modality.IN_PERSON,
        notes=_text(notes, "notes", 5000),
        extra={"availability": availability} if availability else {},
    )


def _availability_refusal(
    actor: Membership,
    plans: Sequence[Plan],
    *,
    ignore_ids: Sequence[uuid.UUID] = (),
    always: bool = False,
) -> list[tuple[Plan, str]]:
    """Plans outside the practitioner's availability (empty if the actor may override, unless
    `always`). One windows computation per practitioner over the whole span of the plans."""
    if actor.has(OVERRIDE) and not always:
        return []
    out: list[tuple[Plan, str]] = []
    by_practitioner: dict[tuple[uuid.UUID, str], list[Plan]] = {}
    for plan in plans:
        if plan.kind != AppointmentKind.BLOCK:
            by_practitioner.setdefault((plan.practitioner.id, plan.modality), []).append(plan)
    from clinic.scheduling import slots as slotmath

    for (practitioner_id, modality), items in by_practitioner.items():
        cached = items[0].extra.get("availability") if len(items) == 1 else None
        if (
            cached
            and cached[0] == (items[0].occupied_start, items[0].occupied_end)
            and not (ignore_ids)
        ):
            windows, data = cached[1], cached[2]
        else:
            windows, data = selectors.availability_for(
                practitioner_id=practitioner_id,
                start=min(p.occupied_start for p in items),
                end=max(p.occupied_end for p in items),
                ignore_ids=ignore_ids,
                modality=modality,
            )
        counts: dict[Any, int] = {}
        for plan in items:
            window_tz = next(
                (w.tz for w in windows if w.start <= plan.occupied_start < w.end), None
            )
            count = 0
            if window_tz is not None:
                day = plan.start.astimezone(window_tz).date()
                if day not in counts:
                    counts[day] = data.appointments_on(day, window_tz)
                count = counts[day]
            ok, reason, _window = slotmath.fits(
                windows=windows,
                occupied_start=plan.occupied_start,
                occupied_end=plan.occupied_end,
                location_id=plan.location.id,
                day_count=count,
            )
            if ok and window_tz is not None:
                counts[plan.start.astimezone(window_tz).date()] = count + 1
            if not ok:
                out.append((plan, reason))
    return out


def _availability_error(refusals: list[tuple[Plan, str]], *, series: bool = False):
    reason = refusals[0][1]
    message = AVAILABILITY_REASONS[reason]()
    details: dict[str, Any] = {"start": [message], "reason": reason}
    if series:
        details["dates"] = [p.local_iso(p.start) for p, _r in refusals]
    return ValidationFailed(message, details=details, code="outside_availability")


def _expired_holds_clear(plans: Sequence[Plan]) -> int:
    """Delete expired held rows that would stand in the way of these plans (the booking's own
    transaction clears what it meets; the sweep does the rest). Returns how many went."""
    if not plans:
        return 0
    practitioners = list({p.practitioner.id for p in plans})
    rooms = list({p.room.id for p in plans if p.room})
    patients = list({p.patient.id for p in plans if p.patient})
    lo = min(p.occupied_start for p in plans)
    hi = max(p.occupied_end for p in plans)
    with connection.cursor() as cur:
        cur.execute(
            """
            WITH gone AS (
                DELETE FROM scheduling_appointment
                 WHERE organization_id = %s AND status = 'held' AND hold_expires_at <= %s
                   AND (practitioner_id = ANY(%s) OR room_id = ANY(%s) OR patient_id = ANY(%s))
                   AND occupied_start < %s AND occupied_end > %s
             RETURNING hold_id),
            expired AS (
                UPDATE scheduling_hold h SET state = 'expired', finished_at = %s
                  FROM (SELECT DISTINCT hold_id FROM gone) g
                 WHERE h.id = g.hold_id AND h.state = 'active')
            SELECT count(*) FROM gone
            """,
            [selectors.connection_org(), _now(), practitioners, rooms, patients, hi, lo, _now()],
        )
        return cur.fetchone()[0]


# --- locks on what an appointment occupies -----------------------------------------------------

# Transaction-level advisory locks on (organization, practitioner | room | patient), taken in ONE
# statement in one canonical order (by key, sorted in SQL): a subquery with DISTINCT and ORDER BY
# is never flattened, so the locks are taken row by row in that order. Optionally also the
# resources of a series' occurrences from a date on (those a split re-points to a new series).
_LOCK_SQL = """
SELECT pg_advisory_xact_lock(k) FROM (
    SELECT DISTINCT hashtextextended(%(org)s::text || ':' || r, 0) AS k
      FROM (SELECT unnest(%(resources)s::text[]) AS r{series}) AS wanted
     WHERE r IS NOT NULL
     ORDER BY k) AS canonical
"""
_LOCK_SERIES = """
            UNION ALL
            SELECT unnest(ARRAY['practitioner:' || a.practitioner_id, 'room:' || a.room_id,
                                'patient:' || a.patient_id])
              FROM scheduling_appointment a
             WHERE a.organization_id = %(org)s AND a.series_id = %(series)s
               AND a.recurrence_date >= %(since)s"""


def _resources_of(items: Sequence[Plan] | Sequence[Appointment]) -> set[str]:
    """'practitioner:<id>', 'room:<id>', 'patient:<id>' that plans or appointment rows occupy."""
    out: set[str] = set()
    for item in items:
        if isinstance(item, Plan):
            ids = (
                item.practitioner.id,
                item.room.id if item.room else None,
                item.patient.id if item.patient else None,
            )
        else:
            ids = (item.practitioner_id, item.room_id, item.patient_id)
        for kind, value in zip(("practitioner", "room", "patient"), ids, strict=True):
            if value is not None:
                out.add(f"{kind}:{value}")
    return out


def _occupied_lock(resources: set[str], *, series_from: tuple[Any, Any] | None = None) -> None:
    """Serialise the writes that occupy the same practitioner, room or patient: each takes the
    advisory locks on all of them, in one order, before inserting or updating a live row.

    PostgreSQL checks each exclusion constraint after inserting into its index, so two
    concurrent writes of overlapping rows could each wait on the other ("deadlock detected
    while checking exclusion constraint", a second lost to deadlock_timeout and a 500 when it
    happened again). Two writes that could conflict share at least one of these resources, so
    under the locks the second one meets the first one's committed row and gets the ordinary
    exclusion violation — the constraints stay the guarantee, the locks only order the writers.
    Held to the end of the transaction (or of the savepoint, if that rolls back)."""
    if not resources and series_from is None:
        return
    params: dict[str, Any] = {"org": selectors.connection_org(), "resources": sorted(resources)}
    series = ""
    if series_from is not None:
        series = _LOCK_SERIES
        params["series"], params["since"] = series_from
    with connection.cursor() as cur:
        cur.execute(_LOCK_SQL.format(series=series), params)


def _room_capacity_check(
    actor: Membership,
    plans: Sequence[Plan],
    ignore_ids: Sequence[uuid.UUID] = (),
    *,
    retry_hint: bool = False,
) -> None:
    """Rooms with capacity > 1 admit that many overlapping bookings (counted under a row lock on
    the room, so two bookings cannot both take the last place). A full room is the usual 409:
    the bookings filling it (as far as the caller may see them), alternatives and, for holds,
    when to retry."""
    from clinic.directory.models import Room

    shared = [(i, p) for i, p in enumerate(plans) if p.room is not None and p.room.capacity > 1]
    if not shared:
        return
    list(Room.objects.select_for_update().filter(id__in={p.room.id for _i, p in shared}))
    full: list[selectors.ConflictRow] = []
    for index, plan in shared:
        taken = list(
            Appointment.objects.filter(
                room_id=plan.room.id,
                start_at__lt=plan.end,
                end_at__gt=plan.start,
                start_at__gt=plan.start - timedelta(hours=MAX_DURATION_HOURS),
            )
            .exclude(status__in=["cancelled", "no_show"])
            .exclude(status="held", hold_expires_at__lte=_now())
            .exclude(id__in=list(ignore_ids))
            .values_list("id", "start_at", "end_at", "status", "kind", "hold_expires_at")
        )
        if len(taken) >= plan.room.capacity:
            full += [selectors.ConflictRow(index, *row, on=["room"]) for row in taken]
    if full:
        raise _conflict(
            actor,
            plans,
            full,
            ignore_ids=ignore_ids,
            message=_("The room is full at that time."),
            retry_hint=retry_hint,
        )


def _conflict(
    actor: Membership,
    plans: Sequence[Plan],
    rows,
    *,
    ignore_ids=(),
    message: str | None = None,
    code: str = "appointment_conflict",
    retry_hint: bool = False,
) -> Conflict:
    details: dict[str, Any] = {"conflicts": selectors.conflict_details(actor, rows)}
    first = plans[rows[0].index] if rows else plans[0]
    # The practitioner's free slots; those a full room is known to refuse are left out.
    room_busy = [(r.start, r.end) for r in rows if "room" in r.on]
    details["alternatives"] = [
        a
        for a in selectors.alternatives_find(
            service=first.service,
            practitioner_id=first.practitioner.id,
            after=max(first.start, _now()),
            location_id=None,
            patient_id=first.patient.id if first.patient else None,
            ignore_ids=ignore_ids,
            count=5 + len(room_busy),
        )
        if not any(
            s < datetime.fromisoformat(a["end"]) and datetime.fromisoformat(a["start"]) < e
            for s, e in room_busy
        )
    ][:5]
    if len(plans) > 1:
        details["dates"] = sorted({plans[r.index].local_iso(plans[r.index].start) for r in rows})
    if retry_hint:
        holds = [r.hold_expires_at for r in rows if r.status == "held" and r.hold_expires_at]
        details["retry_after"] = (
            max(1, int((max(holds) - _now()).total_seconds()) + 1)
            if holds and len(holds) == len(rows)
            else None
        )
    return Conflict(message or _("This time is not free."), code=code, details=details)


def _write(
    actor: Membership,
    plans: Sequence[Plan],
    write,
    *,
    ignore_ids=(),
    retry_hint: bool = False,
    also_lock: Sequence[str] | set[str] = (),
    series_from: tuple[Any, Any] | None = None,
):
    """Run `write()` in a savepoint, under the advisory locks on everything the plans occupy
    (and `also_lock`, `series_from`: see `_occupied_lock`); an exclusion violation becomes a
    409 with the conflicts.

    The locks are taken inside the savepoint: a write that meets a conflict rolls it back and
    so releases them at once, and the 409's details (conflicts, alternatives) are read without
    holding up the next writer. Under the locks two writes of the same practitioner, room or
    patient cannot deadlock on the exclusion constraints any more; the retry of a deadlocked
    write in a fresh savepoint stays only as a fallback (a deadlock of another origin).

    Expired holds block nothing: they are cleared when a write meets one (and the write tried
    again), not before every write — an expired hold in the way is rare, a statement per
    booking is not."""
    from django.db import OperationalError
    from psycopg import errors as pg_errors

    def write_retrying_deadlocks():
        resources = _resources_of(plans) | set(also_lock)
        for tries_left in reversed(range(5)):
            try:
                with transaction.atomic():
                    _occupied_lock(resources, series_from=series_from)
                    return write()
            except OperationalError as exc:
                if not isinstance(exc.__cause__, pg_errors.DeadlockDetected) or not tries_left:
                    raise
        raise AssertionError("unreachable: the last try returns or raises")

    try:
        try:
            return write_retrying_deadlocks()
        except IntegrityError as exc:
            if _exclusion_violation(exc) is None or not _expired_holds_clear(plans):
                raise
        return write_retrying_deadlocks()
    except IntegrityError as exc:
        if _exclusion_violation(exc) is None:
            raise
        rows = selectors.conflicts_find([p.wanted() for p in plans], ignore_ids=ignore_ids)
        raise _conflict(actor, plans, rows, ignore_ids=ignore_ids, retry_hint=retry_hint) from None


def _insert(
    actor: Membership,
    plans: Sequence[Plan],
    *,
    status: str,
    series=None,
    hold=None,
    retry_hint: bool = False,
) -> list[Appointment]:
    org_id = selectors.connection_org()
    rows = [
        Appointment(
            **plan.values(),
            organization_id=org_id,
            status=status,
            notes=plan.notes,
            created_by_id=actor.id,
            series=series,
            recurrence_date=plan.wall_date if series else None,
            hold=hold,
            hold_expires_at=hold.expires_at if hold else None,
            status_changed_at=_now(),
        )
        for plan in plans
    ]
    return _write(
        actor, plans, lambda: Appointment.objects.bulk_create(rows), retry_hint=retry_hint
    )


def _after_change(
    appointments: Sequence[Appointment],
    event: str,
    *,
    actor: Membership | None = None,
    previous: dict | None = None,
    notify: bool = True,
) -> None:
    """Publish the change (scheduling/events.py) inside this transaction; care and notifications
    follow it through their subscriptions, and a failure there rolls this write back."""
    changed = tuple(appointments)
    if event == "rescheduled":
        publish(
            events.AppointmentsMoved(
                appointments=changed,
                actor=actor,
                previous_starts=dict(previous or {}),
                notify=notify,
            )
        )
    elif event == "cancelled":
        publish(events.AppointmentsCancelled(appointments=changed, actor=actor, notify=notify))
    else:
        publish(_EVENT_OF[event](appointments=changed, actor=actor))


_EVENT_OF = {
    "booked": events.AppointmentsBooked,
    "cancelled": events.AppointmentsCancelled,
    "status": events.AppointmentStatusChanged,
}


# --- booking ---------------------------------------------------------------------------------


@transaction.atomic
def appointment_book(
    *,
    actor: Membership,
    practitioner_id,
    patient_id=None,
    service_id=None,
    start: datetime,
    end: datetime | None = None,
    room_id=None,
    location_id=None,
    notes: str = "",
    kind: str = AppointmentKind.INDIVIDUAL,
    override: bool | None = None,
) -> Appointment:
    """Book one appointment (or block the practitioner's time with kind="block").

    422 when a field is wrong or the time is outside availability or in the past (unless the
    actor may override and does, see _override_check); 409 with the conflicting items and the
    next five free slots when it overlaps."""
    may_override = _override_check(actor, override)
    settings = selectors.settings_get()
    plan = _plan_build(
        actor=actor,
        settings=settings,
        practitioner_id=practitioner_id,
        patient_id=patient_id,
        service_id=service_id,
        start=start,
        end=end,
        room_id=room_id,
        location_id=location_id,
        kind=kind,
        notes=notes,
    )
    _wall_time_exists_check(plan.location.time_zone, start=start, end=end)
    _past_check(plan.start, may_override=may_override)
    refusals = _availability_refusal(actor, [plan], always=True)
    if refusals and not may_override:
        raise _availability_error(refusals)
    _room_capacity_check(actor, [plan])
    # retry_hint: a slot taken only by holds (a patient mid-booking, a waitlist offer awaiting
    # an answer) says when it may come free again (`retry_after`, seconds).
    (appointment,) = _insert(actor, [plan], status=AppointmentStatus.SCHEDULED, retry_hint=True)
    appointment.outside_availability = bool(refusals)
    _after_change([appointment], "booked", actor=actor)
    return appointment


def booking_check(
    *,
    actor: Membership,
    practitioner_id,
    patient_id=None,
    service_id=None,
    start: datetime,
    end: datetime | None = None,
    room_id=None,
    location_id=None,
    kind: str = AppointmentKind.INDIVIDUAL,
    ignore_id=None,
) -> dict[str, Any]:
    """What booking (or moving `ignore_id` to) this would meet, without writing anything:
    {"ok", "conflicts", "alternatives", "availability": None | reason, "may_override"}."""
    settings = selectors.settings_get()
    plan = _plan_build(
        actor=actor,
        settings=settings,
        practitioner_id=practitioner_id,
        patient_id=patient_id,
        service_id=service_id,
        start=start,
        end=end,
        room_id=room_id,
        location_id=location_id,
        kind=kind,
    )
    _wall_time_exists_check(plan.location.time_zone, start=start, end=end)
    ignore = [ignore_id] if ignore_id else []
    rows = selectors.conflicts_find([plan.wanted()], ignore_ids=ignore)
    reason = None
    if kind != AppointmentKind.BLOCK:
        ok, code, _w = selectors.availability_check(
            practitioner_id=plan.practitioner.id,
            occupied_start=plan.occupied_start,
            occupied_end=plan.occupied_end,
            start=plan.start,
            location_id=plan.location.id,
            ignore_ids=ignore,
            modality=plan.modality,
        )
        reason = None if ok else code
    alternatives = []
    if rows or (reason and not actor.has(OVERRIDE)):
        alternatives = selectors.alternatives_find(
            service=plan.service,
            practitioner_id=plan.practitioner.id,
            after=max(plan.start, _now()),
            patient_id=plan.patient.id if plan.patient else None,
            ignore_ids=ignore,
        )
    return {
        "ok": not rows and (reason is None or actor.has(OVERRIDE)),
        "conflicts": selectors.conflict_details(actor, rows),
        "availability": reason,
        "availability_message": AVAILABILITY_REASONS[reason]() if reason else None,
        "may_override": actor.has(OVERRIDE),
        "alternatives": alternatives,
        "end": plan.end.isoformat(),
        "location_id": str(plan.location.id),
    }


def _plan_of(appointment: Appointment, settings: SchedulingSettings) -> Plan:
    return Plan(
        practitioner=appointment.practitioner,
        patient=appointment.patient,
        service=appointment.service,
        location=appointment.location,
        room=appointment.room,
        start=appointment.start_at,
        end=appointment.end_at,
        kind=appointment.kind,
        buffer_before=appointment.buffer_before_minutes,
        buffer_after=appointment.buffer_after_minutes,
        allows_overlap=appointment.practitioner_id in settings.double_booking_practitioner_ids,
        modality=appointment.modality,
        notes=appointment.notes,
        wall_date=appointment.recurrence_date,
    )


def _move_validate(
    actor: Membership, appointment: Appointment, start, end, practitioner_id, room_id
) -> tuple[Any, Any]:
    errors: dict[str, list[str]] = {}
    practitioner = room = UNSET
    if start is not UNSET:
        _aware(start, "start")
    if end is not UNSET and end is not None:
        _aware(end, "end")
    if practitioner_id is not UNSET:
        if practitioner_id is None:
            errors["practitioner_id"] = [_("This field is required.")]
        else:
            try:
                practitioner = selectors.practitioner_get(practitioner_id)
            except ValidationFailed as exc:
                errors.update(exc.details)
    if room_id is not UNSET:
        try:
            room = selectors.room_get(room_id) if room_id else None
        except ValidationFailed as exc:
            errors.update(exc.details)
    if errors:
        raise ValidationFailed(
            _("Invalid value for %(field)s.") % {"field": next(iter(errors))}, details=errors
        )
    if practitioner is not UNSET:
        _practitioner_scope_check(actor, practitioner)
        if not practitioner.is_active:
            errors["practitioner_id"] = [_("This practitioner is archived.")]
        elif (
            appointment.service_id
            and not practitioner.services.filter(id=appointment.service_id).exists()
        ):
            errors["practitioner_id"] = [
                _("%(name)s does not offer this service.") % {"name": practitioner.display_name}
            ]
    if room not in (UNSET, None) and not room.is_active:
        errors["room_id"] = [_("This room is archived.")]
    if errors:
        # the message is the reason itself, in words (the calendar shows it as it is)
        raise ValidationFailed(" ".join(next(iter(errors.values()))), details=errors)
    return practitioner, room


def _wall_time_exists_check(time_zone: str, **instants: datetime | None) -> None:
    """Refuse a time written with one of the location zone's own offsets at a wall-clock time
    that zone skips (the hour the clocks go forward, e.g. 02:30 on 9 March 2031 in New York):
    taken as written it would be another hour than the one typed, so it is refused in words,
    never moved silently. Times written in another offset (UTC...) are instants as they are."""
    tz = selectors.tz(time_zone)
    for field_name, value in instants.items():
        if value is None or value is UNSET or value.tzinfo is None:
            continue
        wall = value.replace(tzinfo=None)
        as_local = wall.replace(tzinfo=tz)
        if as_local.astimezone(UTC).astimezone(tz).replace(tzinfo=None) == wall:
            continue  # the wall time exists in the zone
        if value.utcoffset() not in {
            as_local.utcoffset(),
            wall.replace(tzinfo=tz, fold=1).utcoffset(),
        }:
            continue
        message = _(
            "%(time)s does not exist on %(date)s in %(zone)s: the clocks go forward an hour. "
            "Choose a time after the change."
        ) % {
            "time": timefmt.local_time(wall.time()),
            "date": timefmt.local_date(wall.date()),
            "zone": time_zone,
        }
        raise ValidationFailed(message, code="time_does_not_exist", details={field_name: [message]})


def _plan_checks(plan: Plan, errors_field: str = "end") -> None:
    if plan.end <= plan.start:
        raise ValidationFailed(
            _("The end must be after the start."),
            details={errors_field: [_("Must be after start.")]},
        )
    if plan.end - plan.start > timedelta(hours=MAX_DURATION_HOURS):
        raise ValidationFailed(
            _("An appointment lasts at most 24 hours."),
            details={errors_field: [_("An appointment lasts at most 24 hours.")]},
        )


@transaction.atomic
def appointment_reschedule(
    *,
    actor: Membership,
    appointment: Appointment,
    start=UNSET,
    end=UNSET,
    practitioner_id=UNSET,
    room_id=UNSET,
    notes=UNSET,
    scope: str = "this",
    override: bool | None = None,
    notify: bool = True,
) -> list[Appointment]:
    """Move/resize/reassign an appointment (or, for a series occurrence with scope following or
    all, the occurrences concerned), atomically: one UPDATE, judged by the constraints on its
    final state, so there is never a moment with both times or neither. Outside working hours
    or into the past only with an override (see _override_check); `notify=False`: the patient
    is not told (the front desk agreed the new time with them)."""
    may_override = _override_check(actor, override)
    if scope not in ("this", "following", "all"):
        raise ValidationFailed(
            _("Invalid value for %(field)s.") % {"field": "scope"},
            details={"scope": [_("Must be one of: this, following, all.")]},
        )
    if appointment.status not in machine.MOVABLE:
        raise Conflict(
            _("A %(status)s appointment cannot be moved.")
            % {"status": appointment.get_status_display().lower()},
            code="appointment_not_movable",
            details={"status": appointment.status},
        )
    practitioner, room = _move_validate(actor, appointment, start, end, practitioner_id, room_id)
    if notes is not UNSET:
        notes = _text(notes, "notes", 5000)
    settings = selectors.settings_get()
    shift = None
    if appointment.series_id is None or scope == "this":
        targets = [appointment]
    else:
        targets = _series_targets(appointment, scope)
        if start is not UNSET:
            tz = selectors.tz(appointment.location.time_zone)
            shift = recurrence.instant_to_wall(start, tz) - recurrence.instant_to_wall(
                appointment.start_at, tz
            )
    new_duration = None
    if end is not UNSET and end is not None:
        new_duration = end - (start if start is not UNSET else appointment.start_at)
    plans = []
    for target in targets:
        plan = _plan_of(target, settings)
        if practitioner is not UNSET:
            plan.practitioner = practitioner
            plan.allows_overlap = practitioner.id in settings.double_booking_practitioner_ids
        if room is not UNSET:
            plan.room = room
            if room is not None:
                plan.location = room.location
        duration = new_duration or (target.end_at - target.start_at)
        if target.id == appointment.id:
            if start is not UNSET:
                plan.start = start
            plan.end = plan.start + duration
        elif not target.series_exception:
            if shift is not None:
                tz = selectors.tz(plan.location.time_zone)
                wall = recurrence.instant_to_wall(target.start_at, tz) + shift
                plan.start = recurrence.wall_to_instant(wall.date(), wall.time(), tz)
            plan.end = plan.start + duration
        _plan_checks(plan)
        plans.append(plan)
    _wall_time_exists_check(plans[0].location.time_zone, start=start, end=end)
    if start is not UNSET:
        _past_check(min(p.start for p in plans), may_override=may_override)
    ids = [t.id for t in targets]
    refusals = (
        [] if may_override else _availability_refusal(actor, plans, ignore_ids=ids, always=True)
    )
    if refusals:
        raise _availability_error(refusals, series=len(plans) > 1)
    _room_capacity_check(actor, plans, ignore_ids=ids)
    if len(plans) > 1:
        rows = selectors.conflicts_find([p.wanted() for p in plans], ignore_ids=ids)
        if rows:
            raise _conflict(actor, plans, rows, ignore_ids=ids)
    now = _now()
    time_changed = start is not UNSET or end is not UNSET
    # Where the rows are now, as well as where they go (two moves swapping places must not wait
    # on each other), and the occurrences a split will re-point to the new series.
    previously = _resources_of(targets)
    split_from = (
        (appointment.series_id, appointment.recurrence_date)
        if appointment.series_id and scope == "following"
        else None
    )
    for target, plan in zip(targets, plans, strict=True):
        for name, value in plan.fields().items():
            setattr(target, name, value)
        if notes is not UNSET and target.id == appointment.id:
            target.notes = notes
        if target.series_id and scope == "this" and time_changed:
            target.series_exception = True
        target.updated_at = now
    columns = [name.removesuffix("_id") for name in plans[0].fields()]
    columns += ["notes", "series_exception", "updated_at"]
    previous = {t.id: t.start_at for t in targets}
    _write(
        actor,
        plans,
        lambda: Appointment.objects.bulk_update(targets, columns),
        ignore_ids=ids,
        also_lock=previously,
        series_from=split_from,
    )
    if appointment.series_id and scope == "following" and _series_has_before(appointment):
        _series_split(actor, appointment, targets)
    elif appointment.series_id and scope in ("all", "following"):
        _series_shift(appointment.series, shift, practitioner=practitioner, room=room)
    changed = list(
        Appointment.objects.filter(id__in=ids)
        .select_related("practitioner", "patient", "service", "location", "room")
        .order_by("start_at")
    )
    _after_change(changed, "rescheduled", actor=actor, previous=previous, notify=notify)
    return changed


# --- series ---------------------------------------------------------------------------------


def _series_targets(appointment: Appointment, scope: str) -> list[Appointment]:
    """Occurrences an edit with `scope` touches: never past ones, never finished ones. Editing a
    past occurrence itself with `following`/`all` is refused rather than half-applied."""
    if scope in ("following", "all") and appointment.start_at < _now():
        raise ValidationFailed(
            _("A past occurrence can only be changed on its own."),
            details={"scope": [_("Use scope=this for an occurrence in the past.")]},
        )
    qs = (
        Appointment.objects.select_for_update(of=("self",))
        .select_related("practitioner", "patient", "service", "location", "room")
        .filter(
            series_id=appointment.series_id,
            status__in=[s.value for s in machine.MOVABLE],
            start_at__gte=min(_now(), appointment.start_at),
        )
    )
    if scope == "following":
        qs = qs.filter(recurrence_date__gte=appointment.recurrence_date)
    targets = [t for t in qs.order_by("start_at") if t.start_at >= _now()]
    if appointment.id not in {t.id for t in targets}:
        targets.insert(0, appointment)
    return targets


def _series_has_before(appointment: Appointment) -> bool:
    return Appointment.objects.filter(
        series_id=appointment.series_id, recurrence_date__lt=appointment.recurrence_date
    ).exists()


def _series_split(
    actor: Membership, pivot: Appointment, moved: list[Appointment]
) -> AppointmentSeries:
    """End the series before `pivot` and carry the moved occurrences on in a new series."""
    old = AppointmentSeries.objects.select_for_update().get(id=pivot.series_id)
    pivot = next(m for m in moved if m.id == pivot.id)
    tz = selectors.tz(old.time_zone)
    wall = recurrence.instant_to_wall(pivot.start_at, tz)
    rule = old.rrule
    if "COUNT=" in rule:
        remaining = Appointment.objects.filter(
            series_id=old.id, recurrence_date__gte=pivot.recurrence_date
        ).count()
        rule = ";".join(
            p if not p.startswith("COUNT=") else f"COUNT={max(1, remaining)}"
            for p in rule.split(";")
        )
    new = AppointmentSeries.objects.create(
        practitioner_id=pivot.practitioner_id,
        patient_id=pivot.patient_id,
        service_id=pivot.service_id,
        location_id=pivot.location_id,
        room_id=pivot.room_id,
        rrule=rule,
        time_zone=old.time_zone,
        wall_date=wall.date(),
        wall_time=wall.time(),
        duration_minutes=max(1, int((pivot.end_at - pivot.start_at).total_seconds() // 60)),
        exdates=[d for d in old.exdates if d >= pivot.recurrence_date],
        split_from=old,
        notes=old.notes,
        created_by_id=actor.id,
    )
    old.ended_on = pivot.recurrence_date - timedelta(days=1)
    old.save(update_fields=["ended_on"])
    Appointment.objects.filter(series_id=old.id, recurrence_date__gte=pivot.recurrence_date).update(
        series_id=new.id
    )
    return new


def _series_shift(
    series: AppointmentSeries, shift: timedelta | None, *, practitioner, room
) -> None:
    fields = []
    if shift is not None:
        wall = datetime.combine(series.wall_date, series.wall_time) + shift
        series.wall_date, series.wall_time = wall.date(), wall.time()
        fields += ["wall_date", "wall_time"]
    if practitioner is not UNSET:
        series.practitioner_id = practitioner.id
        fields.append("practitioner")
    if room is not UNSET:
        series.room_id = room.id if room else None
        fields.append("room")
    if fields:
        series.save(update_fields=fields)


@dataclass
class SeriesResult:
    series: AppointmentSeries
    occurrences: list[Appointment]
    skipped: list[dict]
    truncated: bool


@transaction.atomic
def series_create(
    *,
    actor: Membership,
    practitioner_id,
    patient_id,
    service_id,
    start: datetime,
    rrule: str,
    end: datetime | None = None,
    location_id=None,
    room_id=None,
    exdates: Sequence = (),
    on_conflict: str = "fail",
    notes: str = "",
) -> SeriesResult:
    """A recurring appointment: the RRULE is expanded in the location's wall time (DST-safe,
    see recurrence.py) and every occurrence is checked in one query. Default all-or-nothing
    (409/422 listing the dates); `on_conflict="skip"` books the rest and says what was skipped."""
    if on_conflict not in ("fail", "skip"):
        raise ValidationFailed(
            _("Invalid value for %(field)s.") % {"field": "on_conflict"},
            details={"on_conflict": [_("Must be one of: fail, skip.")]},
        )
    settings = selectors.settings_get()
    first = _plan_build(
        actor=actor,
        settings=settings,
        practitioner_id=practitioner_id,
        patient_id=patient_id,
        service_id=service_id,
        start=start,
        end=end,
        room_id=room_id,
        location_id=location_id,
        notes=notes,
    )
    tz = selectors.tz(first.location.time_zone)
    try:
        rule = recurrence.rule_parse(rrule, tz)
    except recurrence.RecurrenceError as exc:
        raise ValidationFailed(str(exc), details={"rrule": [str(exc)]}) from None
    excluded = set()
    for value in exdates or ():
        day = value.astimezone(tz).date() if isinstance(value, datetime) else value
        excluded.add(day)
    wall = recurrence.instant_to_wall(first.start, tz)
    duration = first.end - first.start
    expansion = recurrence.expand(
        rule, wall_start=wall, duration=duration, tz=tz, exdates=frozenset(excluded)
    )
    if not expansion.occurrences:
        raise ValidationFailed(
            _("The rule produces no occurrence."),
            details={"rrule": [_("The rule produces no occurrence.")]},
        )
    plans = []
    for occ in expansion.occurrences:
        plan = Plan(**{**first.__dict__})
        plan.start, plan.end, plan.wall_date = occ.start, occ.end, occ.wall.date()
        plans.append(plan)
    skipped: list[dict] = []
    refusals = _availability_refusal(actor, plans)
    if refusals:
        if on_conflict == "fail":
            raise _availability_error(refusals, series=True)
        refused = {id(p) for p, _r in refusals}
        skipped += [
            {"date": p.wall_date.isoformat(), "start": p.local_iso(p.start), "reason": r}
            for p, r in refusals
        ]
        plans = [p for p in plans if id(p) not in refused]
    _room_capacity_check(actor, plans)
    rows = selectors.conflicts_find([p.wanted() for p in plans])
    if rows:
        if on_conflict == "fail":
            raise _conflict(actor, plans, rows, message=_("Some occurrences are not free."))
        bad = {r.index for r in rows}
        skipped += [
            {
                "date": plans[i].wall_date.isoformat(),
                "start": plans[i].local_iso(plans[i].start),
                "reason": "conflict",
            }
            for i in sorted(bad)
        ]
        plans = [p for i, p in enumerate(plans) if i not in bad]
    if not plans:
        raise Conflict(
            _("No occurrence of this series is free."),
            code="appointment_conflict",
            details={"conflicts": [], "alternatives": [], "skipped": skipped},
        )
    series = AppointmentSeries.objects.create(
        practitioner=first.practitioner,
        patient=first.patient,
        service=first.service,
        location=first.location,
        room=first.room,
        rrule=rule.text,
        time_zone=tz.key,
        wall_date=wall.date(),
        wall_time=wall.time(),
        duration_minutes=int(duration.total_seconds() // 60),
        exdates=sorted(excluded),
        notes=first.notes,
        created_by_id=actor.id,
    )
    occurrences = _insert(actor, plans, status=AppointmentStatus.SCHEDULED, series=series)
    _after_change(occurrences, "booked", actor=actor)
    skipped.sort(key=lambda s: s["start"])
    return SeriesResult(
        series=series, occurrences=occurrences, skipped=skipped, truncated=expansion.truncated
    )


# --- status ----------------------------------------------------------------------------------


def _late(appointment: Appointment, settings: SchedulingSettings, now: datetime) -> bool:
    return appointment.start_at - now < timedelta(hours=settings.late_cancel_hours)


@transaction.atomic
def appointment_status_set(
    *,
    actor: Membership,
    appointment: Appointment,
    status: str,
    reason: str = "",
    notify: bool = True,
) -> Appointment:
    """Apply one transition of the status machine (status.py); anything else is a 409 that
    lists the transitions allowed from the current status. `notify=False` on a cancellation:
    the patient gets no cancellation message (the clinic told them itself)."""
    if status not in AppointmentStatus.values:
        raise ValidationFailed(
            _("Invalid value for %(field)s.") % {"field": "status"},
            details={
                "status": [_("Must be one of: %(v)s.") % {"v": ", ".join(AppointmentStatus.values)}]
            },
        )
    reason = _text(reason, "reason", 500)
    current = appointment.status
    allowed = machine.allowed_from(current)
    if not machine.transition_allowed(current, status):
        raise Conflict(
            _("An appointment cannot go from %(a)s to %(b)s.") % {"a": current, "b": status},
            code="invalid_transition",
            details={"status": current, "allowed": allowed},
        )
    now = _now()
    if status in machine.AFTER_START_ONLY and now < appointment.start_at:
        raise Conflict(
            _("A no-show can only be recorded once the appointment has started."),
            code="invalid_transition",
            details={
                "status": current,
                "allowed": [s for s in allowed if s not in machine.AFTER_START_ONLY],
                "starts_at": appointment.start_at.isoformat(),
            },
        )
    if current == AppointmentStatus.HELD and appointment.hold_id:
        # A held row belongs to its hold: scheduling it confirms the whole hold, atomically
        # (every slot of it, and the hold's own state), exactly as POST /holds/{id}/confirm.
        hold_confirm(actor=actor, hold=appointment.hold)
        appointment.refresh_from_db()
        return appointment
    if current == AppointmentStatus.HELD:
        if appointment.hold_expires_at and appointment.hold_expires_at <= now:
            raise Conflict(
                _("This hold has expired."),
                code="hold_expired",
                details={"expired_at": appointment.hold_expires_at.isoformat()},
            )
        appointment.hold_expires_at = None
    if status not in RELEASED_STATUSES:
        # The row stays live: its new version is checked against the exclusion constraints
        # again, so it takes the same locks as any write of occupied time.
        _occupied_lock(_resources_of([appointment]))
    appointment.status = status
    appointment.status_changed_at = now
    update = ["status", "status_changed_at", "hold_expires_at", "updated_at"]
    if status == AppointmentStatus.CANCELLED:
        appointment.cancelled_at = now
        appointment.cancelled_by_id = actor.id
        appointment.cancel_reason = reason
        appointment.late_cancel = _late(appointment, selectors.settings_get(), now)
        update += ["cancelled_at", "cancelled_by", "cancel_reason", "late_cancel"]
    appointment.save(update_fields=update)
    audit_record(
        action="appointment.status",
        organization_id=appointment.organization_id,
        actor_id=actor.user_id,
        object_type="scheduling_appointment",
        object_id=appointment.id,
        details={
            "from": current,
            "to": status,
            "reason": reason,
            "late_cancel": appointment.late_cancel,
        },
    )
    _after_change(
        [appointment],
        {"cancelled": "cancelled", "scheduled": "booked"}.get(status, "status"),
        actor=actor,
        notify=notify,
    )
    return appointment


@transaction.atomic
def appointment_cancel(
    *,
    actor: Membership,
    appointment: Appointment,
    reason: str = "",
    scope: str = "this",
    notify: bool = True,
) -> list[Appointment]:
    """Cancel one appointment or, for a series, this and following / all future occurrences
    (past and finished ones are never touched); `notify=False`: no message to the patient."""
    if scope not in ("this", "following", "all"):
        raise ValidationFailed(
            _("Invalid value for %(field)s.") % {"field": "scope"},
            details={"scope": [_("Must be one of: this, following, all.")]},
        )
    if appointment.series_id is None or scope == "this":
        return [
            appointment_status_set(
                actor=actor,
                appointment=appointment,
                status=AppointmentStatus.CANCELLED,
                reason=reason,
                notify=notify,
            )
        ]
    targets = [
        t
        for t in _series_targets(appointment, scope)
        if machine.transition_allowed(t.status, AppointmentStatus.CANCELLED)
    ]
    if not targets:
        raise Conflict(
            _("Nothing left to cancel in this series."),
            code="invalid_transition",
            details={
                "status": appointment.status,
                "allowed": machine.allowed_from(appointment.status),
            },
        )
    done = [
        appointment_status_set(
            actor=actor,
            appointment=t,
            status=AppointmentStatus.CANCELLED,
            reason=reason,
            notify=notify,
        )
        for t in targets
    ]
    if scope == "following" and _series_has_before(appointment):
        series = AppointmentSeries.objects.select_for_update().get(id=appointment.series_id)
        series.ended_on = appointment.recurrence_date - timedelta(days=1)
        series.save(update_fields=["ended_on"])
    return done


# --- holds -------------------------------------------------------------------------------------


@transaction.atomic
def hold_create(
    *,
    actor: Membership,
    practitioner_id,
    patient_id,
    service_id,
    start: datetime | None = None,
    end: datetime | None = None,
    occurrences: Sequence[dict] = (),
    hold_seconds: int | None = None,
    room_id=None,
    location_id=None,
    max_seconds: int = 3600,
) -> tuple[Hold, list[Appointment]]:
    """Claim one or more slots for a few minutes (default 300 s) before booking. The held rows
    occupy their slots through the same exclusion constraints; an expired hold blocks nothing.
    409 carries `retry_after` (seconds until the holds in the way expire) and alternatives.

    `max_seconds`: callers that hold on someone's behalf for longer (a waitlist offer waits
    hours for the patient's answer) raise the one-hour ceiling that applies to API clients."""
    settings = selectors.settings_get()
    seconds = hold_seconds if hold_seconds is not None else settings.default_hold_seconds
    if not 30 <= seconds <= max_seconds:
        raise ValidationFailed(
            _("Invalid value for %(field)s.") % {"field": "hold_seconds"},
            details={"hold_seconds": [_("Between 30 and 3600 seconds.")]},
        )
    wanted_times: list[tuple[datetime, datetime | None]] = []
    if start is not None:
        wanted_times.append((start, end))
    for i, item in enumerate(occurrences or ()):
        item_start = item.get("start")
        if item_start is None:
            raise ValidationFailed(
                _("Invalid value for %(field)s.") % {"field": "occurrences"},
                details={f"occurrences.{i}.start": [_("This field is required.")]},
            )
        wanted_times.append(
            (
                _aware(item_start, f"occurrences.{i}.start"),
                _aware(item.get("end"), f"occurrences.{i}.end"),
            )
        )
    if not wanted_times:
        raise ValidationFailed(
            _("Give a start or occurrences."), details={"start": [_("This field is required.")]}
        )
    if len(wanted_times) > MAX_HOLD_OCCURRENCES:
        raise ValidationFailed(
            _("Too many occurrences."),
            details={"occurrences": [_("At most %(n)d.") % {"n": MAX_HOLD_OCCURRENCES}]},
        )
    plans = [
        _plan_build(
            actor=actor,
            settings=settings,
            practitioner_id=practitioner_id,
            patient_id=patient_id,
            service_id=service_id,
            start=s,
            end=e,
            room_id=room_id,
            location_id=location_id,
        )
        for s, e in wanted_times
    ]
    now = _now()
    if any(p.start < now for p in plans):
        raise ValidationFailed(
            _("A hold must be for a future time."), details={"start": [_("Must be in the future.")]}
        )
    refusals = _availability_refusal(actor, plans)
    if refusals:
        raise _availability_error(refusals, series=len(plans) > 1)
    _room_capacity_check(actor, plans, retry_hint=True)
    if len(plans) > 1:
        rows = selectors.conflicts_find([p.wanted() for p in plans])
        if rows:
            raise _conflict(actor, plans, rows, retry_hint=True)
    hold = Hold.objects.create(expires_at=now + timedelta(seconds=seconds), created_by_id=actor.id)
    rows = _insert(actor, plans, status=AppointmentStatus.HELD, hold=hold, retry_hint=True)
    audit_record(
        action="hold.create",
        organization_id=hold.organization_id,
        actor_id=actor.user_id,
        object_type="scheduling_hold",
        object_id=hold.id,
        details={"appointments": [str(r.id) for r in rows], "seconds": seconds},
    )
    return hold, rows


def _hold_expire(hold: Hold, now: datetime) -> None:
    Appointment.objects.filter(hold_id=hold.id, status=AppointmentStatus.HELD).delete()
    hold.state = HoldState.EXPIRED
    hold.finished_at = now
    hold.save(update_fields=["state", "finished_at"])


def hold_confirm(*, actor: Membership, hold: Hold) -> list[Appointment]:
    """Turn a live hold into scheduled appointments, atomically (all or none). Confirming a
    confirmed hold again returns the same appointments."""
    expired = False
    with transaction.atomic():
        hold = Hold.objects.select_for_update().get(id=hold.id)
        now = _now()
        if hold.state == HoldState.CONFIRMED:
            return selectors.hold_appointments(hold)
        if hold.state == HoldState.ACTIVE and hold.expires_at <= now:
            _hold_expire(hold, now)
            expired = True
        elif hold.state != HoldState.ACTIVE:
            raise Conflict(
                _("This hold was %(state)s.") % {"state": hold.get_state_display().lower()},
                code=f"hold_{hold.state}",
                details={"state": hold.state},
            )
        else:
            rows = selectors.hold_appointments(hold)
            _occupied_lock(_resources_of(rows))
            Appointment.objects.filter(hold_id=hold.id, status=AppointmentStatus.HELD).update(
                status=AppointmentStatus.SCHEDULED,
                hold_expires_at=None,
                status_changed_at=now,
                updated_at=now,
            )
            hold.state = HoldState.CONFIRMED
            hold.finished_at = now
            hold.save(update_fields=["state", "finished_at"])
            audit_record(
                action="hold.confirm",
                organization_id=hold.organization_id,
                actor_id=actor.user_id,
                object_type="scheduling_hold",
                object_id=hold.id,
                details={"appointments": [str(r.id) for r in rows]},
            )
            confirmed = selectors.hold_appointments(hold)
            _after_change(confirmed, "booked", actor=actor)
            return confirmed
    # The expiry is committed by the caller's transaction only if it does not roll back; an
    # API 409 rolls back, which is fine: the sweep or the next booking clears it again.
    if expired:
        raise Conflict(
            _("This hold has expired; hold the slot again."),
            code="hold_expired",
            details={"state": HoldState.EXPIRED, "expired_at": hold.expires_at.isoformat()},
        )
    return []


@transaction.atomic
def hold_release(*, actor: Membership, hold: Hold) -> Hold:
    hold = Hold.objects.select_for_update().get(id=hold.id)
    if hold.state == HoldState.ACTIVE:
        Appointment.objects.filter(hold_id=hold.id, status=AppointmentStatus.HELD).delete()
        hold.state = HoldState.RELEASED
        hold.finished_at = _now()
        hold.save(update_fields=["state", "finished_at"])
        audit_record(
            action="hold.release",
            organization_id=hold.organization_id,
            actor_id=actor.user_id,
            object_type="scheduling_hold",
            object_id=hold.id,
        )
    return hold


def holds_expire_sweep(*, now: datetime | None = None, organization_id=None) -> int:
    """Delete the held rows of every expired hold and mark the holds expired — in one
    organization (`organization_id`, as the worker's periodic job calls it per organization) or
    in all of them. Bookings also clear the expired holds they meet. Returns the holds expired."""
    from clinic.accounts.models import Organization
    from clinic.core.tenancy import tenant_context

    now = now or _now()
    org_ids = (
        [organization_id]
        if organization_id is not None
        else list(Organization.objects.values_list("id", flat=True))
    )
    total = 0
    for org_id in org_ids:
        with tenant_context(org_id), connection.cursor() as cur:
            cur.execute(
                """
                WITH expired AS (
                    UPDATE scheduling_hold SET state = 'expired', finished_at = %s
                     WHERE organization_id = %s AND state = 'active' AND expires_at <= %s
                 RETURNING id),
                gone AS (
                    DELETE FROM scheduling_appointment a USING expired e
                     WHERE a.hold_id = e.id AND a.status = 'held')
                SELECT count(*) FROM expired
                """,
                [now, org_id, now],
            )
            total += cur.fetchone()[0]
    return total


# --- availability ---------------------------------------------------------------------------


def _rule_values(data: dict[str, Any], *, partial: bool) -> dict[str, Any]:
    errors: dict[str, list[str]] = {}
    out: dict[str, Any] = {}
    if "weekday" in data or not partial:
        weekday = data.get("weekday")
        if not isinstance(weekday, int) or isinstance(weekday, bool) or not 0 <= weekday <= 6:
            errors["weekday"] = [_("0 (Monday) to 6 (Sunday).")]
        else:
            out["weekday"] = weekday
    for name in ("start_time", "end_time"):
        if name in data or not partial:
            if data.get(name) is None:
                errors[name] = [_("This field is required.")]
            else:
                out[name] = data[name]
    if "location_id" in data or not partial:
        try:
            location = selectors.location_get(data.get("location_id"))
        except ValidationFailed as exc:
            errors.update(exc.details)
        else:
            if location is None:
                errors["location_id"] = [_("This field is required.")]
            else:
                out["location"] = location
    if "modality" in data:
        modality = data.get("modality") or ""
        if modality and modality not in Modality.values:
            errors["modality"] = [_("Must be one of: %(v)s.") % {"v": ", ".join(Modality.values)}]
        out["modality"] = modality
    for name in ("effective_from", "effective_to"):
        if name in data:
            out[name] = data[name]
    if "interval_weeks" in data:
        value = data.get("interval_weeks") or 1
        if not isinstance(value, int) or not 1 <= value <= 52:
            errors["interval_weeks"] = [_("Between 1 and 52.")]
        out["interval_weeks"] = value
    if "anchor_date" in data:
        out["anchor_date"] = data["anchor_date"]
    if "max_appointments" in data:
        value = data.get("max_appointments")
        if value is not None and (not isinstance(value, int) or not 1 <= value <= 200):
            errors["max_appointments"] = [_("Between 1 and 200, or empty.")]
        out["max_appointments"] = value
    if errors:
        raise ValidationFailed(
            _("Invalid value for %(field)s.") % {"field": next(iter(errors))}, details=errors
        )
    return out


def _rule_consistent(rule: AvailabilityRule) -> None:
    if rule.end_time <= rule.start_time:
        raise ValidationFailed(
            _("The end must be after the start."),
            details={"end_time": [_("Must be after the start time.")]},
        )
    if rule.effective_from and rule.effective_to and rule.effective_to < rule.effective_from:
        raise ValidationFailed(
            _("Invalid value for %(field)s.") % {"field": "effective_to"},
            details={"effective_to": [_("Must not be before effective_from.")]},
        )
    if rule.interval_weeks > 1 and rule.anchor_date is None:
        # the rotation's first week: the rule's start, else the week it is made
        rule.anchor_date = rule.effective_from or timezone.localdate()


def _weeks_meet(a: AvailabilityRule, b: AvailabilityRule) -> bool:
    """Do two rotations ever fall in the same week? (week numbers counted from a common Monday:
    wa ≡ wb mod gcd(interval a, interval b) has a solution)."""
    if a.interval_weeks <= 1 or b.interval_weeks <= 1:
        return True
    epoch = date(2000, 1, 3)  # a Monday

    def week(rule):
        return (rule.anchor_date - epoch).days // 7

    return (week(a) - week(b)) % gcd(a.interval_weeks, b.interval_weeks) == 0


def _rule_overlap_check(rule: AvailabilityRule) -> None:
    """One practitioner's rules at one location never overlap (same weekday, overlapping hours
    and dates, rotations that meet): 409 naming the other rule, in words."""
    others = AvailabilityRule.objects.filter(
        practitioner_id=rule.practitioner_id,
        location_id=rule.location_id,
        weekday=rule.weekday,
        start_time__lt=rule.end_time,
        end_time__gt=rule.start_time,
    ).exclude(id=rule.id)
    if rule.effective_to:
        others = others.exclude(effective_from__gt=rule.effective_to)
    if rule.effective_from:
        others = others.exclude(effective_to__lt=rule.effective_from)
    for other in others.order_by("start_time"):
        if not _weeks_meet(rule, other):
            continue
        raise Conflict(
            _(
                "These hours overlap another rule of this practitioner at this location: %(day)s "
                "%(start)s–%(end)s."
            )
            % {
                "day": WEEKDAYS[other.weekday],
                "start": other.start_time.strftime("%H:%M"),
                "end": other.end_time.strftime("%H:%M"),
            },
            code="rule_overlap",
            details={
                "rule": {
                    "id": str(other.id),
                    "weekday": other.weekday,
                    "start_time": other.start_time.isoformat(),
                    "end_time": other.end_time.isoformat(),
                    "effective_from": other.effective_from and other.effective_from.isoformat(),
                    "effective_to": other.effective_to and other.effective_to.isoformat(),
                    "interval_weeks": other.interval_weeks,
                }
            },
        )


@transaction.atomic
def availability_rule_create(
    *, actor: Membership, practitioner_id, data: dict[str, Any]
) -> AvailabilityRule:
    practitioner = selectors.practitioner_for_actor(actor, practitioner_id)
    values = _rule_values(data, partial=False)
    rule = AvailabilityRule(practitioner=practitioner, **values)
    _rule_consistent(rule)
    _rule_overlap_check(rule)
    rule.save()
    return rule


@transaction.atomic
def availability_rule_update(
    *, actor: Membership, rule: AvailabilityRule, data: dict[str, Any]
) -> AvailabilityRule:
    for name, value in _rule_values(data, partial=True).items():
        setattr(rule, name, value)
    _rule_consistent(rule)
    _rule_overlap_check(rule)
    rule.save()
    return rule


@transaction.atomic
def availability_rule_delete(*, actor: Membership, rule: AvailabilityRule) -> None:
    rule.delete()


_RULE_COPIED = (
    "location_id",
    "start_time",
    "end_time",
    "modality",
    "effective_from",
    "effective_to",
    "max_appointments",
    "interval_weeks",
    "anchor_date",
)


@transaction.atomic
def availability_rules_copy(
    *,
    actor: Membership,
    practitioner_id,
    location_id=None,
    from_weekday: int | None = None,
    to_weekdays: Sequence[int] = (),
    to_practitioner_ids: Sequence[Any] = (),
) -> list[AvailabilityRule]:
    """Copy a practitioner's hours: one day's rules to other days of their week, and/or their
    week (or only `from_weekday`) to other practitioners — at one location or all of theirs.
    Each copy passes the same overlap check as a rule made by hand; the first clash is a 409
    naming it, and nothing at all is copied."""
    errors: dict[str, list[str]] = {}
    to_weekdays = list(dict.fromkeys(to_weekdays))
    to_practitioner_ids = list(dict.fromkeys(to_practitioner_ids))
    if not to_weekdays and not to_practitioner_ids:
        errors["to_weekdays"] = [_("Choose days or practitioners to copy to.")]
    if to_weekdays and from_weekday is None:
        errors["from_weekday"] = [_("This field is required.")]
    days = [*to_weekdays, *([] if from_weekday is None else [from_weekday])]
    if any(not 0 <= d <= 6 for d in days):
        errors["to_weekdays"] = [_("0 (Monday) to 6 (Sunday).")]
    if from_weekday is not None and from_weekday in to_weekdays:
        errors["to_weekdays"] = [_("Copying a day onto itself changes nothing.")]
    if practitioner_id in to_practitioner_ids:
        errors["to_practitioner_ids"] = [_("Copying onto the same practitioner changes nothing.")]
    if errors:
        raise ValidationFailed(
            _("Invalid value for %(field)s.") % {"field": next(iter(errors))}, details=errors
        )
    source = selectors.practitioner_for_actor(actor, practitioner_id)
    targets = [
        selectors.practitioner_for_actor(actor, pid, field="to_practitioner_ids")
        for pid in to_practitioner_ids
    ]
    rules = AvailabilityRule.objects.filter(practitioner=source).order_by("weekday", "start_time")
    if location_id:
        rules = rules.filter(location_id=location_id)
    if from_weekday is not None:
        rules = rules.filter(weekday=from_weekday)
    rules = list(rules)
    if not rules:
        raise ValidationFailed(
            _("There are no hours to copy."),
            details={"from_weekday": [_("This practitioner has no hours on that day here.")]},
        )
    made: list[AvailabilityRule] = []
    plans = [(source, rule, weekday) for rule in rules for weekday in to_weekdays]
    plans += [(target, rule, rule.weekday) for target in targets for rule in rules]
    for practitioner, rule, weekday in plans:
        copy = AvailabilityRule(
            practitioner=practitioner,
            weekday=weekday,
            **{name: getattr(rule, name) for name in _RULE_COPIED},
        )
        try:
            _rule_overlap_check(copy)
        except Conflict as clash:
            raise Conflict(
                f"{practitioner.display_name}: {clash.message}",
                code=clash.code,
                details={**clash.details, "practitioner_id": str(practitioner.id)},
            ) from None
        copy.save()  # saved one by one: a later copy is checked against the earlier ones
        made.append(copy)
    return made


@transaction.atomic
def availability_week_set(
    *, actor: Membership, practitioner_id, location_id, days: dict[int, list[tuple[Any, Any]]]
) -> list[AvailabilityRule]:
    """Replace a practitioner's plain weekly rules at one location (the weekly editor): those
    with no dates, no modality and no daily maximum. Rules with any of these are edited one by
    one and are never touched here, so saving the week loses nothing it does not show."""
    practitioner = selectors.practitioner_for_actor(actor, practitioner_id)
    location = selectors.location_get(location_id)
    if location is None:
        raise ValidationFailed(
            _("Choose a location."), details={"location_id": [_("This field is required.")]}
        )
    selectors.weekly_plain_rules(practitioner_id=practitioner.id, location_id=location.id).delete()
    rules = []
    for weekday, spans in sorted(days.items()):
        for start_time, end_time in spans:
            rule = AvailabilityRule(
                organization_id=practitioner.organization_id,
                practitioner=practitioner,
                location=location,
                weekday=weekday,
                start_time=start_time,
                end_time=end_time,
            )
            try:
                _rule_consistent(rule)
            except ValidationFailed:
                raise ValidationFailed(
                    _("The end must be after the start."),
                    details={f"day_{weekday}": [_("Must be after the start time.")]},
                ) from None
            rules.append(rule)
    return AvailabilityRule.objects.bulk_create(rules)


@transaction.atomic
def availability_exception_create(
    *,
    actor: Membership,
    practitioner_id,
    kind: str,
    start: datetime,
    end: datetime,
    location_id=None,
    reason: str = "",
    block_anyway: bool = False,
) -> AvailabilityException:
    """Add extra hours or block time. Blocking time that has booked appointments is refused
    (409 `blocks_appointments`, listing them, nothing written) until `block_anyway` says the
    person saw the list: the appointments stay booked and are to be moved one by one."""
    practitioner = selectors.practitioner_for_actor(actor, practitioner_id)
    values = _exception_values(kind, start, end, location_id, reason)
    if kind == ExceptionKind.BLOCKED and not block_anyway:
        booked = selectors.appointments_in_span(
            practitioner_id=practitioner.id, start=start, end=end
        )
        if booked:
            raise Conflict(
                ngettext(
                    "%(n)d appointment is booked in this time.",
                    "%(n)d appointments are booked in this time.",
                    len(booked),
                )
                % {"n": len(booked)},
                code="blocks_appointments",
                details={
                    "appointments": [
                        {
                            "id": str(a.id),
                            "start": a.start_at.isoformat(),
                            "end": a.end_at.isoformat(),
                            "patient": a.patient.display_name if a.patient else "",
                            "service": a.service.name if a.service else "",
                            "time_zone": a.location.time_zone,
                        }
                        for a in booked
                    ]
                },
            )
    return AvailabilityException.objects.create(practitioner=practitioner, **values)


def _exception_values(kind, start, end, location_id, reason) -> dict[str, Any]:
    _aware(start, "start")
    _aware(end, "end")
    errors: dict[str, list[str]] = {}
    if kind not in ExceptionKind.values:
        errors["kind"] = [_("Must be one of: %(v)s.") % {"v": ", ".join(ExceptionKind.values)}]
    if end <= start:
        errors["end"] = [_("Must be after start.")]
    elif end - start > timedelta(days=31):
        errors["end"] = [_("At most %(n)d days after start.") % {"n": 31}]
    location = None
    try:
        location = selectors.location_get(location_id)
    except ValidationFailed as exc:
        errors.update(exc.details)
    if kind == ExceptionKind.EXTRA and location is None and "location_id" not in errors:
        errors["location_id"] = [_("Extra hours need a location.")]
    if errors:
        raise ValidationFailed(
            _("Invalid value for %(field)s.") % {"field": next(iter(errors))}, details=errors
        )
    return {
        "kind": kind,
        "start_at": start,
        "end_at": end,
        "location": location,
        "reason": _text(reason, "reason", 200),
    }


@transaction.atomic
def availability_exception_update(
    *, actor: Membership, exception: AvailabilityException, data: dict[str, Any]
) -> AvailabilityException:
    """Change an exception (same rules as creating it)."""
    values = _exception_values(
        data.get("kind") or exception.kind,
        data.get("start") or exception.start_at,
        data.get("end") or exception.end_at,
        data.get("location_id", exception.location_id),
        exception.reason if data.get("reason") is None else data["reason"],
    )
    for name, value in values.items():
        setattr(exception, name, value)
    exception.save()
    return exception


@transaction.atomic
def availability_exception_delete(*, actor: Membership, exception: AvailabilityException) -> None:
    exception.delete()


# --- settings and feeds ---------------------------------------------------------------------


@transaction.atomic
def settings_update(*, actor: Membership, data: dict[str, Any]) -> SchedulingSettings:
    settings = SchedulingSettings.objects.select_for_update().first() or SchedulingSettings()
    errors: dict[str, list[str]] = {}
    limits = {
        "late_cancel_hours": (0, 720),
        "slot_granularity_minutes": (5, 240),
        "default_hold_seconds": (30, 3600),
    }
    for name, (low, high) in limits.items():
        if name in data:
            value = data[name]
            if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
                errors[name] = [
                    _("Must be between %(min)d and %(max)d.") % {"min": low, "max": high}
                ]
            else:
                setattr(settings, name, value)
    if "ics_detail" in data:
        if data["ics_detail"] not in IcsDetail.values:
            errors["ics_detail"] = [
                _("Must be one of: %(v)s.") % {"v": ", ".join(IcsDetail.values)}
            ]
        else:
            settings.ics_detail = data["ics_detail"]
    if "double_booking_practitioner_ids" in data:
        ids = [uuid.UUID(str(i)) for i in data["double_booking_practitioner_ids"] or []]
        from clinic.directory.models import Practitioner

        known = set(Practitioner.objects.filter(id__in=ids).values_list("id", flat=True))
        if set(ids) - known:
            errors["double_booking_practitioner_ids"] = [_("No such practitioner.")]
        settings.double_booking_practitioner_ids = sorted(set(ids), key=str)
    if errors:
        raise ValidationFailed(
            _("Invalid value for %(field)s.") % {"field": next(iter(errors))}, details=errors
        )
    settings.save()
    return settings


def _token_hash(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


@dataclass
class IssuedFeed:
    feed: IcsFeed
    token: str


@transaction.atomic
def ics_feed_create(*, actor: Membership, practitioner_id, name: str = "") -> IssuedFeed:
    practitioner = selectors.practitioner_for_actor(actor, practitioner_id)
    raw = "ics_" + secrets.token_urlsafe(32)
    feed = IcsFeed.objects.create(
        practitioner=practitioner,
        name=_text(name, "name", 100),
        token_hash=_token_hash(raw),
        prefix=raw[:12],
        created_by_id=actor.id,
    )
    return IssuedFeed(feed=feed, token=raw)


@transaction.atomic
def ics_feed_revoke(*, actor: Membership, feed: IcsFeed) -> IcsFeed:
    if feed.revoked_at is None:
        feed.revoked_at = _now()
        feed.save(update_fields=["revoked_at"])
    return feed


def unscoped_feed_resolve(raw: str) -> IcsFeed | None:
    """The live feed whose secret this is, before any tenant is known (RLS reveals the one row
    whose hash is in app.token_hash); then the tenant is set from it."""
    from clinic.core.tenancy import tenant_activate, token_hash_activate

    if not raw or len(raw) > 100:
        return None
    digest = _token_hash(raw)
    token_hash_activate(digest)
    # No join here: the practitioner's row is only visible once the tenant is set.
    feed = IcsFeed.unscoped_objects.filter(token_hash=digest, revoked_at__isnull=True).first()
    if feed is None:
        return None
    tenant_activate(feed.organization_id)
    IcsFeed.objects.filter(id=feed.id).update(last_used_at=_now())
    return feed
