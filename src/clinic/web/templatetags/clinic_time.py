"""Template filters for times shown to a person: thin wrappers of `clinic.core.timefmt`.

    {% load clinic_time %}
    {{ appointment.start_at|local_datetime:appointment }}   Tue, 3 Dec 2030, 15:00
    {{ event.occurred_at|local_datetime }}                  the current organization's zone
    {{ c.planned_start|local_time:plan }}                   15:00 · 3:00 PM
    {{ patient.date_of_birth|local_date }}                  3 Dec 1990 (a date: no zone)
    {{ day|local_day }}                                     Tue 3 Dec
    {% local_range e.start_at e.end_at e %}                 Tue, 3 Dec 2030 (a whole day)
    <time datetime="{{ x|local_iso:loc }}">                 2030-12-03T15:00:00+05:30

The argument says where: a zone name, a location, an organization, or a record with a location,
a plan or an organization (see `timefmt.zone_for`).
"""

from __future__ import annotations

import datetime as dt

from django import template

from clinic.core import timefmt

register = template.Library()


@register.filter
def local_datetime(value, where=None) -> str:
    return timefmt.local_datetime(value, where)


@register.filter
def local_date(value, where=None) -> str:
    return timefmt.local_date(value, where)


@register.filter
def local_time(value, where=None) -> str:
    return timefmt.local_time(value, where)


@register.filter
def local_day(value, where=None) -> str:
    return timefmt.local_day(value, where)


@register.filter
def zone_label(where=None) -> str:
    """ "Kolkata" when the organization has more than one zone, else "" (for a heading)."""
    return timefmt.zone_label(where)


@register.simple_tag
def local_range(start, end, where=None) -> str:
    return timefmt.local_range(start, end, where)


@register.filter
def local_iso(value, where=None) -> str:
    """Machine form for `datetime=` attributes: ISO 8601 with the local offset."""
    if not isinstance(value, dt.datetime):
        return value.isoformat() if isinstance(value, dt.date) else ""
    return timefmt.localize(value, where).isoformat()


@register.filter
def local_input(value, where=None) -> str:
    """The value of an `<input type=datetime-local>`: the wall time, minutes, no offset."""
    if not isinstance(value, dt.datetime):
        return ""
    return timefmt.localize(value, where).replace(tzinfo=None).isoformat(timespec="minutes")
