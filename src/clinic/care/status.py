"""The two status machines of this module, each in one table.

Plans: draft → active → on_hold ↔ active → completed | cancelled (a draft or a plan on hold may
also be cancelled).

Consultations: planned → scheduled → completed | cancelled | missed, and planned → cancelled.
`completed` and `missed` follow the appointment (completed / no-show); a consultation is only
set to them by `consultation_follow_appointment`, never by hand, so the two never disagree.
"""

from __future__ import annotations

from django.db import models
from django.utils.translation import pgettext_lazy


class PlanStatus(models.TextChoices):
    DRAFT = "draft", pgettext_lazy("plan status", "Draft")
    ACTIVE = "active", pgettext_lazy("plan status", "Active")
    ON_HOLD = "on_hold", pgettext_lazy("plan status", "On hold")
    COMPLETED = "completed", pgettext_lazy("plan status", "Completed")
    CANCELLED = "cancelled", pgettext_lazy("plan status", "Cancelled")


PLAN_TRANSITIONS: dict[str, frozenset[str]] = {
    PlanStatus.DRAFT: frozenset({PlanStatus.ACTIVE, PlanStatus.CANCELLED}),
    PlanStatus.ACTIVE: frozenset({PlanStatus.ON_HOLD, PlanStatus.COMPLETED, PlanStatus.CANCELLED}),
    PlanStatus.ON_HOLD: frozenset({PlanStatus.ACTIVE, PlanStatus.CANCELLED}),
    PlanStatus.COMPLETED: frozenset(),
    PlanStatus.CANCELLED: frozenset(),
}


class ConsultationStatus(models.TextChoices):
    PLANNED = "planned", pgettext_lazy("consultation status", "Planned")
    SCHEDULED = "scheduled", pgettext_lazy("consultation status", "Scheduled")
    COMPLETED = "completed", pgettext_lazy("consultation status", "Completed")
    CANCELLED = "cancelled", pgettext_lazy("consultation status", "Cancelled")
    MISSED = "missed", pgettext_lazy("consultation status", "Missed")


# Transitions a person may ask for. Scheduling goes through `consultation_schedule` (it books the
# appointment); completed/missed only follow the appointment.
CONSULTATION_TRANSITIONS: dict[str, frozenset[str]] = {
    ConsultationStatus.PLANNED: frozenset(
        {ConsultationStatus.SCHEDULED, ConsultationStatus.CANCELLED}
    ),
    ConsultationStatus.SCHEDULED: frozenset({ConsultationStatus.CANCELLED}),
    ConsultationStatus.COMPLETED: frozenset(),
    ConsultationStatus.CANCELLED: frozenset(),
    ConsultationStatus.MISSED: frozenset(),
}

# Appointment status → the consultation status it implies (None: no change).
FOLLOWS_APPOINTMENT: dict[str, str] = {
    "completed": ConsultationStatus.COMPLETED,
    "cancelled": ConsultationStatus.CANCELLED,
    "no_show": ConsultationStatus.MISSED,
}

# Plans in these statuses accept new consultations and scheduling.
PLAN_OPEN = frozenset({PlanStatus.DRAFT, PlanStatus.ACTIVE, PlanStatus.ON_HOLD})
