"""Every non-trivial scheduling read: tenant-scoped (manager + RLS), object-scoped for the actor,
set-based (one query for the busy intervals of all candidate practitioners, never one per day or
per practitioner)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from django.db import connection
from django.db.models import Expression, OuterRef, Q, QuerySet, Subquery
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from clinic.accounts.models import Membership, Organization
from clinic.core import timefmt
from clinic.core.errors import NotFound, ValidationFailed
from clinic.core.timeline import Cursor, TimelineItem, before_q
from clinic.core.timeline import order_by as timeline_order
from clinic.directory.models import (
    Location,
    Patient,
    Practitioner,
    PractitionerService,
    Room,
    Service,
)
from clinic.scheduling import slots as slotmath
from clinic.scheduling import status as machine
from clinic.scheduling.models import (
    LIVE,
    MAX_BUFFER_MINUTES,
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
    IcsFeed,
    SchedulingSettings,
    TimeOffStatus,
    TimeOffType,
)

# An occupied range is at most 24 h plus both buffers: this bounds btree range scans.
MAX_OCCUPIED = timedelta(hours=MAX_DURATION_HOURS, minutes=2 * MAX_BUFFER_MINUTES)
MAX_RANGE_DAYS = 62
MAX_SLOT_RANGE_DAYS = 92

VIEW_ALL = "appointment.view_all"


@lru_cache(maxsize=512)
def tz(name: str) -> ZoneInfo:
    return ZoneInfo(name)


# --- settings ---------------------------------------------------------------------------------


def settings_get() -> SchedulingSettings:
    """The organization's scheduling settings (unsaved defaults when it has none)."""
    found = SchedulingSettings.objects.first()
    return found or SchedulingSettings()


# --- who may see what -------------------------------------------------------------------------


def practitioner_of(actor: Membership) -> Practitioner | None:
    return Practitioner.objects.filter(membership_id=actor.id).first()


def patients_of(actor: Membership) -> QuerySet:
    """Patients a Patient-role member may act for: their own record and those they are
    responsible for (parent, legal guardian, animal owner) — the directory's rule."""
    from clinic.directory.selectors import patients_visible_to

    return patients_visible_to(actor)


def appointments_visible_to(actor: Membership) -> QuerySet:
    """Appointments the actor may see: everything with `appointment.view_all`; otherwise a
    practitioner sees their own schedule and a patient their own appointments."""
    qs = Appointment.objects.all()
    if actor.has(VIEW_ALL):
        return qs
    if actor.role == "patient":
        return qs.filter(patient__in=patients_of(actor).values("id"))
    return qs.filter(practitioner__membership_id=actor.id)


def practitioner_ids_scope(actor: Membership) -> list[uuid.UUID] | None:
    """None when the actor may act on every practitioner's schedule, else the allowed ids."""
    if actor.has(VIEW_ALL):
        return None
    return list(Practitioner.objects.filter(membership_id=actor.id).values_list("id", flat=True))


def appointment_for_actor(
    actor: Membership, appointment_id, *, for_update: bool = False
) -> Appointment:
    qs = appointments_visible_to(actor).select_related(
        "practitioner", "patient", "service", "location", "room", "series"
    )
    if for_update:
        qs = qs.select_for_update(of=("self",))
    found = qs.filter(id=appointment_id).first()
    if found is None:
        raise NotFound(_("Appointment not found."))
    return found


def series_for_actor(actor: Membership, series_id) -> AppointmentSeries:
    qs = AppointmentSeries.objects.select_related(
        "practitioner", "patient", "service", "location", "room"
    )
    if not actor.has(VIEW_ALL):
        if actor.role == "patient":
            qs = qs.filter(patient__in=patients_of(actor).values("id"))
        else:
            qs = qs.filter(practitioner__membership_id=actor.id)
    found = qs.filter(id=series_id).first()
    if found is None:
        raise NotFound(_("Series not found."))
    return found


def hold_for_actor(actor: Membership, hold_id, *, for_update: bool = False) -> Hold:
    qs = Hold.objects.all()
    if not actor.has(VIEW_ALL):
        qs = qs.filter(created_by_id=actor.id)
    if for_update:
        qs = qs.select_for_update()
    found = qs.filter(id=hold_id).first()
    if found is None:
        raise NotFound(_("Hold not found."))
    return found


def hold_appointments(hold: Hold) -> list[Appointment]:
    return list(
        Appointment.objects.filter(hold_id=hold.id)
        .select_related("practitioner", "patient", "service", "location", "room")
        .order_by("start_at")
    )


def feed_for_actor(actor: Membership, feed_id) -> IcsFeed:
    qs = IcsFeed.objects.select_related("practitioner")
    scope = practitioner_ids_scope(actor)
    if scope is not None:
        qs = qs.filter(practitioner_id__in=scope)
    found = qs.filter(id=feed_id).first()
    if found is None:
        raise NotFound(_("Calendar feed not found."))
    return found


def feeds_list(actor: Membership) -> QuerySet:
    qs = IcsFeed.objects.select_related("practitioner").filter(revoked_at__isnull=True)
    scope = practitioner_ids_scope(actor)
    if scope is not None:
        qs = qs.filter(practitioner_id__in=scope)
    return qs.order_by("-created_at")


def _get(model, object_id, field: str, label: str):
    if object_id is None:
        return None
    qs = model if isinstance(model, QuerySet) else model.objects.all()
    found = qs.filter(id=object_id).first()
    if found is None:
        raise ValidationFailed(
            _("%(what)s not found.") % {"what": label},
            details={
                field: [_("No such %(what)s in this organization.") % {"what": label.lower()}]
            },
        )
    return found


def practitioner_get(practitioner_id, field: str = "practitioner_id") -> Practitioner | None:
    return (
        _get(
            Practitioner.objects.select_related("default_location"),
            practitioner_id,
            field,
            _("Practitioner"),
        )
        if practitioner_id
        else None
    )


def patient_get(patient_id, field: str = "patient_id") -> Patient | None:
    return _get(Patient, patient_id, field, _("Patient"))


def service_get(service_id, field: str = "service_id", *, practitioner_id=None) -> Service | None:
    """The service; with `practitioner_id`, annotated `delivered` (does that practitioner
    deliver it) in the same query."""
    from django.db.models import Exists

    qs = Service.objects.all()
    if practitioner_id:
        qs = qs.annotate(
            delivered=Exists(
                PractitionerService.objects.filter(
                    service_id=OuterRef("pk"), practitioner_id=practitioner_id
                )
            )
        )
    return _get(qs, service_id, field, _("Service"))


def location_get(location_id, field: str = "location_id") -> Location | None:
    return _get(Location, location_id, field, _("Location"))


def room_get(room_id, field: str = "room_id") -> Room | None:
    return _get(Room.objects.select_related("location"), room_id, field, _("Room"))


