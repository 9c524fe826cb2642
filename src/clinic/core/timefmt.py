"""Times shown to a person: the one place that turns an instant into words.

Instants are stored in UTC and the server runs in UTC; a person reads them as the wall time of
the location concerned (the organization's zone where there is none), formatted in the active
language with the organization's regional conventions. Every page, fragment, message, PDF and
CSV goes through these functions (or the `clinic_time` template filters that wrap them); no
template or message formats a datetime by itself.

Why Babel and not Django's localization: Django's formats exist per language only, so "en" is
always the US style (m/d/Y, 12-hour) whether the clinic is in London, Kolkata or New York, and
Django knows nothing of intervals or zone names. Babel carries CLDR data per language *and*
territory (en_GB, en_US, en_IN, fr_CA, ar…), formats intervals ("15:00–16:00") and names zones
("Kolkata"), and is already what messages and invoices use.

One style per kind (CLDR patterns of the chosen locale):

- ``local_date``      a calendar day, no weekday:       3 Dec 2030 · Dec 3, 2030 · 3 déc. 2030
- ``local_time``      the locale's short time:          15:00 · 3:00 PM · ٣:٠٠ م
- ``local_datetime``  weekday, day and time:            Tue, 3 Dec 2030, 15:00
- ``local_range``     one day: date, start–end time;    Tue, 3 Dec 2030, 15:00–16:00
                      whole days: the day(s) only;      Tue, 3 Dec 2030
                      otherwise both ends in full.
- ``local_day``       a day heading in a week grid:     Tue 3 Dec
- ``local_datetime_long``  in a sentence (messages):    Tuesday, 3 December 2030, 15:00

Which locale: the language (the argument, else the active one) with the organization's region:
the region of `Organization.default_locale` when it carries one ("en-US"), else the country of
the organization's zone (Europe/London → en_GB, 24-hour; America/New_York → en_US, 12-hour),
else the language's CLDR default.

Where: `zone_for(x)` takes a zone name or tzinfo, a Location or Organization (their
`time_zone`), or any record with a `location`, a `plan` or an `organization` (an appointment, a
consultation, an exception, an audit event…), looked up without a query per row: relations
that are not loaded are resolved from the organization's locations, read once per unit of work.
Nothing given: the current organization's zone.

The zone is named ("15:00 (Kolkata)") when more than one zone is in play: the organization's
own zone and its locations' zones are not all the same.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import functools
import uuid
import zoneinfo
from dataclasses import dataclass, field

from babel import Locale, localedata
from babel.core import get_global
from babel.dates import (
    format_date,
    format_interval,
    format_skeleton,
    format_time,
    get_datetime_format,
    get_timezone_location,
)
from django.apps import apps
from django.utils import translation

from clinic.core.tenancy import current_org_id

UTC = zoneinfo.ZoneInfo("UTC")

# --- the organization in view --------------------------------------------------------------------


@dataclass
class _Display:
    """What formatting needs of the organization, cached for one unit of work."""

    org_id: uuid.UUID
    organization: object
    _locations: dict[str, str] | None = field(default=None)

    def location_zones(self) -> dict[str, str]:
        """Location id (text) → IANA zone, every location of the organization, in one query."""
        if self._locations is None and current_org_id() != self.org_id:
            return {}  # another tenant's locations are not readable here (RLS): its zone only
        if self._locations is None:
            # apps.get_model: core sits below the domain modules and must not import them.
            location = apps.get_model("directory", "Location")
            self._locations = {
                str(pk): tz for pk, tz in location.objects.values_list("id", "time_zone")
            }
        return self._locations


_display: contextvars.ContextVar[_Display | None] = contextvars.ContextVar(
    "clinic_time_display", default=None
)


def organization_activate(organization) -> None:
    """Use this (already loaded) organization for the rest of the unit of work; the page
    context processor calls it with the request's organization, so rendering costs no query."""
    if organization is None:
        return
    current = _display.get()
    if current is not None and current.organization is organization:
        return
    _display.set(_Display(org_id=organization.pk, organization=organization))


