"""Reads for time off and closures: access helpers (fetch and authorise in one call), lists,
the appointments a time off affects and the practitioners who could cover them."""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from django.db.models import Case, Count, OuterRef, Q, QuerySet, Subquery, When
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from clinic.accounts.models import Membership
from clinic.core.errors import NotFound
from clinic.directory.models import PractitionerService
from clinic.scheduling import selectors as scheduling
from clinic.scheduling import slots as slotmath
from clinic.scheduling.models import (
    Appointment,
    AppointmentKind,
    AppointmentStatus,
    Closure,
    TimeOff,
    TimeOffStatus,
)

VIEW_ALL = "availability.view_all"
# What a time off leaves without a practitioner: booked (not finished) appointments and holds.
AFFECTED_STATUSES = (
    AppointmentStatus.HELD,
    AppointmentStatus.SCHEDULED,
    AppointmentStatus.CONFIRMED,
    AppointmentStatus.CHECKED_IN,
)


def time_off_visible_to(actor: Membership) -> QuerySet:
    """Everyone's time off for those who see every schedule, else the actor's own."""
    qs = TimeOff.objects.all()
    if not actor.has(VIEW_ALL):
        qs = qs.filter(practitioner__membership_id=actor.id)
    return qs


def time_off_for_actor(actor: Membership, time_off_id, *, for_update: bool = False) -> TimeOff:
    qs = time_off_visible_to(actor).select_related("practitioner__default_location", "location")
    if for_update:
        qs = qs.select_for_update(of=("self",))
    found = qs.filter(id=time_off_id).first()
    if found is None:
        raise NotFound(_("Time off not found."))
    return found


def _affected_filter(prefix: str = "") -> Q:
    """Appointments of the time off's practitioner overlapping it (an OuterRef-able filter)."""
    return Q(
        practitioner_id=OuterRef(f"{prefix}practitioner_id"),
        start_at__lt=OuterRef(f"{prefix}end_at"),
        end_at__gt=OuterRef(f"{prefix}start_at"),
    )


def _affected_base() -> QuerySet:
    now = timezone.now()
    return (
        Appointment.objects.filter(status__in=AFFECTED_STATUSES)
        .exclude(kind=AppointmentKind.BLOCK)
        .exclude(status=AppointmentStatus.HELD, hold_expires_at__lte=now)
    )


def time_off_list(
    actor: Membership,
    *,
    practitioner_id=None,
    status: list[str] | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
) -> QuerySet:
    """Time off visible to the actor, with the number of affected appointments of each (one
    query whatever the page size)."""
    affected = (
        _affected_base()
        .filter(_affected_filter())
        .order_by()
        .values("practitioner_id")
        .annotate(n=Count("id"))
        .values("n")
    )
    qs = (
        time_off_visible_to(actor)
        .select_related("practitioner__default_location", "location")
        .annotate(affected_count=Coalesce(Subquery(affected[:1]), 0))
        .order_by("start_at", "id")
    )
    if practitioner_id:
        qs = qs.filter(practitioner_id=practitioner_id)
    if status:
        qs = qs.filter(status__in=status)
    if start:
        qs = qs.filter(end_at__gt=start)
    if end:
        qs = qs.filter(start_at__lt=end)
    return qs


def time_off_affected(time_off: TimeOff) -> list[Appointment]:
    """Every booked appointment and live hold of the practitioner inside the time off (before and
    after approval alike): one query."""
    return list(
        _affected_base()
        .filter(
            practitioner_id=time_off.practitioner_id,
            start_at__lt=time_off.end_at,
            end_at__gt=time_off.start_at,
        )
        .select_related("practitioner", "patient", "service", "location", "room")
        .order_by("start_at", "id")[:500]
    )


# --- coverage --------------------------------------------------------------------------------


@dataclass
class Candidate:
    practitioner_id: uuid.UUID
    name: str
    score: int
    reasons: list[str] = field(default_factory=list)
    seen_patient: bool = False
    load_that_day: int = 0


@dataclass
class Coverage:
    appointment: Appointment
    candidates: list[Candidate]