def practitioner_for_actor(
    actor: Membership, practitioner_id, field: str = "practitioner_id"
) -> Practitioner:
    """A practitioner whose schedule the actor may manage (others' are 404 for them)."""
    scope = practitioner_ids_scope(actor)
    if scope is not None and practitioner_id not in scope:
        raise NotFound(_("Practitioner not found."))
    found = (
        Practitioner.objects.select_related("default_location").filter(id=practitioner_id).first()
    )
    if found is None:
        raise NotFound(_("Practitioner not found."))
    return found


# --- ranges -----------------------------------------------------------------------------------


def range_check(start: datetime, end: datetime, *, max_days: int = MAX_RANGE_DAYS) -> None:
    if end <= start:
        raise ValidationFailed(
            _("The end must be after the start."), details={"end": [_("Must be after start.")]}
        )
    if end - start > timedelta(days=max_days):
        raise ValidationFailed(
            _("The range is too long."),
            details={"end": [_("At most %(n)d days after start.") % {"n": max_days}]},
        )


def _range_queryset(
    *,
    actor: Membership,
    start: datetime,
    end: datetime,
    practitioner_ids: Sequence[uuid.UUID] = (),
    room_id: uuid.UUID | None = None,
    patient_id: uuid.UUID | None = None,
    statuses: Sequence[str] = (),
    include_released: bool = True,
):
    """Appointments overlapping [start, end). Served by the btree index on
    (organization, practitioner|room|patient, start_at): an appointment lasts at most 24 h, so
    `start_at > start - 24h` bounds the scan from below."""
    range_check(start, end)
    qs = appointments_visible_to(actor).filter(
        start_at__lt=end, start_at__gt=start - timedelta(hours=MAX_DURATION_HOURS), end_at__gt=start
    )
    if practitioner_ids:
        qs = qs.filter(practitioner_id__in=list(practitioner_ids))
    if room_id:
        qs = qs.filter(room_id=room_id)
    if patient_id:
        qs = qs.filter(patient_id=patient_id)
    if statuses:
        qs = qs.filter(status__in=list(statuses))
    elif not include_released:
        qs = qs.exclude(status__in=["cancelled", "no_show"])
    # An expired hold blocks nothing and is not shown.
    qs = qs.exclude(status="held", hold_expires_at__lte=timezone.now())
    return qs.order_by("start_at", "id")


def appointments_in_range(*, limit: int = 5000, **filters) -> list[Appointment]:
    """Appointments overlapping [start, end) as model rows, related rows prefetched."""
    return list(
        _range_queryset(**filters).select_related(
            "practitioner", "patient", "service", "location", "room"
        )[:limit]
    )


RANGE_COLUMNS = (
    "id",
    "kind",
    "status",
    "practitioner_id",
    "patient_id",
    "service_id",
    "location_id",
    "room_id",
    "start_at",
    "end_at",
    "occupied_start",
    "occupied_end",
    "modality",
    "notes",
    "series_id",
    "recurrence_date",
    "series_exception",
    "hold_id",
    "hold_expires_at",
    "cancelled_at",
    "cancel_reason",
    "late_cancel",
)


def _ts(column: str) -> str:
    """SQL text of a timestamptz as Python's `isoformat()` of the UTC value writes it (seconds
    always, six fraction digits only when there are microseconds, `+00:00`); NULL stays NULL.
    Independent of the session's TimeZone."""
    utc = f"({column} AT TIME ZONE 'UTC')"
    return (
        f"(to_char({utc}, 'YYYY-MM-DD\"T\"HH24:MI:SS') || CASE WHEN date_trunc('second', "
        f"{column}) = {column} THEN '' ELSE to_char({utc}, '.US') END || '+00:00')"
    )


# The range scan stays alone in a MATERIALIZED CTE (the plan of the scan never sees the joins);
# the names are then joined by primary key to its at most `limit + 1` rows, and the rows become
# the response's `items` JSON in PostgreSQL, in the shape of `api.appointment_out`.
_RANGE_JSON = f"""
WITH a AS MATERIALIZED ({{scan}}),
     page AS (SELECT * FROM a ORDER BY a.start_at, a.id LIMIT %s)
SELECT (SELECT count(*) FROM a),
       (SELECT coalesce(json_agg(json_build_object(
          'id', a.id,
          'kind', a.kind,
          'status', a.status,
          'practitioner', json_build_object(
            'id', a.practitioner_id, 'name', pr.display_name, 'colour', pr.colour),
          'patient', CASE WHEN a.patient_id IS NOT NULL THEN json_build_object(
            'id', a.patient_id,
            'name', btrim(coalesce(nullif(pa.preferred_name, ''), pa.given_name) || ' '
                          || pa.family_name, E' \\t\\n\\r\\f\\v')) END,
          'service', CASE WHEN a.service_id IS NOT NULL THEN json_build_object(
            'id', a.service_id, 'name', s.name, 'colour', s.colour,
            'duration_minutes', s.duration_minutes) END,
          'location', json_build_object(
            'id', a.location_id, 'name', l.name, 'time_zone', l.time_zone),
          'room', CASE WHEN a.room_id IS NOT NULL THEN json_build_object(
            'id', a.room_id, 'name', r.name) END,
          'start', {_ts("a.start_at")},
          'end', {_ts("a.end_at")},
          'occupied_start', {_ts("a.occupied_start")},
          'occupied_end', {_ts("a.occupied_end")},
          'modality', a.modality,
          'notes', CASE WHEN %s THEN NULL ELSE a.notes END,
          'series_id', a.series_id,
          'recurrence_date', a.recurrence_date,
          'series_exception', a.series_exception,
          'hold_id', a.hold_id,
          'hold_expires_at', {_ts("a.hold_expires_at")},
          'cancelled_at', {_ts("a.cancelled_at")},
          'cancel_reason', a.cancel_reason,
          'late_cancel', a.late_cancel,
          'outside_availability', false,
          'allowed_transitions', coalesce(%s::json -> a.status, '[]'::json){{links}}
        ) ORDER BY a.start_at, a.id), '[]'::json)::text
          FROM page a
          LEFT JOIN directory_practitioner pr
            ON pr.id = a.practitioner_id AND pr.organization_id = a.organization_id
          LEFT JOIN directory_patient pa
            ON pa.id = a.patient_id AND pa.organization_id = a.organization_id
          LEFT JOIN directory_service s
            ON s.id = a.service_id AND s.organization_id = a.organization_id
          LEFT JOIN directory_location l
            ON l.id = a.location_id AND l.organization_id = a.organization_id
          LEFT JOIN directory_room r
            ON r.id = a.room_id AND r.organization_id = a.organization_id)
"""


@dataclass
class RangeJson:
    items: str  # a JSON array, ready to be written into the response as it is
    count: int
    truncated: bool


