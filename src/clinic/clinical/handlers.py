"""The clinical record follows check-ins (subscribed in ClinicalConfig.ready, see core.events):
an appointment whose service requires a consent cannot arrive, start or be completed without a
valid one (the refusal rolls the status change back: 409 `consent_required`), and a check-in
opens the appointment's encounter, once, in the same transaction."""

from __future__ import annotations

from clinic.clinical.services import consent_required_check, encounter_open_for_appointment
from clinic.core.events import subscribe
from clinic.scheduling import events as scheduling

# statuses that mean the patient is here (or the session has begun without a check-in)
ARRIVED = ("checked_in", "in_progress")
# statuses a consent must be signed for
CONSENT_NEEDED = ("checked_in", "in_progress", "completed")


def consents_required_on_arrival(event: scheduling.AppointmentStatusChanged) -> None:
    for appointment in event.appointments:
        if appointment.status in CONSENT_NEEDED and appointment.patient_id is not None:
            consent_required_check(
                patient_id=appointment.patient_id, service_id=appointment.service_id
            )


def encounters_open_on_check_in(event: scheduling.AppointmentStatusChanged) -> None:
    for appointment in event.appointments:
        if appointment.status in ARRIVED:
            encounter_open_for_appointment(appointment=appointment, actor=event.actor)


def subscriptions_register() -> None:
    subscribe(scheduling.AppointmentStatusChanged, consents_required_on_arrival)
    subscribe(scheduling.AppointmentStatusChanged, encounters_open_on_check_in)
