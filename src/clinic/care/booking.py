"""The consultation's appointment, through the scheduling services (the same conflict rules,
availability checks and 409 answers with alternatives as any booking)."""

from __future__ import annotations

from datetime import timedelta

from django.utils.translation import gettext as _

from clinic.accounts.models import Membership
from clinic.care.models import Consultation
from clinic.core.errors import ValidationFailed
from clinic.scheduling import services as scheduling


def appointment_book_for(*, actor: Membership, consultation: Consultation) -> None:
    plan = consultation.plan
    if plan.service_id is None:
        raise ValidationFailed(
            _("The plan has no default service, so there is nothing to book."),
            details={"service_id": [_("Set the plan's default service first.")]},
        )
    appointment = scheduling.appointment_book(
        actor=actor,
        practitioner_id=consultation.practitioner_id,
        patient_id=plan.patient_id,
        service_id=plan.service_id,
        start=consultation.planned_start,
        end=consultation.planned_start + timedelta(minutes=consultation.duration_minutes),
        location_id=consultation.location_id,
        notes=_("%(plan)s — consultation %(n)d") % {"plan": plan.title, "n": consultation.sequence},
    )
    consultation.appointment = appointment


def appointment_move(*, actor: Membership, consultation: Consultation) -> None:
    scheduling.appointment_reschedule(
        actor=actor,
        appointment=consultation.appointment,
        start=consultation.planned_start,
        end=consultation.planned_start + timedelta(minutes=consultation.duration_minutes),
        practitioner_id=consultation.practitioner_id,
    )


def appointment_cancel_for(*, actor: Membership, consultation: Consultation, reason: str) -> None:
    appointment = consultation.appointment
    if appointment is not None and appointment.status not in ("cancelled", "completed", "no_show"):
        scheduling.appointment_status_set(
            actor=actor, appointment=appointment, status="cancelled", reason=reason
        )
