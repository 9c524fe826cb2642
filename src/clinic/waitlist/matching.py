"""Matching: which free slots suit an entry, and which entries suit a freed slot.

Free slots come from scheduling's slot search (availability, exceptions, bookings, holds, the
patient's own appointments: one set-based search per entry); scoring.py ranks the pairs."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.utils import timezone

from clinic.scheduling import selectors as scheduling
from clinic.waitlist import scoring
from clinic.waitlist.models import WaitlistEntry

MATCH_HORIZON_DAYS = 28


@dataclass
class Match:
    start: datetime
    end: datetime
    practitioner_id: object
    location_id: object
    score: float
    breakdown: dict
    time_zone: str = "UTC"


def _zone_of(location_id, zones: dict[object, str], default: str) -> str:
    return zones.get(location_id) or default


def entry_matches(
    entry: WaitlistEntry,
    *,
    now: datetime | None = None,
    limit: int = 10,
    default_zone: str = "UTC",
    exclude: set | None = None,
    zones: dict | None = None,
) -> list[Match]:
    """The best free slots for `entry`, best first (at most `limit`). `zones` (location id →
    zone name) is a cache the caller may share between entries, so that a run over many entries
    reads each location's zone once instead of once per entry."""
    from clinic.directory.models import Location

    now = now or timezone.now()
    zone = ZoneInfo(default_zone)
    start = max(now, datetime.combine(entry.earliest_date, time(0), tzinfo=zone))
    end = min(
        datetime.combine(entry.latest_date + timedelta(days=1), time(0), tzinfo=zone),
        start + timedelta(days=MATCH_HORIZON_DAYS),
    )
    if end <= start:
        return []
    location_ids = list(entry.location_ids or [])
    search = scheduling.slots_find(
        service_id=entry.service_id,
        start=start,
        end=end,
        practitioner_ids=list(entry.practitioner_ids or []),
        location_id=location_ids[0] if len(location_ids) == 1 else None,
        modality=entry.modality or None,
        patient_id=entry.patient_id,
        limit=500,
        not_before=now,
    )
    slots = [s for s in search.slots if not location_ids or s.location_id in set(location_ids)]
    zones = {} if zones is None else zones
    missing = {s.location_id for s in slots} - zones.keys()
    if missing:
        zones.update(Location.objects.filter(id__in=missing).values_list("id", "time_zone"))
    out = []
    for slot in slots:
        if exclude and (slot.practitioner_id, slot.start) in exclude:
            continue
        score, breakdown = scoring.match_score(
            entry_practitioner_ids=entry.practitioner_ids,
            preferred_days=entry.preferred_days,
            preferred_times=entry.preferred_times,
            priority=float(entry.score),
            practitioner_id=slot.practitioner_id,
            start=slot.start,
            time_zone=_zone_of(slot.location_id, zones, default_zone),
            now=now,
        )
        zone = _zone_of(slot.location_id, zones, default_zone)
        out.append(
            Match(
                slot.start,
                slot.end,
                slot.practitioner_id,
                slot.location_id,
                score,
                breakdown,
                zone,
            )
        )
    out.sort(key=lambda m: (-m.score, m.start))
    return out[:limit]


def entries_ranked_for_slot(
    entries, *, practitioner_id, start: datetime, time_zone: str, now: datetime
) -> list[tuple[WaitlistEntry, float, dict]]:
    ranked = []
    for entry in entries:
        score, breakdown = scoring.match_score(
            entry_practitioner_ids=entry.practitioner_ids,
            preferred_days=entry.preferred_days,
            preferred_times=entry.preferred_times,
            priority=float(entry.score),
            practitioner_id=practitioner_id,
            start=start,
            time_zone=time_zone,
            now=now,
        )
        ranked.append((entry, score, breakdown))
    ranked.sort(key=lambda r: (-r[1], -float(r[0].score), r[0].created_at))
    return ranked
