"""Pure scoring: an entry's priority, and how well a slot fits an entry. No database access.

Priority (0–1) = wait × w_wait + urgency × w_urgency + referral × w_referral − declines ×
penalty, clamped to [0, 1]; the weights are the organization's (defaults from the seed: 40 %,
30 %, 20 %, 0.1 per declined offer). Match (0–1) = provider 30 % + day 20 % + time of day 20 %
+ sooner 15 % + priority 15 % (the seed's split). Each result carries its breakdown so the
page can say why an entry ranks where it does.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

URGENCY_VALUE = {"low": 0.25, "medium": 0.5, "high": 0.75, "urgent": 1.0}
# a referral from another clinician says someone already judged the need
REFERRAL_VALUE = {"": 0.0, "self": 0.25, "other": 0.5, "physician": 0.75, "specialist": 1.0}
REFERRAL_VALUE["hospital"] = 1.0

MATCH_WEIGHTS = {"provider": 0.30, "day": 0.20, "time": 0.20, "sooner": 0.15, "priority": 0.15}
# an explicitly preferred practitioner fits better than "anyone"
ANY_PRACTITIONER = 0.7
SOONER_HORIZON_DAYS = 30


@dataclass(frozen=True)
class Weights:
    wait: float = 0.40
    urgency: float = 0.30
    referral: float = 0.20
    decline_penalty: float = 0.10
    wait_full_days: int = 60

    @classmethod
    def of(cls, settings) -> Weights:
        return cls(
            wait=float(settings.weight_wait),
            urgency=float(settings.weight_urgency),
            referral=float(settings.weight_referral),
            decline_penalty=float(settings.decline_penalty),
            wait_full_days=int(settings.wait_full_days),
        )


def _round(value: float) -> float:
    return round(value, 4)


def priority_score(
    *,
    waiting_since: date,
    today: date,
    urgency: str,
    referral_source: str,
    declined_count: int,
    weights: Weights,
) -> tuple[Decimal, dict]:
    """(score, breakdown) of one entry."""
    days = max(0, (today - waiting_since).days)
    parts = {
        "wait": (min(1.0, days / weights.wait_full_days), weights.wait),
        "urgency": (URGENCY_VALUE.get(urgency, 0.5), weights.urgency),
        "referral": (REFERRAL_VALUE.get(referral_source or "", 0.0), weights.referral),
    }
    breakdown: dict = {
        name: {"value": _round(value), "weight": weight, "points": _round(value * weight)}
        for name, (value, weight) in parts.items()
    }
    breakdown["wait"]["days"] = days
    penalty = declined_count * weights.decline_penalty
    breakdown["declines"] = {
        "count": declined_count,
        "penalty": weights.decline_penalty,
        "points": _round(-penalty),
    }
    raw = sum(value * weight for value, weight in parts.values()) - penalty
    total = _round(min(1.0, max(0.0, raw)))
    breakdown["total"] = total
    return Decimal(str(total)), breakdown


def time_of_day(local: datetime) -> str:
    if local.hour < 12:
        return "morning"
    if local.hour < 17:
        return "afternoon"
    return "evening"


def match_score(
    *,
    entry_practitioner_ids,
    preferred_days,
    preferred_times,
    priority: float,
    practitioner_id,
    start: datetime,
    time_zone: str,
    now: datetime,
) -> tuple[float, dict]:
    """(score, breakdown) of one slot for one entry; hard limits (dates, acceptable
    practitioners and locations) are the caller's filter, not part of the score."""
    local = start.astimezone(ZoneInfo(time_zone))
    if entry_practitioner_ids:
        provider = 1.0 if practitioner_id in set(entry_practitioner_ids) else 0.0
    else:
        provider = ANY_PRACTITIONER
    day = 1.0 if not preferred_days or local.weekday() in set(preferred_days) else 0.0
    tod = time_of_day(local)
    time_fit = 1.0 if not preferred_times or tod in set(preferred_times) else 0.0
    days_ahead = max(0.0, (start - now).total_seconds() / 86400)
    sooner = max(0.0, 1.0 - days_ahead / SOONER_HORIZON_DAYS)
    values = {
        "provider": provider,
        "day": day,
        "time": time_fit,
        "sooner": sooner,
        "priority": float(priority),
    }
    breakdown = {
        name: {
            "value": _round(value),
            "weight": MATCH_WEIGHTS[name],
            "points": _round(value * MATCH_WEIGHTS[name]),
        }
        for name, value in values.items()
    }
    total = _round(sum(v * MATCH_WEIGHTS[k] for k, v in values.items()))
    breakdown["total"] = total
    return total, breakdown