def appointments_range_json(
    *, limit: int = 5000, hide_notes: bool, links: Mapping[str, Expression] | None = None, **filters
) -> RangeJson:
    """The calendar's read, ONE query whatever the range: the items of the range endpoint as
    JSON text built by PostgreSQL (Python only wraps it), at most `limit` of them, and whether
    there were more.

    The range scan (`_range_queryset`, the actor's scope included) runs alone in a MATERIALIZED
    CTE, so its plan is the one of the plain scan on (organization, practitioner, start_at) and
    does not change with the size of the table (five joins in the same query under RLS led the
    planner to scan by location at 1M rows); the names are joined by primary key to its
    `limit + 1` rows only."""
    from clinic.scheduling import status as machine

    links = dict(links or {})
    assert all(name.isidentifier() for name in links), links
    scan = _range_queryset(**filters).values(*RANGE_COLUMNS, "organization_id", **links)[
        : limit + 1
    ]
    scan_sql, scan_params = scan.query.sql_with_params()
    transitions = json.dumps({s: machine.allowed_from(s) for s in machine.TRANSITIONS})
    extra = "".join(f",\n          '{name}', a.{name}" for name in links)
    with connection.cursor() as cur:
        cur.execute(
            _RANGE_JSON.format(scan=scan_sql, links=extra),
            (*scan_params, limit, hide_notes, transitions),
        )
        count, items = cur.fetchone()
    return RangeJson(items=items, count=min(count, limit), truncated=count > limit)


def appointment_links(
    appointment_ids: Iterable, links: Mapping[str, Expression]
) -> dict[uuid.UUID, dict[str, Any]]:
    """{appointment id: {link name: value}} for the given appointments, in one query: the same
    `links` expressions (subqueries on `OuterRef("pk")` given by the modules above scheduling,
    e.g. the plan and the invoice) that `appointments_range_json` adds to its items."""
    ids = list(appointment_ids)
    if not links:
        return {i: {} for i in ids}
    found = {i: dict.fromkeys(links) for i in ids}
    for row in Appointment.objects.filter(id__in=ids).values("id", **links):
        found[row.pop("id")] = row
    return found


# --- availability and busy time -----------------------------------------------------------------


def practitioner_locations(practitioners: Iterable[Practitioner]) -> dict[uuid.UUID, set]:
    """Where each practitioner works: the default location and the location of every weekly
    rule that has not ended (one query), so a location filter also shows visitors."""
    practitioners = list(practitioners)
    works_at = {
        p.id: {p.default_location_id} if p.default_location_id else set() for p in practitioners
    }
    for practitioner_id, location_id in (
        AvailabilityRule.objects.filter(practitioner_id__in=[p.id for p in practitioners])
        .filter(Q(effective_to__isnull=True) | Q(effective_to__gte=timezone.localdate()))
        .values_list("practitioner_id", "location_id")
        .distinct()
    ):
        works_at.setdefault(practitioner_id, set()).add(location_id)
    return works_at


def weekly_plain_rules(*, practitioner_id, location_id) -> QuerySet:
    """The rules the weekly editor shows and replaces: open-ended, any modality, no maximum."""
    return AvailabilityRule.objects.filter(
        practitioner_id=practitioner_id,
        location_id=location_id,
        effective_from__isnull=True,
        effective_to__isnull=True,
        modality="",
        max_appointments__isnull=True,
    )


def _rules_query(
    practitioner_filter: Q,
    start: datetime,
    end: datetime,
    *,
    location_id=None,
    modality: str | None = None,
):
    first = (start - timedelta(days=2)).date()
    last = (end + timedelta(days=2)).date()
    # A rule at an archived location gives no window (nothing can be booked there).
    qs = AvailabilityRule.objects.filter(practitioner_filter, location__is_active=True).filter(
        Q(effective_from__isnull=True) | Q(effective_from__lte=last),
        Q(effective_to__isnull=True) | Q(effective_to__gte=first),
    )
    if location_id:
        qs = qs.filter(location_id=location_id)
    if modality:
        qs = qs.filter(Q(modality="") | Q(modality=modality))
    return qs.values_list(
        "practitioner_id",
        "location_id",
        "location__time_zone",
        "weekday",
        "start_time",
        "end_time",
        "effective_from",
        "effective_to",
        "max_appointments",
        "interval_weeks",
        "anchor_date",
    )


def _rule_rows(rows: Iterable[tuple]) -> list[slotmath.RuleRow]:
    return [
        slotmath.RuleRow(p, loc, tz(zone), wd, st, et, ef, eto, mx, every, anchor)
        for p, loc, zone, wd, st, et, ef, eto, mx, every, anchor in rows
    ]


# Instants travel as integer microseconds since the epoch: thousands of busy intervals are read
# per search, and integers cost a fraction of timestamp parsing.
_US = "(extract(epoch FROM {})::numeric * 1000000)::bigint"
_BUSY_FILTER = """
 WHERE a.organization_id = %(org)s
   AND a.practitioner_id = ANY(%(practitioners)s::uuid[])
   AND a.occupied_start < %(end)s AND a.occupied_start > %(start_bound)s
   AND a.occupied_end > %(start)s
   AND a.status NOT IN ('cancelled', 'no_show')
   AND NOT (a.status = 'held' AND a.hold_expires_at <= %(now)s)
   AND NOT (a.id = ANY(%(ignore)s::uuid[]))"""
# Each appointment on its own (needed when a rule caps the appointments per day)...
_BUSY_ROWS = f"""
SELECT 'busy' AS kind, a.practitioner_id, {_US.format("a.occupied_start")},
       {_US.format("a.occupied_end")},
       CASE WHEN a.kind <> 'block' THEN {_US.format("a.start_at")} END, NULL::uuid, NULL::text,
       NULL::bigint[], NULL::bigint[]
  FROM scheduling_appointment a {_BUSY_FILTER}"""
# ... or merged per practitioner with a multirange (back-to-back days become a few intervals),
# one row per practitioner with the bounds as two arrays (parsed in C, not row by row).
_BUSY_MERGED = f"""
SELECT 'busy' AS kind, m.practitioner_id, NULL::bigint, NULL::bigint, NULL::bigint, NULL::uuid,
       NULL::text, ARRAY(SELECT {_US.format("lower(r)")} FROM unnest(m.busy) r),
       ARRAY(SELECT {_US.format("upper(r)")} FROM unnest(m.busy) r)
  FROM (SELECT a.practitioner_id, range_agg(tstzrange(a.occupied_start, a.occupied_end)) AS busy
          FROM scheduling_appointment a {_BUSY_FILTER}
         GROUP BY a.practitioner_id) m"""
