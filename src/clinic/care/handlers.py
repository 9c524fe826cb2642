"""Care follows appointments (subscribed in CareConfig.ready, see core.events): the consultation
an appointment realises takes its time, practitioner and outcome, in the same transaction.
Not on booking: a consultation is linked to its appointment only after the booking."""

from __future__ import annotations

from clinic.care.services import consultation_follow_appointment
from clinic.core.events import subscribe
from clinic.scheduling import events as scheduling


def consultations_follow(event: scheduling.AppointmentsChanged) -> None:
    for appointment in event.appointments:
        consultation_follow_appointment(appointment=appointment)


def subscriptions_register() -> None:
    for event_type in (
        scheduling.AppointmentsMoved,
        scheduling.AppointmentsCancelled,
        scheduling.AppointmentStatusChanged,
    ):
        subscribe(event_type, consultations_follow)
