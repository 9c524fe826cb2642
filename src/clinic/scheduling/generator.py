"""Synthetic appointments at scale: `clinic generate --appointments 1000000` (after the directory
data), and the benchmarks.

Deterministic for a given seed (times, patients, statuses and row ids come from seeded random
generators). Each practitioner gets Monday-to-Friday availability at their location, then their
days are filled chronologically with back-to-back appointments of the services they deliver
(buffers included), from some weeks in the past into the future; a patient is never in two
places at once (checked on a 15-minute grid of the day being filled). Rows are written with COPY
into a staging table and INSERT ... SELECT in batches, so the exclusion constraints, row-level
security and the audit trigger still judge every row.
"""

from __future__ import annotations

import math
import random
import time as clock
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from django.db import connection
from django.utils.translation import gettext as _

from clinic.core.errors import ValidationFailed
from clinic.core.tenancy import tenant_context
from clinic.scheduling.recurrence import wall_to_instant

Progress = Callable[[str, int, int], None]
BATCH = 20_000
CELL = 15  # minutes
WORK_START, WORK_END = time(8), time(18)

COLUMNS = [
    "id",
    "organization_id",
    "kind",
    "status",
    "practitioner_id",
    "patient_id",
    "service_id",
    "location_id",
    "room_id",
    "modality",
    "start_at",
    "end_at",
    "buffer_before_minutes",
    "buffer_after_minutes",
    "occupied_start",
    "occupied_end",
    "allows_overlap",
    "room_exclusive",
    "notes",
    "created_at",
    "updated_at",
    "status_changed_at",
    "cancelled_at",
    "cancel_reason",
    "late_cancel",
    "series_exception",
    "created_by_id",
]


@dataclass
class AppointmentsResult:
    appointments: int = 0
    rules: int = 0
    first_day: date | None = None
    last_day: date | None = None
    seconds: float = 0.0


