"""The waitlist follows scheduling (subscribed in WaitlistConfig.ready, see core.events): a
cancelled or moved appointment frees its slot, which is offered to the best waiting entry in the
same transaction. Scheduling never imports the waitlist."""

from __future__ import annotations

import structlog
from django.db import DatabaseError, transaction
from django.utils import timezone

from clinic.core.events import subscribe
from clinic.scheduling import events as scheduling
from clinic.scheduling.models import AppointmentKind
from clinic.waitlist.services import slot_fill

log = structlog.get_logger(__name__)


def _fill(*, practitioner_id, location_id, start, end, modality) -> None:
    # A savepoint: whatever goes wrong while offering (a deadlock with the periodic job, a
    # constraint) must not undo the cancellation itself; the periodic job tries again later.
    try:
        with transaction.atomic():
            slot_fill(
                practitioner_id=practitioner_id,
                location_id=location_id,
                start=start,
                end=end,
                modality=modality,
                freed_at=timezone.now(),
            )
    except DatabaseError as exc:
        log.warning("waitlist.slot_fill_failed", error=str(exc))


def appointments_cancelled(event: scheduling.AppointmentsCancelled) -> None:
    for appointment in event.appointments:
        if appointment.kind != AppointmentKind.INDIVIDUAL or appointment.start_at <= timezone.now():
            continue
        _fill(
            practitioner_id=appointment.practitioner_id,
            location_id=appointment.location_id,
            start=appointment.start_at,
            end=appointment.end_at,
            modality=appointment.modality,
        )


def appointments_moved(event: scheduling.AppointmentsMoved) -> None:
    """The time an appointment left is free (its practitioner and length; a move to another
    practitioner is seen as freeing the new practitioner's old time: the event does not carry
    the previous practitioner)."""
    for appointment in event.appointments:
        previous = event.previous_starts.get(appointment.id)
        if (
            previous is None
            or previous == appointment.start_at
            or appointment.kind != AppointmentKind.INDIVIDUAL
            or previous <= timezone.now()
        ):
            continue
        _fill(
            practitioner_id=appointment.practitioner_id,
            location_id=appointment.location_id,
            start=previous,
            end=previous + (appointment.end_at - appointment.start_at),
            modality=appointment.modality,
        )


def subscriptions_register() -> None:
    subscribe(scheduling.AppointmentsCancelled, appointments_cancelled)
    subscribe(scheduling.AppointmentsMoved, appointments_moved)