def _current() -> _Display | None:
    """The organization in context: the activated one if it is still the tenant, else loaded
    once by the tenant's id. Never another tenant's: the id must match the tenant."""
    org_id = current_org_id()
    current = _display.get()
    if current is not None and org_id is not None and current.org_id == org_id:
        return current
    if org_id is None:
        return None
    organization = apps.get_model("accounts", "Organization").objects.filter(pk=org_id).first()
    if organization is None:
        return None
    display = _Display(org_id=org_id, organization=organization)
    _display.set(display)
    return display


def _display_for(organization) -> _Display | None:
    current = _current()
    if organization is None or (current is not None and current.org_id == organization.pk):
        return current
    return _Display(org_id=organization.pk, organization=organization)


# --- zones ---------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=256)
def _zone(name: str) -> zoneinfo.ZoneInfo:
    try:
        return zoneinfo.ZoneInfo(name) if name else UTC
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return UTC


def _loaded(obj, name: str):
    """(found, value) of the relation `name` of `obj` without a query: the value when loaded,
    else its id as text (or None)."""
    meta = getattr(obj, "_meta", None)
    if meta is None:
        return (hasattr(obj, name), getattr(obj, name, None))
    try:
        relation = meta.get_field(name)
    except Exception:
        return (False, None)
    if relation.is_cached(obj):
        return (True, getattr(obj, name))
    raw = getattr(obj, relation.attname, None)
    return (True, str(raw) if raw is not None else None)


def _organization_of(where):
    """The organization a record belongs to, if it is at hand without a query."""
    if where is None or isinstance(where, str | dt.tzinfo):
        return None
    if _is_organization(where):
        return where
    found, value = _loaded(where, "organization")
    if found and value is not None and not isinstance(value, str):
        return value
    return None


def _is_organization(obj) -> bool:
    meta = getattr(obj, "_meta", None)
    return meta is not None and meta.label_lower == "accounts.organization"


def zone_name_for(where=None, *, _depth: int = 0) -> str:
    """The IANA zone of `where` (see the module docstring), as a name."""
    if isinstance(where, str):
        return where or "UTC"
    if isinstance(where, zoneinfo.ZoneInfo):
        return where.key
    if isinstance(where, dt.tzinfo):
        return "UTC"
    if where is not None and _depth < 4:
        zone = getattr(where, "time_zone", None)
        if isinstance(zone, str) and zone:
            return zone
        found, location = _loaded(where, "location")
        if found and isinstance(location, str):  # an id: from the organization's locations
            display = _display_for(_organization_of(where))
            zone = display.location_zones().get(location) if display else None
            if zone:
                return zone
        elif found and location is not None:
            return zone_name_for(location, _depth=_depth + 1)
        found, plan = _loaded(where, "plan")
        if found and plan is not None and not isinstance(plan, str):
            return zone_name_for(plan, _depth=_depth + 1)
        organization = _organization_of(where)
        if organization is not None:
            return organization.time_zone or "UTC"
    display = _current()
    return (display.organization.time_zone if display else None) or "UTC"


def zone_for(where=None) -> zoneinfo.ZoneInfo:
    """The zone a person reads `where`'s times in."""
    if isinstance(where, dt.tzinfo) and not isinstance(where, zoneinfo.ZoneInfo):
        return where  # a fixed offset given on purpose
    return _zone(zone_name_for(where))


def localize(instant: dt.datetime, where=None) -> dt.datetime:
    """The instant as a wall time of `where`'s zone (aware). Naive values are refused: an
    instant without an offset cannot be placed."""
    if instant.tzinfo is None:
        raise ValueError("a naive datetime is not an instant")
    return instant.astimezone(zone_for(where))


def zones_in_play(organization=None) -> set[str]:
    display = _display_for(organization)
    if display is None:
        return set()
    return {display.organization.time_zone or "UTC", *display.location_zones().values()}