_BUSY_REST = f"""
UNION ALL
SELECT 'patient', NULL::uuid, {_US.format("a.start_at")}, {_US.format("a.end_at")}, NULL,
       NULL::uuid, NULL::text, NULL, NULL
  FROM scheduling_appointment a
 WHERE %(patient)s::uuid IS NOT NULL AND a.organization_id = %(org)s
   AND a.patient_id = %(patient)s::uuid AND a.kind <> 'group'
   AND a.start_at < %(end)s AND a.start_at > %(start_bound)s AND a.end_at > %(start)s
   AND a.status NOT IN ('cancelled', 'no_show')
   AND NOT (a.status = 'held' AND a.hold_expires_at <= %(now)s)
   AND NOT (a.id = ANY(%(ignore)s::uuid[]))
UNION ALL
SELECT e.kind, e.practitioner_id, {_US.format("e.start_at")}, {_US.format("e.end_at")}, NULL,
       e.location_id, l.time_zone, NULL, NULL
  FROM scheduling_availabilityexception e
  LEFT JOIN directory_location l ON l.id = e.location_id
 WHERE e.organization_id = %(org)s
   AND e.practitioner_id = ANY(%(practitioners)s::uuid[])
   AND e.start_at < %(end)s AND e.end_at > %(start)s
   AND (e.kind <> 'extra' OR l.is_active)
UNION ALL
SELECT 'blocked', t.practitioner_id, {_US.format("t.start_at")}, {_US.format("t.end_at")}, NULL,
       NULL::uuid, NULL::text, NULL, NULL
  FROM scheduling_timeoff t
 WHERE t.organization_id = %(org)s AND t.status = 'approved'
   AND t.practitioner_id = ANY(%(practitioners)s::uuid[])
   AND t.start_at < %(end)s AND t.end_at > %(start)s
UNION ALL
SELECT 'closed', p.id, {_US.format("c.start_at")}, {_US.format("c.end_at")}, NULL,
       c.location_id, NULL::text, NULL, NULL
  FROM scheduling_closure c CROSS JOIN unnest(%(practitioners)s::uuid[]) AS p(id)
 WHERE c.organization_id = %(org)s AND c.start_at < %(end)s AND c.end_at > %(start)s
"""
BUSY_SQL = _BUSY_ROWS + _BUSY_REST
BUSY_MERGED_SQL = _BUSY_MERGED + _BUSY_REST


def _instant(microseconds: int | None) -> datetime | None:
    return None if microseconds is None else slotmath.instant(microseconds)


@dataclass
class BusyData:
    """What stands in the way, instants in microseconds since the epoch (the slot arithmetic's
    form): occupied intervals per practitioner, the patient's own appointments, and the starts
    of the appointments that count towards a daily maximum (read one by one, not merged)."""

    busy: dict[uuid.UUID, list[tuple[int, int]]] = field(default_factory=dict)
    patient_busy: list[tuple[int, int]] = field(default_factory=list)
    counted: list[tuple[uuid.UUID, datetime]] = field(default_factory=list)
    exceptions: list[slotmath.ExceptionRow] = field(default_factory=list)

    def appointments_on(self, day, zone: ZoneInfo) -> int:
        """Appointments starting on this local day (for a rule's daily maximum)."""
        return sum(1 for _p, start in self.counted if start.astimezone(zone).date() == day)


def busy_load(
    *,
    practitioner_ids: Sequence[uuid.UUID],
    start: datetime,
    end: datetime,
    patient_id: uuid.UUID | None = None,
    ignore_ids: Sequence[uuid.UUID] = (),
    merged: bool = False,
) -> BusyData:
    """Busy intervals (appointments, live holds, blocks), the patient's own appointments and the
    availability exceptions of all the given practitioners over [start, end) — approved time off
    read as blocked exceptions, closures as "closed" ones (per practitioner): ONE query.
    `merged`: the busy time of each practitioner as a union (multirange) — when no daily
    maximum needs the appointments counted one by one."""
    data = BusyData()
    if not practitioner_ids:
        return data
    now = timezone.now()
    with connection.cursor() as cur:
        cur.execute(
            BUSY_MERGED_SQL if merged else BUSY_SQL,
            {
                "org": connection_org(),
                "practitioners": [str(p) for p in practitioner_ids],
                "start": start,
                "end": end,
                "start_bound": start - MAX_OCCUPIED,
                "now": now,
                "patient": patient_id,
                "ignore": [str(i) for i in ignore_ids],
            },
        )
        rows = cur.fetchall()
    for kind, practitioner_id, s, e, counted, location_id, zone, starts, ends in rows:
        if kind == "busy":
            intervals = data.busy.setdefault(practitioner_id, [])
            if starts is not None:  # merged: all of the practitioner's intervals at once
                intervals.extend(zip(starts, ends, strict=True))
                continue
            intervals.append((s, e))
            if counted is not None:
                data.counted.append((practitioner_id, _instant(counted)))
        elif kind == "patient":
            data.patient_busy.append((s, e))
        else:
            data.exceptions.append(
                slotmath.ExceptionRow(
                    practitioner_id,
                    kind,
                    _instant(s),
                    _instant(e),
                    location_id,
                    tz(zone) if zone else None,
                )
            )
    return data


def connection_org() -> uuid.UUID:
    from clinic.core.tenancy import require_org_id

    return require_org_id()


def connection_org_zone() -> str:
    """The current organization's default IANA zone (for places with no location)."""
    zone = Organization.objects.filter(id=connection_org()).values_list("time_zone", flat=True)
    return zone.first() or "UTC"


def availability_for(
    *,
    practitioner_id: uuid.UUID,
    start: datetime,
    end: datetime,
    ignore_ids: Sequence[uuid.UUID] = (),
    modality: str | None = None,
):
    """(windows, busy data) of one practitioner around [start, end): two queries. With a
    modality, rules restricted to another modality give no window (as in the slot search)."""
    span_start, span_end = start - timedelta(days=1), end + timedelta(days=1)
    rules = _rule_rows(
        _rules_query(
            Q(practitioner_id=practitioner_id), span_start, span_end, modality=modality or None
        )
    )
    data = busy_load(
        practitioner_ids=[practitioner_id], start=span_start, end=span_end, ignore_ids=ignore_ids
    )
    windows = slotmath.windows_build(rules, data.exceptions, span_start, span_end)
    return windows.get(practitioner_id, []), data


def availability_of_many(
    *, practitioner_ids: Sequence[uuid.UUID], start: datetime, end: datetime
) -> tuple[dict[uuid.UUID, list[slotmath.Window]], BusyData]:
    """(windows per practitioner, busy data) of many practitioners around [start, end): two
    queries whatever their number (coverage suggestions judge many appointments at once)."""
    if not practitioner_ids:
        return {}, BusyData()
    span_start, span_end = start - timedelta(days=1), end + timedelta(days=1)
    rules = _rule_rows(
        _rules_query(Q(practitioner_id__in=list(practitioner_ids)), span_start, span_end)
    )
    data = busy_load(practitioner_ids=practitioner_ids, start=span_start, end=span_end)
    return slotmath.windows_build(rules, data.exceptions, span_start, span_end), data


