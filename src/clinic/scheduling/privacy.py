"""Scheduling's personal data about a patient (core/privacy.py): appointments are kept — they
are what was done and billed — with their free text emptied on erasure. An erasure waits until
the patient has no upcoming appointment or hold (cancel or move them first)."""

from __future__ import annotations

from django.utils import timezone
from django.utils.translation import gettext_lazy, ngettext

from clinic.core.privacy import Erased, Outcome, personal_data
from clinic.scheduling.models import RELEASED_STATUSES, Appointment

_TEXT = ("notes", "cancel_reason")


def _appointments(patient):
    return Appointment.objects.filter(patient=patient)


def appointments_export(patient) -> list[dict]:
    return [
        {
            "start": a.start_at,
            "end": a.end_at,
            "status": a.status,
            "service": a.service.name if a.service else "",
            "practitioner": a.practitioner.display_name,
            "location": a.location.name if a.location else "",
            "notes": a.notes,
            "cancel_reason": a.cancel_reason,
        }
        for a in _appointments(patient)
        .select_related("service", "practitioner", "location")
        .order_by("start_at")
    ]


def appointments_erase(patient) -> Erased:
    ids = list(
        _appointments(patient).exclude(notes="", cancel_reason="").values_list("id", flat=True)
    )
    Appointment.objects.filter(id__in=ids).update(notes="", cancel_reason="")
    return Erased(len(ids), {"scheduling_appointment": ids})


def appointments_blocking(patient) -> str:
    upcoming = (
        _appointments(patient)
        .filter(start_at__gt=timezone.now())
        .exclude(status__in=RELEASED_STATUSES)
        .count()
    )
    if upcoming:
        return ngettext(
            "%(n)d upcoming appointment: cancel or move it first.",
            "%(n)d upcoming appointments: cancel or move them first.",
            upcoming,
        ) % {"n": upcoming}
    return ""


def register() -> None:
    personal_data(
        "scheduling.appointments",
        holds=gettext_lazy("Appointments: times, services, notes and cancellation reasons"),
        outcome=Outcome.ANONYMISED,
        count=lambda patient: _appointments(patient).count(),
        export=appointments_export,
        erase=appointments_erase,
        blocking=appointments_blocking,
        audit={"scheduling_appointment": _TEXT},
        order=30,
    )