def time_off_coverage(time_off: TimeOff) -> list[Coverage]:
    """For each affected appointment, the practitioners who deliver its service, work at its
    location at that exact time (availability, exceptions, other time off, closures), are free
    then (bookings and holds), ranked with their reasons. Set-based: five queries whatever the
    number of appointments (affected, who delivers what, rules, busy time, patients seen)."""
    affected = time_off_affected(time_off)
    if not affected:
        return []
    service_ids = {a.service_id for a in affected if a.service_id}
    delivers: dict[uuid.UUID, list[tuple[uuid.UUID, str]]] = defaultdict(list)
    for service_id, practitioner_id, name in (
        PractitionerService.objects.filter(service_id__in=service_ids, practitioner__is_active=True)
        .exclude(practitioner_id=time_off.practitioner_id)
        .values_list("service_id", "practitioner_id", "practitioner__display_name")
    ):
        delivers[service_id].append((practitioner_id, name))
    candidate_ids = sorted({p for items in delivers.values() for p, _n in items}, key=str)
    if not candidate_ids:
        return [Coverage(a, []) for a in affected]
    windows, data = scheduling.availability_of_many(
        practitioner_ids=candidate_ids,
        start=min(a.occupied_start for a in affected),
        end=max(a.occupied_end for a in affected),
    )
    merged = {p: slotmath.merge(items) for p, items in data.busy.items()}
    patient_ids = {a.patient_id for a in affected if a.patient_id}
    seen = set(
        Appointment.objects.filter(
            patient_id__in=patient_ids,
            practitioner_id__in=candidate_ids,
            status=AppointmentStatus.COMPLETED,
        )
        .values_list("patient_id", "practitioner_id")
        .distinct()
    )
    # Appointments per practitioner and local day, in each appointment's location zone.
    loads: dict[str, dict[tuple[uuid.UUID, object], int]] = {}
    for zone in {a.location.time_zone for a in affected}:
        counts: dict[tuple[uuid.UUID, object], int] = defaultdict(int)
        for practitioner_id, start in data.counted:
            counts[(practitioner_id, start.astimezone(scheduling.tz(zone)).date())] += 1
        loads[zone] = counts
    out = []
    for appointment in affected:
        occ = (slotmath.us(appointment.occupied_start), slotmath.us(appointment.occupied_end))
        candidates = []
        for practitioner_id, name in delivers.get(appointment.service_id, []):
            mine = windows.get(practitioner_id, [])
            zone = appointment.location.time_zone
            day = appointment.start_at.astimezone(scheduling.tz(zone)).date()
            load = loads[zone].get((practitioner_id, day), 0)
            ok, _code, _w = slotmath.fits(
                windows=mine,
                occupied_start=appointment.occupied_start,
                occupied_end=appointment.occupied_end,
                location_id=appointment.location_id,
                day_count=load,
            )
            if not ok or _overlaps(merged.get(practitioner_id, []), occ):
                continue
            reasons = [_("Delivers this service")]
            score = 10
            seen_patient = (appointment.patient_id, practitioner_id) in seen
            if seen_patient:
                reasons.append(_("Has already seen this patient"))
                score += 20
            reasons.append(
                ngettext("%(n)d appointment that day", "%(n)d appointments that day", load)
                % {"n": load}
            )
            score -= load
            candidates.append(Candidate(practitioner_id, name, score, reasons, seen_patient, load))
        candidates.sort(key=lambda c: (-c.score, c.name))
        out.append(Coverage(appointment, candidates))
    return out


def _overlaps(intervals: list[tuple[int, int]], occ: tuple[int, int]) -> bool:
    return any(s < occ[1] and e > occ[0] for s, e in intervals)


# --- closures --------------------------------------------------------------------------------


def closures_list(*, start: datetime | None = None, end: datetime | None = None) -> QuerySet:
    """Closures with the number of booked appointments and live holds inside each (at its
    location, or anywhere for an organization-wide one): one query whatever the page size."""

    def count(qs):
        inside = qs.filter(start_at__lt=OuterRef("end_at"), end_at__gt=OuterRef("start_at"))
        counted = inside.order_by().values("organization_id").annotate(n=Count("id"))
        return Coalesce(Subquery(counted.values("n")[:1]), 0)

    base = _affected_base()
    qs = (
        Closure.objects.select_related("location")
        .annotate(
            affected_count=Case(
                When(location__isnull=True, then=count(base)),
                default=count(base.filter(location_id=OuterRef("location_id"))),
            )
        )
        .order_by("start_at", "id")
    )
    if start:
        qs = qs.filter(end_at__gt=start)
    if end:
        qs = qs.filter(start_at__lt=end)
    return qs


def closure_get(closure_id) -> Closure:
    found = Closure.objects.select_related("location").filter(id=closure_id).first()
    if found is None:
        raise NotFound(_("Closure not found."))
    return found


def closure_affected(closure: Closure) -> list[Appointment]:
    """Booked appointments and live holds inside a closure (at its location, or anywhere)."""
    qs = _affected_base().filter(start_at__lt=closure.end_at, end_at__gt=closure.start_at)
    if closure.location_id:
        qs = qs.filter(location_id=closure.location_id)
    return list(
        qs.select_related("practitioner", "patient", "service", "location").order_by("start_at")[
            :500
        ]
    )


def time_off_pending_count(actor: Membership) -> int:
    return time_off_visible_to(actor).filter(status=TimeOffStatus.PENDING).count()