def availability_check(
    *,
    practitioner_id: uuid.UUID,
    occupied_start: datetime,
    occupied_end: datetime,
    start: datetime,
    location_id=None,
    ignore_ids: Sequence[uuid.UUID] = (),
    modality: str | None = None,
) -> tuple[bool, str, object]:
    """Is this occupied range inside the practitioner's working hours for this modality (and
    under the day's maximum)? Returns (ok, reason code, window)."""
    windows, data = availability_for(
        practitioner_id=practitioner_id,
        start=occupied_start,
        end=occupied_end,
        ignore_ids=ignore_ids,
        modality=modality,
    )
    day_count = 0
    for window in windows:
        if window.start <= occupied_start < window.end and window.max_appointments:
            day_count = data.appointments_on(start.astimezone(window.tz).date(), window.tz)
            break
    return slotmath.fits(
        windows=windows,
        occupied_start=occupied_start,
        occupied_end=occupied_end,
        location_id=location_id,
        day_count=day_count,
    )


@dataclass
class WorkingTime:
    """What the calendar shades: the practitioners' working windows (weekly rules and extra
    hours, blocked time cut out) and the blocked exceptions with their labels."""

    windows: list[dict]
    blocked: list[dict]


def availability_windows(
    actor: Membership, *, practitioner_ids: Sequence[uuid.UUID], start: datetime, end: datetime
) -> WorkingTime:
    """Working windows and blocked time of these practitioners over [start, end), for the
    calendar: two queries (rules; exceptions, time off and closures) whatever the range or the
    number of practitioners, the windows computed by the slot engine (slots.windows_build).
    Practitioners outside the actor's scope are left out."""
    range_check(start, end)
    ids = list(dict.fromkeys(practitioner_ids))
    if not actor.has("availability.view_all"):
        scope = set(practitioner_ids_scope(actor) or [])
        ids = [i for i in ids if i in scope]
    if not ids:
        return WorkingTime([], [])
    span_start, span_end = start - timedelta(days=1), end + timedelta(days=1)
    rules = _rule_rows(_rules_query(Q(practitioner_id__in=ids), span_start, span_end))
    rows, away = calendar_blocks(practitioner_ids=ids, start=start, end=end)
    exceptions = [
        slotmath.ExceptionRow(p, kind, s, e, loc, tz(zone) if zone else None)
        for p, kind, s, e, loc, zone, _reason in rows
    ]
    # Approved time off and closures remove working hours too (pending time off only shows).
    exceptions += [
        slotmath.ExceptionRow(
            item["practitioner_id"], item["cut"], item["start"], item["end"], item["location_id"]
        )
        for item in away
        if item["cut"]
    ]
    built = slotmath.windows_build(rules, exceptions, start, end)
    windows = [
        {
            "practitioner_id": practitioner_id,
            "location_id": w.location_id,
            "start": max(part_start, start),
            "end": min(part_end, end),
        }
        for practitioner_id, items in built.items()
        for w in items
        for part_start, part_end in w.free
        if part_start < end and part_end > start
    ]
    windows.sort(key=lambda w: (w["start"], str(w["practitioner_id"])))
    labels = dict(ExceptionKind.choices)
    blocked = [
        {
            "practitioner_id": p,
            "start": s,
            "end": e,
            "label": reason or str(labels[ExceptionKind.BLOCKED]),
        }
        for p, kind, s, e, _loc, _zone, reason in rows
        if kind == ExceptionKind.BLOCKED
    ]
    blocked += [{k: item[k] for k in ("practitioner_id", "start", "end", "label")} for item in away]
    blocked.sort(key=lambda b: (b["start"], str(b["practitioner_id"])))
    return WorkingTime(windows, blocked)


CALENDAR_BLOCKS_SQL = """
SELECT 'exception', e.practitioner_id, e.kind, e.start_at, e.end_at, e.location_id,
       l.time_zone, e.reason
  FROM scheduling_availabilityexception e
  LEFT JOIN directory_location l ON l.id = e.location_id
 WHERE e.organization_id = %(org)s
   AND e.practitioner_id = ANY(%(practitioners)s::uuid[])
   AND e.start_at < %(end)s AND e.end_at > %(start)s
   AND (e.kind = 'blocked' OR l.is_active)
UNION ALL
SELECT 'time_off', t.practitioner_id, t.status, t.start_at, t.end_at, NULL::uuid, NULL, t.type
  FROM scheduling_timeoff t
 WHERE t.organization_id = %(org)s AND t.status IN ('pending', 'approved')
   AND t.practitioner_id = ANY(%(practitioners)s::uuid[])
   AND t.start_at < %(end)s AND t.end_at > %(start)s
UNION ALL
SELECT 'closure', p.id, NULL, c.start_at, c.end_at, c.location_id, NULL, c.name
  FROM scheduling_closure c CROSS JOIN unnest(%(practitioners)s::uuid[]) AS p(id)
 WHERE c.organization_id = %(org)s AND c.start_at < %(end)s AND c.end_at > %(start)s
"""


def calendar_blocks(
    *, practitioner_ids: Sequence[uuid.UUID], start: datetime, end: datetime
) -> tuple[list[tuple], list[dict]]:
    """What the calendar shades over [start, end) besides working hours, in ONE query: the
    availability exceptions (rows: practitioner, kind, start, end, location, zone, reason), and
    the pending and approved time off and the closures (dicts with a label; `cut` says how it
    removes working hours: "blocked" approved time off, "closed" a closure, "" pending time off,
    which only shows)."""
    if not practitioner_ids:
        return [], []
    with connection.cursor() as cur:
        cur.execute(
            CALENDAR_BLOCKS_SQL,
            {
                "org": connection_org(),
                "practitioners": [str(p) for p in practitioner_ids],
                "start": start,
                "end": end,
            },
        )
        rows = cur.fetchall()
    exceptions = [
        (p, kind, s, e, loc, zone, reason)
        for what, p, kind, s, e, loc, zone, reason in rows
        if what == "exception"
    ]
    rows = [
        (what, p, s, e, loc, kind, reason)
        for what, p, kind, s, e, loc, _zone, reason in rows
        if what != "exception"
    ]
    types = dict(TimeOffType.choices)
    out = []
    for what, practitioner_id, s, e, location_id, status, label in rows:
        if what == "time_off":
            text = str(types.get(label, label))
            if status == TimeOffStatus.PENDING:
                text = _("%(type)s (pending approval)") % {"type": text}
            cut = "blocked" if status == TimeOffStatus.APPROVED else ""
        else:
            text, cut = label, "closed"
        out.append(
            {
                "practitioner_id": practitioner_id,
                "start": s,
                "end": e,
                "location_id": location_id,
                "label": text,
                "cut": cut,
            }
        )
    return exceptions, out