def _copy(
    table: str,
    columns: list[str],
    rows: list[tuple],
    progress: Progress | None,
    label: str,
    total: int,
    done: int,
) -> int:
    """COPY into a temporary staging table (COPY cannot write into a table under RLS), then
    INSERT ... SELECT, so constraints, policies and triggers apply to every row."""
    staging = f"staging_{table}"
    cols = ", ".join(columns)
    with connection.cursor() as cur:
        cur.execute(
            f"CREATE TEMP TABLE IF NOT EXISTS {staging} "
            f"(LIKE {table} INCLUDING DEFAULTS) ON COMMIT DROP"
        )
        with cur.cursor.copy(f"COPY {staging} ({cols}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        cur.execute(f"INSERT INTO {table} ({cols}) SELECT {cols} FROM {staging}")
        cur.execute(f"TRUNCATE {staging}")
    done += len(rows)
    if progress:
        progress(label, done, total)
    return done


def appointments_generate(
    *,
    organization_id: uuid.UUID,
    appointments: int,
    seed: int = 1,
    today: date | None = None,
    future_share: float = 0.15,
    progress: Progress | None = None,
) -> AppointmentsResult:
    """Fill an organization that has practitioners, services and patients (`clinic generate`)
    with `appointments` appointments, about `future_share` of them after today."""
    from clinic.directory.models import Location, Patient, Practitioner, PractitionerService
    from clinic.scheduling.models import AvailabilityRule

    if not 0 <= appointments <= 20_000_000:
        raise ValidationFailed(
            _("Counts out of range."), details={"appointments": ["0..20,000,000"]}
        )
    started = clock.monotonic()
    rng = random.Random(seed)
    ids = random.Random(f"appointments:{seed}:{organization_id}")
    result = AppointmentsResult()
    today = today or datetime.now(UTC).date()
    with tenant_context(organization_id):
        practitioners = list(
            Practitioner.objects.filter(is_active=True)
            .order_by("id")
            .values_list("id", "default_location_id")
        )
        locations = {loc.id: loc for loc in Location.objects.filter(is_active=True)}
        if not practitioners or not locations:
            raise ValidationFailed(
                _("Generate the directory first (clinic generate)."),
                details={"appointments": [_("no practitioners")]},
            )
        from clinic.directory.models import Service

        services = {s.id: s for s in Service.objects.filter(is_active=True)}
        links: dict[uuid.UUID, list] = {}
        for practitioner_id, service_id in PractitionerService.objects.values_list(
            "practitioner_id", "service_id"
        ).order_by("practitioner_id", "service_id"):
            if service_id in services:
                links.setdefault(practitioner_id, []).append(services[service_id])
        patients = list(
            Patient.objects.filter(archived_at__isnull=True)
            .order_by("id")
            .values_list("id", flat=True)
        )
        if not patients:
            raise ValidationFailed(
                _("Generate the directory first (clinic generate)."),
                details={"appointments": [_("no patients")]},
            )
        location_ids = sorted(locations, key=lambda i: locations[i].name)
        where = {
            p: (loc if loc in locations else location_ids[i % len(location_ids)])
            for i, (p, loc) in enumerate(practitioners)
        }
        with_rules = set(AvailabilityRule.objects.values_list("practitioner_id", flat=True))
        rules = [
            AvailabilityRule(
                organization_id=organization_id,
                practitioner_id=p,
                location_id=where[p],
                weekday=wd,
                start_time=WORK_START,
                end_time=WORK_END,
            )
            for p, _loc in practitioners
            if p not in with_rules
            for wd in range(5)
        ]
        AvailabilityRule.objects.bulk_create(rules, batch_size=5000)
        result.rules = len(rules)
        staff = [p for p, _loc in practitioners if links.get(p)]
        if not staff or appointments == 0:
            result.seconds = clock.monotonic() - started
            return result
        # How many working days are needed: about 8 appointments a day per practitioner.
        per_day = max(1, len(staff) * 8)
        days_needed = math.ceil(appointments / per_day)
        future_days = max(1, round(days_needed * future_share))
        workdays = _workdays_around(today, before=days_needed - future_days, after=future_days)
        result.first_day = workdays[0]
        now = datetime.now(UTC)
        rows: list[tuple] = []
        done = 0
        made = 0
        cells_per_day = (WORK_END.hour - WORK_START.hour) * 60 // CELL
        for day in _days_from(workdays):
            if made >= appointments:
                break
            result.last_day = day
            busy_patients: list[set] = [set() for _ in range(cells_per_day)]
            order = staff[:]
            rng.shuffle(order)
            for practitioner_id in order:
                if made >= appointments:
                    break
                location = locations[where[practitioner_id]]
                tz = _zone(location.time_zone)
                day_start = wall_to_instant(day, WORK_START, tz)
                cell = rng.randrange(0, 3)  # a little irregularity
                offered = links[practitioner_id]
                while made < appointments:
                    service = offered[rng.randrange(len(offered))]
                    before, after = service.buffer_before_minutes, service.buffer_after_minutes
                    cells = math.ceil((before + service.duration_minutes + after) / CELL)
                    if cell + cells > cells_per_day:
                        break
                    patient_id = None
                    for _try in range(6):
                        candidate = patients[rng.randrange(len(patients))]
                        if all(
                            candidate not in busy_patients[c] for c in range(cell, cell + cells)
                        ):
                            patient_id = candidate
                            break
                    if patient_id is None:
                        cell += 1
                        continue
                    for c in range(cell, cell + cells):
                        busy_patients[c].add(patient_id)
                    occupied_start = day_start + timedelta(minutes=cell * CELL)
                    start = occupied_start + timedelta(minutes=before)
                    end = start + timedelta(minutes=service.duration_minutes)
                    status, cancelled_at = _status(rng, start, now)
                    rows.append(
                        (
                            uuid.UUID(int=ids.getrandbits(128), version=4),
                            organization_id,
                            "individual",
                            status,
                            practitioner_id,
                            patient_id,
                            service.id,
                            location.id,
                            None,
                            service.modality,
                            start,
                            end,
                            before,
                            after,
                            occupied_start,
                            end + timedelta(minutes=after),
                            False,
                            False,
                            "",
                            start - timedelta(days=rng.randrange(1, 30)),
                            now,
                            now,
                            cancelled_at,
                            "generated" if cancelled_at else "",
                            False,
                            False,
                            None,
                        )
                    )
                    made += 1
                    cell += cells + (1 if rng.random() < 0.25 else 0)
                    if len(rows) >= BATCH:
                        done = _copy(
                            "scheduling_appointment",
                            COLUMNS,
                            rows,
                            progress,
                            "appointments",
                            appointments,
                            done,
                        )
                        rows = []
        if rows:
            done = _copy(
                "scheduling_appointment",
                COLUMNS,
                rows,
                progress,
                "appointments",
                appointments,
                done,
            )
        result.appointments = done
    analyze()
    result.seconds = clock.monotonic() - started
    return result


def _status(rng: random.Random, start: datetime, now: datetime) -> tuple[str, datetime | None]:
    roll = rng.random()
    if roll < 0.05:
        return "cancelled", start - timedelta(hours=rng.randrange(1, 96))
    if start < now:
        return ("no_show", None) if roll < 0.08 else ("completed", None)
    return ("confirmed", None) if roll < 0.5 else ("scheduled", None)


def _zone(name: str):
    from clinic.scheduling.selectors import tz

    return tz(name)


def _workdays_around(today: date, *, before: int, after: int) -> list[date]:
    days: list[date] = []
    d = today
    while len(days) < before:
        d -= timedelta(days=1)
        if d.weekday() < 5:
            days.append(d)
    days.reverse()
    d = today
    while len([x for x in days if x >= today]) < after:
        if d.weekday() < 5:
            days.append(d)
        d += timedelta(days=1)
    return days


def _days_from(workdays: list[date]):
    """The planned working days, then more after them for as long as the caller asks."""
    yield from workdays
    day = workdays[-1]
    for _day in range(3650):
        day += timedelta(days=1)
        if day.weekday() < 5:
            yield day


def analyze() -> bool:
    """VACUUM ANALYZE the scheduling tables (as their owner) after a bulk load: statistics for
    the planner, and the visibility map that lets the busy-time read stay index-only."""
    from django.db import connections

    if connection.in_atomic_block or "owner" not in connections:
        return False
    owner = connections["owner"]
    with owner.cursor() as cur:
        for table in ("scheduling_appointment", "scheduling_availabilityrule"):
            cur.execute(f"VACUUM (ANALYZE) {table}")
    owner.close()
    return True


def generate_command(
    *, organization_id: uuid.UUID, appointments: int, seed: int, quiet: bool = False
) -> AppointmentsResult:
    """What `clinic generate --appointments N` runs after the directory data: prints a line."""
    from clinic.directory.progress import ProgressBar

    result = appointments_generate(
        organization_id=organization_id,
        appointments=appointments,
        seed=seed,
        progress=None if quiet else ProgressBar(),
    )
    print(
        f"{result.appointments:,} appointments from {result.first_day} to {result.last_day}, "
        f"{result.rules} availability rules, in {result.seconds:.1f}s."
    )
    return result
