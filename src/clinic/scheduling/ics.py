"""RFC 5545 calendar feeds (`icalendar`): a practitioner's appointments for their phone or
desktop calendar, without clinical details beyond what the organization allows (setting
`ics_detail`; default: the service and the patient's initials)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from django.utils.translation import gettext as _
from icalendar import Calendar, Event

from clinic.scheduling.models import Appointment, AppointmentKind, IcsDetail

PRODID = "-//Clinic//Scheduling feed//EN"
STATUS = {
    "held": "TENTATIVE",
    "scheduled": "TENTATIVE",
    "cancelled": "CANCELLED",
    "no_show": "CANCELLED",
}


def initials(patient) -> str:
    parts = [patient.preferred_name or patient.given_name, patient.family_name]
    return "".join(f"{p.strip()[0].upper()}." for p in parts if p and p.strip())


def summary(appointment: Appointment, detail: str) -> str:
    if appointment.kind == AppointmentKind.BLOCK:
        return _("Blocked")
    if detail == IcsDetail.BUSY:
        return _("Busy")
    service = appointment.service.name if appointment.service else _("Appointment")
    patient = appointment.patient
    if patient is None or detail == IcsDetail.SERVICE:
        return service
    who = patient.display_name if detail == IcsDetail.SERVICE_NAME else initials(patient)
    return f"{service} · {who}" if who else service


def calendar_build(
    *, name: str, appointments: Iterable[Appointment], detail: str, now: datetime | None = None
) -> bytes:
    now = now or datetime.now(UTC)
    cal = Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("method", "PUBLISH")
    cal.add("x-wr-calname", name)
    cal.add("refresh-interval", timedelta(minutes=15), parameters={"VALUE": "DURATION"})
    for appointment in appointments:
        event = Event()
        event.add("uid", f"{appointment.id}@clinic")
        event.add("dtstamp", now)
        # the location's wall time with its zone (TZID and a VTIMEZONE below): a calendar
        # app shows it right in any zone, and the file itself reads as the clinic's time
        zone = ZoneInfo(appointment.location.time_zone)
        event.add("dtstart", appointment.start_at.astimezone(zone))
        event.add("dtend", appointment.end_at.astimezone(zone))
        event.add("summary", summary(appointment, detail))
        event.add("status", STATUS.get(appointment.status, "CONFIRMED"))
        event.add("last-modified", appointment.updated_at.astimezone(UTC))
        if detail != IcsDetail.BUSY:
            where = appointment.location.name
            if appointment.room is not None:
                where = f"{where} · {appointment.room.name}"
            event.add("location", where)
        event.add(
            "transp", "TRANSPARENT" if appointment.status in ("cancelled", "no_show") else "OPAQUE"
        )
        cal.add_component(event)
    cal.add_missing_timezones()
    return cal.to_ical()