def appointments_in_span(*, practitioner_id, start: datetime, end: datetime) -> list[Appointment]:
    """The practitioner's booked appointments (not cancelled, missed or finished; not blocked
    time) overlapping [start, end): what blocking this time would leave without a practitioner."""
    return list(
        Appointment.objects.filter(
            practitioner_id=practitioner_id, start_at__lt=end, end_at__gt=start
        )
        .exclude(kind=AppointmentKind.BLOCK)
        .exclude(
            status__in=[
                AppointmentStatus.CANCELLED,
                AppointmentStatus.NO_SHOW,
                AppointmentStatus.COMPLETED,
            ]
        )
        .select_related("patient", "service", "location")
        .order_by("start_at")[:200]
    )


def default_location_for(
    practitioner: Practitioner, start: datetime, *, windows=None
) -> uuid.UUID | None:
    """The location of the availability window covering `start`, else the practitioner's
    default location, else the organization's only location."""
    if windows is None:
        windows, _data = availability_for(practitioner_id=practitioner.id, start=start, end=start)
    for window in windows:
        if window.start <= start < window.end:
            return window.location_id
    if practitioner.default_location_id:
        return practitioner.default_location_id
    ids = list(Location.objects.filter(is_active=True).values_list("id", flat=True)[:2])
    return ids[0] if len(ids) == 1 else None


# --- slot search ----------------------------------------------------------------------------


@dataclass
class SlotSearch:
    service: Service
    slots: list[slotmath.Slot]
    granularity_minutes: int


def slots_find(
    *,
    service_id: uuid.UUID,
    start: datetime,
    end: datetime,
    practitioner_ids: Sequence[uuid.UUID] = (),
    location_id: uuid.UUID | None = None,
    modality: str | None = None,
    patient_id: uuid.UUID | None = None,
    limit: int = 200,
    not_before: datetime | None = None,
    ignore_ids: Sequence[uuid.UUID] = (),
    actor: Membership | None = None,
) -> SlotSearch:
    """Free start times for a service: three queries whatever the range and the number of
    practitioners (service + settings, rules of all candidates, busy time of all candidates).

    With an `actor` of the Patient role, `patient_id` must be one of the patients they may act
    for (themselves, their dependants): another patient's busy time is theirs to keep, so any
    other id is a 404 (checked in the service's query, no statement more). An archived service
    has no slot, nor have rules and extra hours at archived locations."""
    range_check(start, end, max_days=MAX_SLOT_RANGE_DAYS)
    granularity = SchedulingSettings.objects.filter(
        organization_id=OuterRef("organization_id")
    ).values("slot_granularity_minutes")[:1]
    service_qs = Service.objects.filter(id=service_id).annotate(granularity=Subquery(granularity))
    patient_check = actor is not None and actor.role == "patient" and patient_id is not None
    if patient_check:
        from django.db.models import Exists

        service_qs = service_qs.annotate(
            patient_visible=Exists(patients_of(actor).filter(id=patient_id))
        )
    service = service_qs.first()
    if service is None:
        raise ValidationFailed(
            _("Service not found."),
            details={"service_id": [_("No such service in this organization.")]},
        )
    if patient_check and not service.patient_visible:
        raise NotFound(_("Patient not found."))
    minutes = service.granularity or SchedulingSettings().slot_granularity_minutes
    if not service.is_active:
        # Nothing can be booked for it (the API answers 422 as booking does; alternatives and
        # pages simply show no slot).
        return SlotSearch(service=service, slots=[], granularity_minutes=minutes)
    candidates = PractitionerService.objects.filter(
        service_id=service.id, practitioner__is_active=True
    ).values("practitioner_id")
    practitioner_filter = Q(practitioner_id__in=candidates)
    if practitioner_ids:
        practitioner_filter &= Q(practitioner_id__in=list(practitioner_ids))
    before = timedelta(minutes=service.buffer_before_minutes)
    after = timedelta(minutes=service.buffer_after_minutes)
    duration = timedelta(minutes=service.duration_minutes)
    # Windows must cover the occupied range of a slot that starts inside [start, end).
    span_start, span_end = start - before, end + duration + after
    rules = _rule_rows(
        _rules_query(
            practitioner_filter,
            span_start,
            span_end,
            location_id=location_id,
            modality=modality or service.modality,
        )
    )
    ids = sorted({r.practitioner_id for r in rules})
    data = busy_load(
        practitioner_ids=ids,
        start=span_start,
        end=span_end,
        patient_id=patient_id,
        ignore_ids=ignore_ids,
        merged=not any(r.max_appointments for r in rules),
    )
    if location_id:
        data.exceptions = [
            e for e in data.exceptions if e.kind != "extra" or e.location_id == location_id
        ]
    windows = slotmath.windows_build(rules, data.exceptions, span_start, span_end)
    busy = data.busy
    if data.patient_busy:
        # The patient cannot be in two places: their appointments, widened by this service's
        # buffers, are busy time for every candidate.
        pre, post = slotmath.us(before), slotmath.us(after)
        own = [(s - pre, e + post) for s, e in data.patient_busy]
        busy = {p: busy.get(p, []) + own for p in ids}
    found = slotmath.slots_free(
        windows=windows,
        busy_us=busy,
        counts=slotmath.day_counts_of(data.counted, windows),
        range_start=start,
        range_end=end,
        duration=duration,
        before=before,
        after=after,
        granularity=timedelta(minutes=minutes),
        not_before=not_before if not_before is not None else timezone.now(),
        limit=limit,
    )
    return SlotSearch(service=service, slots=found, granularity_minutes=minutes)


def alternatives_find(
    *,
    service: Service | None,
    practitioner_id: uuid.UUID,
    after: datetime,
    count: int = 5,
    location_id=None,
    patient_id=None,
    ignore_ids: Sequence[uuid.UUID] = (),
) -> list[dict]:
    """The next free slots for the same practitioner and service (for 409 answers)."""
    if service is None:
        return []
    found = slots_find(
        service_id=service.id,
        start=after,
        end=after + timedelta(days=28),
        practitioner_ids=[practitioner_id],
        location_id=location_id,
        patient_id=patient_id,
        limit=count,
        ignore_ids=ignore_ids,
    ).slots
    return [
        {
            "start": s.start.isoformat(),
            "end": s.end.isoformat(),
            "practitioner_id": str(s.practitioner_id),
            "location_id": str(s.location_id),
        }
        for s in found
    ]


# --- conflicts ----------------------------------------------------------------------------------


