"""Notifications follow scheduling, billing and the clinical record (subscribed in
NotificationsConfig.ready, see core.events): appointment confirmations, reminders and
cancellation notices, the payer's "invoice issued" message, the practitioner's time-off decision
and the admins' notice of a break-glass access, planned in the transaction of the change."""

from __future__ import annotations

from clinic.billing import events as billing
from clinic.clinical import events as clinical
from clinic.core.events import subscribe
from clinic.notifications.break_glass import break_glass_notify
from clinic.notifications.invoices import invoice_issued_notify as invoice_issued_plan
from clinic.notifications.services import appointment_notifications_plan
from clinic.notifications.time_off import time_off_decision_notify
from clinic.scheduling import events as scheduling
from clinic.scheduling.models import AppointmentKind

# the planner's own names for what happened to an appointment
_APPOINTMENT_EVENT = {
    scheduling.AppointmentsBooked: "booked",
    scheduling.AppointmentsMoved: "rescheduled",
    scheduling.AppointmentsCancelled: "cancelled",
    scheduling.AppointmentStatusChanged: "status",
}


def appointments_notify(event: scheduling.AppointmentsChanged) -> None:
    moved = isinstance(event, scheduling.AppointmentsMoved)
    told = isinstance(event, scheduling.AppointmentsMoved | scheduling.AppointmentsCancelled)
    previous = event.previous_starts if moved else {}
    for appointment in event.appointments:
        if appointment.kind == AppointmentKind.BLOCK:
            continue  # blocked time has nobody to tell
        appointment_notifications_plan(
            appointment=appointment,
            event=_APPOINTMENT_EVENT[type(event)],
            previous_start=previous.get(appointment.id),
            actor=event.actor,
            # "Tell the patient" unticked: no "moved"/"cancelled" message to the patient
            # (reminders still follow a move; staff are still told of a cancellation)
            announce=event.notify if told else True,
        )


def invoice_issued_notify(event: billing.InvoiceIssued) -> None:
    invoice_issued_plan(invoice=event.invoice, pdf_url=event.pdf_url)


def time_off_decided_notify(event: scheduling.TimeOffDecided) -> None:
    time_off_decision_notify(time_off=event.time_off, actor=event.actor)


def break_glass_opened_notify(event: clinical.BreakGlassOpened) -> None:
    break_glass_notify(access=event.access, actor=event.actor)


def subscriptions_register() -> None:
    for event_type in _APPOINTMENT_EVENT:
        subscribe(event_type, appointments_notify)
    subscribe(billing.InvoiceIssued, invoice_issued_notify)
    subscribe(scheduling.TimeOffDecided, time_off_decided_notify)
    subscribe(clinical.BreakGlassOpened, break_glass_opened_notify)
