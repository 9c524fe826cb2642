"""Wall-clock time and RFC 5545 recurrence, DST-safe.

Recurring appointments and weekly availability are *wall-clock* rules: "every Tuesday at 09:00
in Paris" stays 09:00 on the clock across both DST changes, so its UTC instant moves by an hour
twice a year. We therefore expand rules on naive local datetimes (dateutil.rrule, which knows
nothing of time zones) and convert each resulting wall time to an instant once, with zoneinfo.

Two wall times need a rule, and we use RFC 5545's own (section 3.3.5):

- **The gap** (spring forward; e.g. 02:30 on the last Sunday of March in Europe/Paris does not
  exist): the time is read with the UTC offset in force *before* the gap, which moves it forward
  by the length of the gap: 02:30 becomes 03:30 CEST (01:30 UTC). The appointment keeps its
  duration.
- **The fold** (fall back; e.g. 02:30 on the last Sunday of October happens twice): the *first*
  occurrence is meant, i.e. the earlier instant, still in summer time (02:30 CEST, 00:30 UTC).

Both are what `datetime(..., tzinfo=ZoneInfo(zone), fold=0)` computes, which `wall_to_instant`
relies on (and the tests pin down).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from dateutil import rrule as du
from django.utils.translation import gettext as _

MAX_OCCURRENCES = 500
HORIZON_DAYS = 731  # two years

ALLOWED_FREQ = {"DAILY": du.DAILY, "WEEKLY": du.WEEKLY, "MONTHLY": du.MONTHLY}
ALLOWED_PARTS = {"FREQ", "INTERVAL", "BYDAY", "BYMONTHDAY", "BYSETPOS", "COUNT", "UNTIL", "WKST"}
WEEKDAYS = {
    "MO": du.MO,
    "TU": du.TU,
    "WE": du.WE,
    "TH": du.TH,
    "FR": du.FR,
    "SA": du.SA,
    "SU": du.SU,
}
_BYDAY = re.compile(r"^([+-]?\d{1,2})?(MO|TU|WE|TH|FR|SA|SU)$")


class RecurrenceError(ValueError):
    """An RRULE we cannot accept; the message says why (shown to the user)."""


def zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def wall_to_instant(day: date, at: time, tz: ZoneInfo) -> datetime:
    """The UTC instant of a wall-clock time; gap → moved forward, fold → first occurrence."""
    local = datetime.combine(day, at).replace(tzinfo=tz, fold=0)
    return local.astimezone(UTC)


def instant_to_wall(instant: datetime, tz: ZoneInfo) -> datetime:
    """The naive wall-clock time of an instant in `tz`."""
    return instant.astimezone(tz).replace(tzinfo=None)


@dataclass(frozen=True)
class ParsedRule:
    text: str  # normalised RRULE value (without the "RRULE:" prefix), UNTIL as a local date-time
    freq: int
    interval: int
    count: int | None
    until_wall: datetime | None  # inclusive bound, naive local
    byweekday: tuple | None
    bymonthday: tuple[int, ...] | None
    bysetpos: tuple[int, ...] | None
    wkst: object | None


def _until_parse(value: str, tz: ZoneInfo) -> datetime:
    """UNTIL as a naive wall-clock datetime in the series zone (a date means its end of day)."""
    value = value.strip()
    try:
        if re.fullmatch(r"\d{8}", value):
            return datetime.combine(datetime.strptime(value, "%Y%m%d").date(), time(23, 59, 59))
        if re.fullmatch(r"\d{8}T\d{6}Z", value):
            instant = datetime.strptime(value, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
            return instant_to_wall(instant, tz)
        if re.fullmatch(r"\d{8}T\d{6}", value):
            return datetime.strptime(value, "%Y%m%dT%H%M%S")
    except ValueError:
        pass
    raise RecurrenceError(_("UNTIL must look like 20260630, 20260630T170000 or 20260630T150000Z."))


def rule_parse(text: str, tz: ZoneInfo) -> ParsedRule:
    """Validate an RRULE (FREQ DAILY/WEEKLY/MONTHLY, INTERVAL, BYDAY, BYMONTHDAY, BYSETPOS,
    COUNT or UNTIL, WKST)."""
    raw = (text or "").strip()
    if raw.upper().startswith("RRULE:"):
        raw = raw[6:]
    if not raw:
        raise RecurrenceError(_("A recurrence rule is required, e.g. FREQ=WEEKLY;COUNT=10."))
    if len(raw) > 400:
        raise RecurrenceError(_("The recurrence rule is too long."))
    parts: dict[str, str] = {}
    for chunk in raw.split(";"):
        if not chunk:
            continue
        if "=" not in chunk:
            raise RecurrenceError(_("%(part)s is not NAME=VALUE.") % {"part": chunk})
        name, value = chunk.split("=", 1)
        name = name.strip().upper()
        if name not in ALLOWED_PARTS:
            raise RecurrenceError(
                _("%(part)s is not supported in a recurrence rule.") % {"part": name}
            )
        if name in parts:
            raise RecurrenceError(_("%(part)s appears twice.") % {"part": name})
        parts[name] = value.strip().upper()
    freq_name = parts.get("FREQ")
    if freq_name not in ALLOWED_FREQ:
        raise RecurrenceError(_("FREQ must be DAILY, WEEKLY or MONTHLY."))
    if "COUNT" in parts and "UNTIL" in parts:
        raise RecurrenceError(_("COUNT and UNTIL cannot both be given."))

    def _int(name: str, low: int, high: int) -> int | None:
        if name not in parts:
            return None
        try:
            number = int(parts[name])
        except ValueError:
            raise RecurrenceError(_("%(part)s must be a whole number.") % {"part": name}) from None
        if not low <= number <= high:
            raise RecurrenceError(
                _("%(part)s must be between %(low)d and %(high)d.")
                % {"part": name, "low": low, "high": high}
            )
        return number

    interval = _int("INTERVAL", 1, 365) or 1
    count = _int("COUNT", 1, MAX_OCCURRENCES)
    until_wall = _until_parse(parts["UNTIL"], tz) if "UNTIL" in parts else None
    byweekday = None
    if "BYDAY" in parts:
        days = []
        for item in parts["BYDAY"].split(","):
            match = _BYDAY.match(item.strip())
            if not match:
                raise RecurrenceError(_("BYDAY takes MO,TU,WE,TH,FR,SA,SU (e.g. BYDAY=MO,WE)."))
            n, day = match.groups()
            if n and freq_name != "MONTHLY":
                raise RecurrenceError(_("A numbered BYDAY (e.g. 2TU) needs FREQ=MONTHLY."))
            days.append(WEEKDAYS[day](int(n)) if n else WEEKDAYS[day])
        byweekday = tuple(days)
    bymonthday = None
    if "BYMONTHDAY" in parts:
        try:
            bymonthday = tuple(int(d) for d in parts["BYMONTHDAY"].split(","))
        except ValueError:
            raise RecurrenceError(_("BYMONTHDAY takes day numbers, e.g. 1,15.")) from None
        if any(not (1 <= abs(d) <= 31) for d in bymonthday):
            raise RecurrenceError(_("BYMONTHDAY takes day numbers, e.g. 1,15."))
    bysetpos = None
    if "BYSETPOS" in parts:
        try:
            bysetpos = tuple(int(d) for d in parts["BYSETPOS"].split(","))
        except ValueError:
            raise RecurrenceError(_("BYSETPOS takes positions, e.g. -1.")) from None
        if any(d == 0 or abs(d) > 366 for d in bysetpos):
            raise RecurrenceError(_("BYSETPOS takes positions, e.g. -1."))
    wkst = WEEKDAYS.get(parts["WKST"]) if "WKST" in parts else None
    if "WKST" in parts and wkst is None:
        raise RecurrenceError(_("WKST takes a weekday, e.g. MO."))
    normalised = ";".join(
        f"{k}={parts[k]}"
        for k in ("FREQ", "INTERVAL", "BYDAY", "BYMONTHDAY", "BYSETPOS", "WKST", "COUNT", "UNTIL")
        if k in parts
    )
    return ParsedRule(
        text=normalised,
        freq=ALLOWED_FREQ[freq_name],
        interval=interval,
        count=count,
        until_wall=until_wall,
        byweekday=byweekday,
        bymonthday=bymonthday,
        bysetpos=bysetpos,
        wkst=wkst,
    )


@dataclass(frozen=True)
class Occurrence:
    wall: datetime  # naive local start (as the rule produced it)
    start: datetime  # aware UTC
    end: datetime  # aware UTC


@dataclass(frozen=True)
class Expansion:
    occurrences: list[Occurrence]
    truncated: bool  # the rule goes on past the horizon (2 years / 500 occurrences)


def expand(
    rule: ParsedRule,
    *,
    wall_start: datetime,
    duration: timedelta,
    tz: ZoneInfo,
    exdates: frozenset[date] = frozenset(),
    ended_on: date | None = None,
) -> Expansion:
    """Occurrences of `rule` from the naive wall time `wall_start`, up to the rule's end, at most
    two years after the start and at most 500 of them. Each wall start is converted once; the
    end is start + duration in absolute time (a 60-minute session lasts 60 minutes even across a
    DST change)."""
    horizon = wall_start + timedelta(days=HORIZON_DAYS)
    until = min(rule.until_wall, horizon) if rule.until_wall else horizon
    if ended_on is not None:
        until = min(until, datetime.combine(ended_on, time.max))
    generator = du.rrule(
        rule.freq,
        dtstart=wall_start,
        interval=rule.interval,
        count=rule.count,
        # dateutil deprecates COUNT together with UNTIL: with a count, the bound is applied below.
        until=None if rule.count else until,
        byweekday=rule.byweekday,
        bymonthday=rule.bymonthday,
        bysetpos=rule.bysetpos,
        wkst=rule.wkst,
        cache=False,
    )
    occurrences: list[Occurrence] = []
    truncated = False
    produced = 0
    for wall in generator:
        if rule.count and wall > until:
            truncated = ended_on is None or datetime.combine(ended_on, time.max) > horizon
            break
        produced += 1
        if produced > MAX_OCCURRENCES:
            truncated = True
            break
        if wall.date() in exdates:
            continue
        start = wall_to_instant(wall.date(), wall.time(), tz)
        occurrences.append(Occurrence(wall=wall, start=start, end=start + duration))
    if (
        not truncated
        and rule.count is None
        and (rule.until_wall is None or rule.until_wall > horizon)
    ):
        truncated = ended_on is None or datetime.combine(ended_on, time.max) > horizon
    return Expansion(occurrences=occurrences, truncated=truncated)


def rule_with_until(rule_text: str, last_wall_day: date) -> str:
    """The same rule text, ending (inclusively) on `last_wall_day` — COUNT is dropped."""
    parts = [
        p for p in rule_text.split(";") if p and not p.upper().startswith(("COUNT=", "UNTIL="))
    ]
    parts.append(f"UNTIL={last_wall_day:%Y%m%d}")
    return ";".join(parts)