CONFLICTS_SQL = """
WITH wanted(idx, practitioner_id, room_id, patient_id, occ_start, occ_end, start_at, end_at)
  AS (SELECT * FROM unnest(%(idx)s::int[], %(practitioners)s::uuid[], %(rooms)s::uuid[],
                           %(patients)s::uuid[], %(occ_starts)s::timestamptz[],
                           %(occ_ends)s::timestamptz[], %(starts)s::timestamptz[],
                           %(ends)s::timestamptz[]))
SELECT w.idx, a.id, a.start_at, a.end_at, a.status, a.kind, a.hold_expires_at,
       (a.practitioner_id = w.practitioner_id AND NOT a.allows_overlap
        AND tstzrange(a.occupied_start, a.occupied_end) && tstzrange(w.occ_start, w.occ_end)),
       (w.room_id IS NOT NULL AND a.room_id = w.room_id AND a.room_exclusive
        AND tstzrange(a.start_at, a.end_at) && tstzrange(w.start_at, w.end_at)),
       (w.patient_id IS NOT NULL AND a.patient_id = w.patient_id AND a.kind <> 'group'
        AND tstzrange(a.start_at, a.end_at) && tstzrange(w.start_at, w.end_at))
  FROM wanted w
  JOIN scheduling_appointment a
    ON a.organization_id = %(org)s
   AND a.status NOT IN ('cancelled', 'no_show')
   AND NOT (a.status = 'held' AND a.hold_expires_at <= %(now)s)
   AND NOT (a.id = ANY(%(ignore)s))
   AND ((a.practitioner_id = w.practitioner_id AND NOT a.allows_overlap
         AND a.occupied_start < w.occ_end AND a.occupied_end > w.occ_start
         AND a.occupied_start > w.occ_start - %(bound)s::interval)
     OR (w.room_id IS NOT NULL AND a.room_id = w.room_id AND a.room_exclusive
         AND a.start_at < w.end_at AND a.end_at > w.start_at
         AND a.start_at > w.start_at - %(bound)s::interval)
     OR (w.patient_id IS NOT NULL AND a.patient_id = w.patient_id AND a.kind <> 'group'
         AND a.start_at < w.end_at AND a.end_at > w.start_at
         AND a.start_at > w.start_at - %(bound)s::interval))
 ORDER BY w.idx, a.start_at
"""


@dataclass
class Wanted:
    practitioner_id: uuid.UUID
    room_id: uuid.UUID | None
    patient_id: uuid.UUID | None
    occupied_start: datetime
    occupied_end: datetime
    start: datetime
    end: datetime
    strict_practitioner: bool = True
    room_exclusive: bool = True


@dataclass
class ConflictRow:
    index: int
    id: uuid.UUID
    start: datetime
    end: datetime
    status: str
    kind: str
    hold_expires_at: datetime | None
    on: list[str]


def conflicts_find(
    wanted: Sequence[Wanted], *, ignore_ids: Sequence[uuid.UUID] = ()
) -> list[ConflictRow]:
    """Existing live rows that overlap any of the wanted bookings on practitioner, exclusive
    room or patient: ONE query for any number of wanted bookings (series, multi-slot holds)."""
    if not wanted:
        return []
    params = {
        "org": connection_org(),
        "now": timezone.now(),
        "ignore": list(ignore_ids),
        "bound": MAX_OCCUPIED,
        "idx": list(range(len(wanted))),
        "practitioners": [w.practitioner_id for w in wanted],
        "rooms": [w.room_id if w.room_exclusive else None for w in wanted],
        "patients": [w.patient_id for w in wanted],
        "occ_starts": [w.occupied_start for w in wanted],
        "occ_ends": [w.occupied_end for w in wanted],
        "starts": [w.start for w in wanted],
        "ends": [w.end for w in wanted],
    }
    out = []
    with connection.cursor() as cur:
        cur.execute(CONFLICTS_SQL, params)
        for idx, id_, s, e, status, kind, expires, on_p, on_r, on_pat in cur.fetchall():
            on = [
                name
                for name, flag in (
                    ("practitioner", on_p and wanted[idx].strict_practitioner),
                    ("room", on_r),
                    ("patient", on_pat),
                )
                if flag
            ]
            if on:
                out.append(ConflictRow(idx, id_, s, e, status, kind, expires, on))
    return out


def visible_ids(actor: Membership, ids: Iterable[uuid.UUID]) -> set[uuid.UUID]:
    ids = list(ids)
    if not ids:
        return set()
    if actor.has(VIEW_ALL):
        return set(ids)
    return set(appointments_visible_to(actor).filter(id__in=ids).values_list("id", flat=True))


def conflict_details(actor: Membership, rows: Sequence[ConflictRow]) -> list[dict]:
    """What the caller may see of each conflict: id and kind only for rows they can see."""
    seen = visible_ids(actor, [r.id for r in rows])
    out = []
    for r in rows:
        item = {
            "start": r.start.isoformat(),
            "end": r.end.isoformat(),
            "on": r.on,
            "held": r.status == "held",
        }
        if r.id in seen:
            item.update({"id": str(r.id), "status": r.status, "kind": r.kind})
        out.append(item)
    return out


# --- availability lists ------------------------------------------------------------------------


def rules_list(actor: Membership, *, practitioner_id=None) -> QuerySet:
    qs = AvailabilityRule.objects.select_related("location").order_by(
        "practitioner_id", "weekday", "start_time"
    )
    scope = practitioner_ids_scope(actor)
    if scope is not None and not actor.has("availability.view_all"):
        qs = qs.filter(practitioner_id__in=scope)
    if practitioner_id:
        qs = qs.filter(practitioner_id=practitioner_id)
    return qs


def exceptions_list(actor: Membership, *, practitioner_id=None, start=None, end=None) -> QuerySet:
    qs = AvailabilityException.objects.select_related("location").order_by("start_at")
    scope = practitioner_ids_scope(actor)
    if scope is not None and not actor.has("availability.view_all"):
        qs = qs.filter(practitioner_id__in=scope)
    if practitioner_id:
        qs = qs.filter(practitioner_id=practitioner_id)
    if start:
        qs = qs.filter(end_at__gt=start)
    if end:
        qs = qs.filter(start_at__lt=end)
    return qs


def rule_for_actor(actor: Membership, rule_id) -> AvailabilityRule:
    found = rules_list(actor).filter(id=rule_id).first()
    if found is None:
        raise NotFound(_("Availability rule not found."))
    return found


def exception_for_actor(actor: Membership, exception_id) -> AvailabilityException:
    found = exceptions_list(actor).filter(id=exception_id).first()
    if found is None:
        raise NotFound(_("Availability exception not found."))
    return found


def practitioners_for_calendar(
    actor: Membership, *, location_id=None, service_id=None
) -> list[Practitioner]:
    qs = Practitioner.objects.filter(is_active=True).order_by("display_name")
    scope = practitioner_ids_scope(actor)
    if scope is not None and not actor.has("calendar.view_all"):
        qs = qs.filter(id__in=scope)
    if service_id:
        qs = qs.filter(
            id__in=PractitionerService.objects.filter(service_id=service_id).values(
                "practitioner_id"
            )
        )
    if location_id:
        qs = qs.filter(
            Q(default_location_id=location_id)
            | Q(
                id__in=AvailabilityRule.objects.filter(location_id=location_id).values(
                    "practitioner_id"
                )
            )
        )
    return list(qs)


