"""The clinical record follows check-ins (subscribed in ClinicalConfig.ready, see core.events):
an appointment's check-in opens its encounter, once, in the same transaction."""

from __future__ import annotations

from clinic.clinical.services import encounter_open_for_appointment
from clinic.core.events import subscribe
from clinic.scheduling import events as scheduling

# statuses that mean the patient is here (or the session has begun without a check-in)
ARRIVED = ("checked_in", "in_progress")


def encounters_open_on_check_in(event: scheduling.AppointmentStatusChanged) -> None:
    for appointment in event.appointments:
        if appointment.status in ARRIVED:
            encounter_open_for_appointment(appointment=appointment, actor=event.actor)


def subscriptions_register() -> None:
    subscribe(scheduling.AppointmentStatusChanged, encounters_open_on_check_in)