def parse_local(value: str, where=None) -> dt.datetime | None:
    """A date and time typed into a form ("2030-12-03T15:00", as `<input type=datetime-local>`
    sends it) read as a wall time of `where`'s zone; an explicit offset is kept. None when it
    is not a date and time. DST: a skipped wall time moves forward, a repeated one is the first.
    """
    try:
        parsed = dt.datetime.fromisoformat((value or "").strip())
    except ValueError:
        return None
    if parsed.tzinfo is not None:
        return parsed
    return wall_to_instant(parsed.date(), parsed.time(), where)


def wall_to_instant(day: dt.date, wall: dt.time, where=None) -> dt.datetime:
    """A wall time of `where`'s zone as a UTC instant (DST-safe, as the scheduling rules)."""
    tz = zone_for(where)
    local = dt.datetime.combine(day, wall, tzinfo=tz)
    # a wall time in a spring-forward gap does not round-trip: move it past the gap
    back = local.astimezone(UTC).astimezone(tz)
    if back.replace(tzinfo=None) != local.replace(tzinfo=None):
        local = back
    return local.astimezone(UTC)


# --- locales -------------------------------------------------------------------------------------


def region_for(organization=None) -> str | None:
    """The organization's region: from its locale setting when it names one ("en-US"), else
    the country of its zone."""
    organization = organization if organization is not None else _org_in_context()
    if organization is None:
        return None
    code = (getattr(organization, "default_locale", "") or "").replace("_", "-")
    if "-" in code:
        return code.split("-", 1)[1].upper() or None
    return get_global("zone_territories").get(getattr(organization, "time_zone", "") or "")


def _org_in_context():
    display = _current()
    return display.organization if display else None


@functools.lru_cache(maxsize=128)
def _locale(language: str, region: str | None) -> Locale:
    language = (language or "en").split("-")[0].split("_")[0].lower() or "en"
    if region and localedata.exists(f"{language}_{region}"):
        return Locale.parse(f"{language}_{region}")
    try:
        return Locale.parse(language)
    except Exception:
        return Locale.parse("en")


def locale_for(language: str | None = None, organization=None, *, region: str | None = None):
    """The Babel locale: `language` (else the active one) in the organization's region."""
    language = language or translation.get_language() or "en"
    if region is None:
        region = region_for(organization)
    return _locale(language, region)


def _hour24(locale: Locale) -> bool:
    return "H" in locale.time_formats["short"].pattern


def browser_format(language: str | None = None, organization=None) -> dict[str, str]:
    """What a page's script needs to format times as the server does (Intl.DateTimeFormat):
    the BCP 47 locale ("en-FR") and the hour cycle, given explicitly since a browser may not
    know the language in that region."""
    locale = locale_for(language, organization)
    tag = "-".join(p for p in (locale.language, locale.territory) if p)
    return {"locale": tag, "hourCycle": "h23" if _hour24(locale) else "h12"}


def _join(locale: Locale, date_text: str, time_text: str) -> str:
    pattern = str(get_datetime_format("medium", locale=locale)).replace("'", "")
    return pattern.replace("{1}", date_text).replace("{0}", time_text)


# --- formatting ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _How:
    locale: Locale
    tz: zoneinfo.ZoneInfo | dt.tzinfo
    label: str  # the zone's name, when it is to be shown


def _how(where, language, organization, name_zone) -> _How:
    organization = organization or _organization_of(where)
    locale = locale_for(language, organization)
    tz = zone_for(where)
    if name_zone is None:
        name_zone = len(zones_in_play(organization)) > 1
    label = ""
    if name_zone:
        label = (
            get_timezone_location(tz, locale=locale, return_city=True)
            if isinstance(tz, zoneinfo.ZoneInfo)
            else str(tz)
        )
    return _How(locale, tz, label)


def zone_label(where=None, *, language=None, organization=None) -> str:
    """The zone's name ("Kolkata") when more than one zone is in play, else ""."""
    return _how(where, language, organization, None).label


def _labelled(text: str, how: _How) -> str:
    return f"{text} ({how.label})" if how.label else text


def _as_local(value, how: _How):
    return value.astimezone(how.tz) if isinstance(value, dt.datetime) else value