def patients_search(actor: Membership, query: str, *, limit: int = 15) -> list[Patient]:
    """Patient picker for booking (the directory's ranked search), active patients only."""
    from clinic.directory.selectors import patient_search, patients_visible_to

    qs = patients_visible_to(actor).filter(archived_at__isnull=True)
    query = (query or "").strip()
    if query:
        return list(patient_search(qs, query)[:limit])
    return list(qs.order_by("family_name", "given_name")[:limit])


# --- a patient's chart ----------------------------------------------------------------------------


def _patient_appointments(actor: Membership, patient_id) -> QuerySet:
    # holds are a booking in progress, not part of the patient's history
    return (
        appointments_visible_to(actor)
        .filter(patient_id=patient_id)
        .exclude(status=AppointmentStatus.HELD)
        .select_related("practitioner", "service", "location")
    )


@dataclass
class PatientAppointments:
    upcoming: list[Appointment]
    past: list[Appointment]


def patient_appointments(
    actor: Membership, *, patient_id, now: datetime | None = None, limit: int = 10
) -> PatientAppointments:
    """The chart's appointment lists (2 queries): what is still to come (not cancelled), soonest
    first, and what has started, latest first, with their status."""
    now = now or timezone.now()
    qs = _patient_appointments(actor, patient_id)
    upcoming = (
        qs.filter(start_at__gte=now)
        .exclude(status__in=[s.value for s in RELEASED_STATUSES])
        .order_by("start_at", "id")[:limit]
    )
    past = qs.filter(start_at__lt=now).order_by("-start_at", "-id")[:limit]
    return PatientAppointments(upcoming=list(upcoming), past=list(past))


def appointment_title(appointment: Appointment) -> str:
    service = appointment.service.name if appointment.service_id else _("Appointment")
    return f"{service} — {appointment.practitioner.display_name}"


def patient_appointments_timeline(
    actor: Membership, *, patient_id, before: Cursor | None = None, limit: int = 20
) -> list[TimelineItem]:
    """The patient's appointments as timeline items (at: the start), newest first, after
    `before`, at most `limit + 1` (one query)."""
    rows = (
        _patient_appointments(actor, patient_id)
        .filter(before_q(before, kind="appointment", at_field="start_at"))
        .order_by(*timeline_order("start_at"))[: limit + 1]
    )
    statuses = dict(AppointmentStatus.choices)
    return [
        TimelineItem(
            kind="appointment",
            at=a.start_at,
            title=appointment_title(a),
            status=a.status,
            status_label=str(statuses.get(a.status, a.status)),
            object_id=a.id,
            url=reverse("scheduling:appointment_detail", args=[a.id]),
            place=a.location.time_zone or None,
        )
        for a in rows
    ]


# --- the day at the desk ------------------------------------------------------------------------

# Statuses of a patient who has arrived (counted in the day's figures).
ARRIVED_STATUSES = (
    AppointmentStatus.CHECKED_IN,
    AppointmentStatus.IN_PROGRESS,
    AppointmentStatus.COMPLETED,
)


def day_appointments(*, actor: Membership, day: date) -> list[Appointment]:
    """The actor's appointments with a patient (not holds, not blocked time) that start on `day`
    in the wall time of their location, by start time, related rows loaded: one query whatever
    their number. A clinic's locations may be in different zones, so the read takes every
    instant that is `day` somewhere (UTC-12 to UTC+14) and keeps the rows whose local date is
    `day` (an appointment at 00:30 in Kolkata is on that day, not on the previous UTC day)."""
    start = datetime.combine(day, time(0), tzinfo=UTC) - timedelta(hours=14)
    end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=UTC) + timedelta(hours=12)
    rows = (
        appointments_visible_to(actor)
        .filter(start_at__gte=start, start_at__lt=end, kind=AppointmentKind.INDIVIDUAL)
        .exclude(status=AppointmentStatus.HELD)
        .select_related("practitioner", "patient", "service", "location", "room")
        .order_by("start_at", "practitioner__display_name", "id")
    )
    return [a for a in rows if timefmt.localize(a.start_at, a).date() == day]


def day_by_practitioner(appointments: Sequence[Appointment]) -> list[tuple[Practitioner, list]]:
    """The day's appointments grouped by practitioner (by name), each group by start time."""
    groups: dict[uuid.UUID, tuple[Practitioner, list]] = {}
    for a in appointments:
        groups.setdefault(a.practitioner_id, (a.practitioner, []))[1].append(a)
    return sorted(groups.values(), key=lambda g: (g[0].display_name.lower(), str(g[0].id)))


def day_waiting(appointments: Sequence[Appointment]) -> list[Appointment]:
    """Patients who have arrived and are not yet seen, longest waiting first (`since`: when
    they were checked in)."""
    waiting = [a for a in appointments if a.status == AppointmentStatus.CHECKED_IN]
    for a in waiting:
        a.waiting_since = a.status_changed_at or a.start_at
    return sorted(waiting, key=lambda a: a.waiting_since)


def day_unconfirmed(appointments: Sequence[Appointment]) -> list[Appointment]:
    """Booked but not yet confirmed (by the patient's reply or by the front desk)."""
    return [a for a in appointments if a.status == AppointmentStatus.SCHEDULED]


def day_figures(appointments: Sequence[Appointment]) -> dict[str, int]:
    """The day's counts: booked (everything on the books but cancellations), arrived (checked
    in, in progress or completed), completed, no-shows and cancellations."""
    statuses = [a.status for a in appointments]
    return {
        "booked": sum(1 for s in statuses if s != AppointmentStatus.CANCELLED),
        "arrived": sum(1 for s in statuses if s in ARRIVED_STATUSES),
        "completed": statuses.count(AppointmentStatus.COMPLETED),
        "no_shows": statuses.count(AppointmentStatus.NO_SHOW),
        "cancellations": statuses.count(AppointmentStatus.CANCELLED),
    }


def appointment_actions(appointment: Appointment, *, now: datetime) -> frozenset[str]:
    """The statuses the appointment may move to at `now` (the status machine's transitions;
    those that need the appointment to have started, such as a no-show, only once it has)."""
    started = now >= appointment.start_at
    return frozenset(
        s
        for s in machine.allowed_from(appointment.status)
        if started or s not in machine.AFTER_START_ONLY
    )


def upcoming_for_actor(actor: Membership, *, now: datetime, limit: int = 5) -> list[Appointment]:
    """The next live appointments the actor may see (a patient: their own and their
    dependants'), soonest first."""
    return list(
        appointments_visible_to(actor)
        .filter(LIVE, start_at__gte=now, kind=AppointmentKind.INDIVIDUAL)
        .exclude(status=AppointmentStatus.HELD)
        .select_related("practitioner", "patient", "service", "location")
        .order_by("start_at", "id")[:limit]
    )
