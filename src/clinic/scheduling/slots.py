"""Availability arithmetic, free of the database: weekly rules → windows (instants), minus blocked
exceptions, plus extra hours, minus busy intervals → free slot starts.

Time zones are converted once per window (two conversions per rule and day, memoised), never
per slot: after that everything is integer arithmetic on UTC instants in microseconds (a search
reads thousands of busy intervals; integers cost a fraction of datetimes). Busy intervals are
merged per practitioner once and found by bisection, so the cost is
O((windows + busy) log busy + slots).
"""

from __future__ import annotations

import bisect
import heapq
import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from clinic.scheduling.recurrence import wall_to_instant

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MICROSECOND = timedelta(microseconds=1)
# Pure (date, wall time, zone) -> instant: the same working days recur in every search.
_wall_to_instant = lru_cache(maxsize=65536)(wall_to_instant)


def us(value: datetime | timedelta) -> int:
    """An instant as microseconds since the epoch (or a duration in microseconds)."""
    if isinstance(value, timedelta):
        return value // MICROSECOND
    return (value - EPOCH) // MICROSECOND


def instant(microseconds: int) -> datetime:
    return EPOCH + timedelta(microseconds=microseconds)


@dataclass(frozen=True, slots=True)
class RuleRow:
    practitioner_id: uuid.UUID
    location_id: uuid.UUID
    tz: ZoneInfo
    weekday: int
    start_time: time
    end_time: time
    effective_from: date | None = None
    effective_to: date | None = None
    max_appointments: int | None = None
    interval_weeks: int = 1
    anchor_date: date | None = None

    def applies_on(self, day: date) -> bool:
        """A rotation (every N weeks) applies in the weeks counted from its anchor's week."""
        if self.interval_weeks <= 1 or self.anchor_date is None:
            return True
        anchor_monday = self.anchor_date - timedelta(days=self.anchor_date.weekday())
        return ((day - anchor_monday).days // 7) % self.interval_weeks == 0


@dataclass(frozen=True, slots=True)
class ExceptionRow:
    practitioner_id: uuid.UUID
    kind: str  # "extra" | "blocked" | "closed" (a closure: its location only, or everywhere)
    start: datetime
    end: datetime
    location_id: uuid.UUID | None = None
    tz: ZoneInfo | None = None


@dataclass(frozen=True, slots=True)
class BusyRow:
    practitioner_id: uuid.UUID
    start: datetime  # occupied start
    end: datetime  # occupied end
    counts_for_day: datetime | None = None  # the appointment's start, when it counts for a day max


@dataclass(slots=True)
class Window:
    practitioner_id: uuid.UUID
    location_id: uuid.UUID
    tz: ZoneInfo
    start: datetime
    end: datetime
    local_day: date
    max_appointments: int | None = None
    free: list[tuple[datetime, datetime]] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Slot:
    start: datetime
    end: datetime
    practitioner_id: uuid.UUID
    location_id: uuid.UUID


def _local_days(start: datetime, end: datetime, tz: ZoneInfo) -> tuple[date, date]:
    """First and last local dates that a window in [start, end) could fall on (one day of slack
    each side, for windows that begin the day before in local time)."""
    return (
        start.astimezone(tz).date() - timedelta(days=1),
        end.astimezone(tz).date() + timedelta(days=1),
    )


def windows_build(
    rules: Iterable[RuleRow],
    exceptions: Iterable[ExceptionRow],
    range_start: datetime,
    range_end: datetime,
) -> dict[uuid.UUID, list[Window]]:
    """Working windows per practitioner overlapping [range_start, range_end): weekly rules and
    extra hours, with blocked exceptions cut out."""
    windows: dict[uuid.UUID, list[Window]] = defaultdict(list)
    for rule in rules:
        first, last = _local_days(range_start, range_end, rule.tz)
        if rule.effective_from and rule.effective_from > first:
            first = rule.effective_from
        if rule.effective_to and rule.effective_to < last:
            last = rule.effective_to
        day = first + timedelta(days=(rule.weekday - first.weekday()) % 7)
        while day <= last:
            if not rule.applies_on(day):
                day += timedelta(days=7)
                continue
            start = _wall_to_instant(day, rule.start_time, rule.tz)
            end = _wall_to_instant(day, rule.end_time, rule.tz)
            if end > start and start < range_end and end > range_start:
                windows[rule.practitioner_id].append(
                    Window(
                        rule.practitioner_id,
                        rule.location_id,
                        rule.tz,
                        start,
                        end,
                        day,
                        rule.max_appointments,
                    )
                )
            day += timedelta(days=7)
    blocked: dict[uuid.UUID, list[tuple[datetime, datetime]]] = defaultdict(list)
    # Closures of one location cut only the windows at that location (an organization-wide one,
    # with no location, cuts like blocked time).
    closed: dict[tuple[uuid.UUID, uuid.UUID], list[tuple[datetime, datetime]]] = defaultdict(list)
    for exc in exceptions:
        if exc.kind == "blocked" or (exc.kind == "closed" and exc.location_id is None):
            blocked[exc.practitioner_id].append((exc.start, exc.end))
        elif exc.kind == "closed":
            closed[(exc.practitioner_id, exc.location_id)].append((exc.start, exc.end))
        elif exc.location_id is not None and exc.tz is not None:
            if exc.start < range_end and exc.end > range_start:
                windows[exc.practitioner_id].append(
                    Window(
                        exc.practitioner_id,
                        exc.location_id,
                        exc.tz,
                        exc.start,
                        exc.end,
                        exc.start.astimezone(exc.tz).date(),
                    )
                )
    for practitioner_id, items in windows.items():
        cuts = merge(blocked.get(practitioner_id, []))
        for window in items:
            here = closed.get((practitioner_id, window.location_id))
            window.free = subtract(
                [(window.start, window.end)], merge(cuts + here) if here else cuts
            )
    return windows


def merge(intervals: Iterable[tuple[datetime, datetime]]) -> list[tuple[datetime, datetime]]:
    """Sorted, non-overlapping union (touching intervals are joined)."""
    out: list[tuple[datetime, datetime]] = []
    for start, end in sorted(intervals):
        if out and start <= out[-1][1]:
            if end > out[-1][1]:
                out[-1] = (out[-1][0], end)
        else:
            out.append((start, end))
    return out


def subtract(segments: Sequence[tuple], cuts: Sequence[tuple], ends: Sequence | None = None):
    """`segments` minus `cuts` (cuts merged and sorted; segments sorted; `ends`: the cuts'
    ends, when the caller subtracts the same cuts many times)."""
    if not cuts:
        return list(segments)
    if ends is None:
        ends = [c[1] for c in cuts]
    out: list[tuple[datetime, datetime]] = []
    for seg_start, seg_end in segments:
        cursor = seg_start
        i = bisect.bisect_right(ends, seg_start)
        while i < len(cuts) and cuts[i][0] < seg_end:
            cut_start, cut_end = cuts[i]
            if cut_start > cursor:
                out.append((cursor, cut_start))
            cursor = max(cursor, cut_end)
            i += 1
        if cursor < seg_end:
            out.append((cursor, seg_end))
    return out


def day_counts(
    busy: Iterable[BusyRow], windows: dict[uuid.UUID, list[Window]]
) -> dict[tuple[uuid.UUID, date], int]:
    """Appointments per practitioner and local day (for rules with a daily maximum)."""
    return day_counts_of(
        ((row.practitioner_id, row.counts_for_day) for row in busy if row.counts_for_day), windows
    )


def day_counts_of(
    starts: Iterable[tuple[uuid.UUID, datetime]], windows: dict[uuid.UUID, list[Window]]
) -> dict[tuple[uuid.UUID, date], int]:
    """(practitioner, appointment start) pairs counted per practitioner and local day, for the
    practitioners whose rules have a daily maximum."""
    zones: dict[uuid.UUID, ZoneInfo] = {}
    for practitioner_id, items in windows.items():
        if any(w.max_appointments for w in items):
            zones[practitioner_id] = items[0].tz
    counts: dict[tuple[uuid.UUID, date], int] = defaultdict(int)
    for practitioner_id, start in starts:
        tz = zones.get(practitioner_id)
        if tz is not None:
            counts[(practitioner_id, start.astimezone(tz).date())] += 1
    return counts


def slots_compute(
    *,
    windows: dict[uuid.UUID, list[Window]],
    busy: Iterable[BusyRow],
    range_start: datetime,
    range_end: datetime,
    duration: timedelta,
    before: timedelta,
    after: timedelta,
    granularity: timedelta,
    not_before: datetime | None = None,
    limit: int | None = None,
) -> list[Slot]:
    """`slots_free` for busy rows given as datetimes."""
    busy = list(busy)
    by_practitioner: dict[uuid.UUID, list[tuple[int, int]]] = defaultdict(list)
    for row in busy:
        by_practitioner[row.practitioner_id].append((us(row.start), us(row.end)))
    return slots_free(
        windows=windows,
        busy_us=by_practitioner,
        counts=day_counts(busy, windows),
        range_start=range_start,
        range_end=range_end,
        duration=duration,
        before=before,
        after=after,
        granularity=granularity,
        not_before=not_before,
        limit=limit,
    )


def slots_free(
    *,
    windows: dict[uuid.UUID, list[Window]],
    busy_us: dict[uuid.UUID, list[tuple[int, int]]],
    counts: dict[tuple[uuid.UUID, date], int],
    range_start: datetime,
    range_end: datetime,
    duration: timedelta,
    before: timedelta,
    after: timedelta,
    granularity: timedelta,
    not_before: datetime | None = None,
    limit: int | None = None,
) -> list[Slot]:
    """Free start times: on the granularity grid of their window (anchored at the window's
    start), within [range_start, range_end), with [start - before, start + duration + after)
    inside one free part of the window and clear of every busy interval (`busy_us`: occupied
    intervals per practitioner in microseconds; `counts`: appointments per practitioner and
    local day, for windows with a daily maximum)."""
    lower = us(max(range_start, not_before) if not_before else range_start)
    highest = us(range_end) - 1
    length, pre, post, step = us(duration), us(before), us(after), us(granularity)
    seen: set[tuple[uuid.UUID, int]] = set()
    found: list[tuple[int, uuid.UUID, uuid.UUID]] = []
    taken_of: dict[uuid.UUID, tuple[list[tuple[int, int]], list[int]]] = {}
    # Windows in chronological order: with a limit, stop once no later window can produce a
    # slot earlier than the limit-th one found (slots of a window start at or after it).
    ordered = sorted((w for items in windows.values() for w in items), key=lambda w: w.start)
    kth: int | None = None
    for window in ordered:
        window_start = us(window.start)
        if kth is not None and window_start > kth:
            break
        practitioner_id = window.practitioner_id
        if window.max_appointments and (
            counts.get((practitioner_id, window.local_day), 0) >= window.max_appointments
        ):
            continue
        taken = taken_of.get(practitioner_id)
        if taken is None:
            merged = merge(busy_us.get(practitioner_id, ()))
            taken = taken_of[practitioner_id] = (merged, [e for _s, e in merged])
        free = [(us(a), us(b)) for a, b in window.free]
        for free_start, free_end in subtract(free, *taken):
            first = max(free_start + pre, lower)
            last = min(free_end - length - post, highest)
            if last < first:
                continue
            start = window_start - (window_start - first) // step * step  # first grid point
            while start <= last:
                key = (practitioner_id, start)
                if key not in seen:
                    seen.add(key)
                    found.append((start, practitioner_id, window.location_id))
                start += step
        if limit and len(found) >= limit:
            kth = heapq.nsmallest(limit, (f[0] for f in found))[-1]
    found.sort(key=lambda f: (f[0], str(f[1])))
    if limit:
        found = found[:limit]
    return [Slot(instant(s), instant(s + length), p, loc) for s, p, loc in found]


def fits(
    *,
    windows: Sequence[Window],
    occupied_start: datetime,
    occupied_end: datetime,
    location_id: uuid.UUID | None,
    day_count: int = 0,
) -> tuple[bool, str, Window | None]:
    """Does [occupied_start, occupied_end) lie inside one free part of a window (at the given
    location, if any)? Returns (ok, reason code, the window)."""
    inside_elsewhere = None
    for window in windows:
        for free_start, free_end in window.free:
            if free_start <= occupied_start and occupied_end <= free_end:
                if location_id is not None and window.location_id != location_id:
                    inside_elsewhere = window
                    continue
                if window.max_appointments and day_count >= window.max_appointments:
                    return False, "day_full", window
                return True, "", window
    if inside_elsewhere is not None:
        return False, "other_location", inside_elsewhere
    return False, "outside_hours", None