def local_date(value, where=None, *, language=None, organization=None) -> str:
    """A calendar day. A `date` is shown as it is; an instant as its day in `where`'s zone."""
    if value in (None, ""):
        return ""
    if isinstance(value, str):  # a date that came through JSON (e.g. a 409's details)
        try:
            value = dt.date.fromisoformat(value[:10])
        except ValueError:
            return value
    how = _how(where, language, organization, name_zone=False)
    if isinstance(value, dt.datetime):
        value = _as_local(value, how).date()
    return format_date(value, "medium", locale=how.locale)


def local_day(value, where=None, *, language=None, organization=None) -> str:
    """A day heading in a week grid ("Tue 3 Dec")."""
    if value in (None, ""):
        return ""
    how = _how(where, language, organization, name_zone=False)
    if isinstance(value, dt.datetime):
        value = _as_local(value, how).date()
    return format_skeleton("MMMEd", value, locale=how.locale)


def local_time(
    instant, where=None, *, language=None, organization=None, name_zone: bool | None = False
) -> str:
    """The wall time of an instant (a `time` is shown as it is). Times stand in a grid or
    after a date whose zone is named once (`zone_label`), so they are not named by default."""
    if instant in (None, ""):
        return ""
    if isinstance(instant, dt.time):
        return format_time(
            instant, "short", locale=locale_for(language, organization or _organization_of(where))
        )
    how = _how(where, language, organization, name_zone)
    return _labelled(format_time(_as_local(instant, how), "short", locale=how.locale), how)


def _datetime_text(local: dt.datetime, how: _How) -> str:
    date_text = format_skeleton("yMMMEd", local.date(), locale=how.locale)
    return _join(how.locale, date_text, format_time(local, "short", locale=how.locale))


def local_datetime(
    instant, where=None, *, language=None, organization=None, name_zone: bool | None = None
) -> str:
    """An instant: weekday, date and wall time in `where`'s zone."""
    if instant in (None, ""):
        return ""
    how = _how(where, language, organization, name_zone)
    return _labelled(_datetime_text(_as_local(instant, how), how), how)


def local_datetime_long(
    instant, where=None, *, language=None, organization=None, name_zone: bool | None = None
) -> str:
    """An instant written out in full, for a sentence a patient reads (emails, SMS)."""
    if instant in (None, ""):
        return ""
    how = _how(where, language, organization, name_zone)
    local = _as_local(instant, how)
    pattern = str(get_datetime_format("full", locale=how.locale)).replace("'", "")
    text = pattern.replace("{1}", format_date(local.date(), "full", locale=how.locale)).replace(
        "{0}", format_time(local, "short", locale=how.locale)
    )
    return _labelled(text, how)


def local_range(
    start, end, where=None, *, language=None, organization=None, name_zone: bool | None = None
) -> str:
    """From `start` to `end` (end exclusive). Within one local day: the date once and the two
    times; from midnight to midnight: the day or days only (a whole-day block on 3 Dec reads
    "Tue, 3 Dec 2030", never "2 Dec 23:00 → 3 Dec 23:00"); otherwise both ends in full."""
    if start in (None, ""):
        return ""
    if end in (None, ""):
        return local_datetime(
            start, where, language=language, organization=organization, name_zone=name_zone
        )
    how = _how(where, language, organization, name_zone)
    a, b = _as_local(start, how), _as_local(end, how)
    skeleton = "Hm" if _hour24(how.locale) else "hm"
    if b > a and a.time() == dt.time(0) and b.time() == dt.time(0):
        last = b.date() - dt.timedelta(days=1)
        return format_interval(a.date(), last, "yMMMEd", locale=how.locale)
    if a.date() == b.date():
        date_text = format_skeleton("yMMMEd", a.date(), locale=how.locale)
        times = format_interval(a, b, skeleton, tzinfo=how.tz, locale=how.locale)
        return _labelled(_join(how.locale, date_text, times), how)
    return _labelled(f"{_datetime_text(a, how)} – {_datetime_text(b, how)}", how)
