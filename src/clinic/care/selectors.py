"""Reads of treatment plans and consultations: scoped to what the actor may see, N+1-free."""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from django.db.models import Count, Min, OuterRef, Prefetch, Q, QuerySet, Subquery
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from clinic.accounts.models import Membership
from clinic.accounts.roles import Role
from clinic.care.models import Consultation, FrequencyUnit, TreatmentPlan
from clinic.care.status import ConsultationStatus, PlanStatus
from clinic.core.errors import NotFound
from clinic.core.timeline import Cursor, TimelineItem, before_q
from clinic.core.timeline import order_by as timeline_order
from clinic.directory.selectors import patients_visible_to

UNIT_DAYS = {FrequencyUnit.DAY: 1, FrequencyUnit.WEEK: 7, FrequencyUnit.MONTH: 30.4375}


def _uuid(value: Any) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value))
    except (TypeError, ValueError, AttributeError):
        return None


def plans_visible_to(actor: Membership) -> QuerySet:
    """Managers, admins, owners and assistants: every plan. Practitioners: the plans they are
    responsible for. Patients: the active plans of the patients they may see."""
    qs = TreatmentPlan.objects.all()
    if actor.role == Role.PRACTITIONER:
        qs = qs.filter(practitioner__membership_id=actor.id)
    elif actor.role == Role.PATIENT:
        qs = qs.filter(
            status=PlanStatus.ACTIVE, patient_id__in=patients_visible_to(actor).values("id")
        )
    return qs


def _with_related(qs: QuerySet) -> QuerySet:
    return qs.select_related("patient", "practitioner", "service", "location")


def _progress_annotations() -> dict:
    now = timezone.now()
    live = ~Q(consultations__status=ConsultationStatus.CANCELLED)
    return {
        "n_total": Count("consultations", filter=live),
        "n_planned": Count(
            "consultations", filter=Q(consultations__status=ConsultationStatus.PLANNED)
        ),
        "n_scheduled": Count(
            "consultations", filter=Q(consultations__status=ConsultationStatus.SCHEDULED)
        ),
        "n_completed": Count(
            "consultations", filter=Q(consultations__status=ConsultationStatus.COMPLETED)
        ),
        "n_missed": Count(
            "consultations", filter=Q(consultations__status=ConsultationStatus.MISSED)
        ),
        "n_cancelled": Count(
            "consultations", filter=Q(consultations__status=ConsultationStatus.CANCELLED)
        ),
        "next_start": Min(
            "consultations__planned_start",
            filter=Q(
                consultations__planned_start__gte=now,
                consultations__status__in=[
                    ConsultationStatus.PLANNED,
                    ConsultationStatus.SCHEDULED,
                ],
            ),
        ),
    }


def plan_for_actor(actor: Membership, plan_id: Any, *, for_update: bool = False) -> TreatmentPlan:
    plan_uuid = _uuid(plan_id)
    qs = plans_visible_to(actor).filter(id=plan_uuid) if plan_uuid else TreatmentPlan.objects.none()
    plan = (
        qs.select_for_update(of=("self",))
        if for_update
        else _with_related(qs).annotate(**_progress_annotations())
    ).first()
    if plan is None:
        raise NotFound(_("Treatment plan not found."))
    return plan


def plans_list(
    actor: Membership,
    *,
    patient_id: Any = None,
    practitioner_id: Any = None,
    status: str | None = None,
    search: str | None = None,
    sort: str = "-start_date",
) -> QuerySet:
    qs = _with_related(plans_visible_to(actor)).annotate(**_progress_annotations())
    if patient_id:
        qs = qs.filter(patient_id=_uuid(patient_id))
    if practitioner_id:
        qs = qs.filter(practitioner_id=_uuid(practitioner_id))
    if status:
        qs = qs.filter(status__in=[s for s in status.split(",") if s])
    if search:
        qs = qs.filter(Q(title__icontains=search) | Q(diagnosis_codes__icontains=search))
    allowed = {
        "start_date",
        "-start_date",
        "title",
        "-title",
        "created_at",
        "-created_at",
        "status",
        "-status",
    }
    return qs.order_by(sort if sort in allowed else "-start_date", "id")


def consultations_visible_to(actor: Membership) -> QuerySet:
    qs = Consultation.objects.filter(plan__in=plans_visible_to(actor).values("id"))
    if actor.role == Role.PATIENT:
        qs = qs.exclude(status=ConsultationStatus.CANCELLED)
    return qs


def _consultation_related(qs: QuerySet) -> QuerySet:
    return qs.select_related("practitioner", "location", "plan", "plan__patient", "plan__service")


def consultation_for_actor(actor: Membership, consultation_id: Any) -> Consultation:
    cid = _uuid(consultation_id)
    consultation = (
        _consultation_related(consultations_visible_to(actor).filter(id=cid)).first()
        if cid
        else None
    )
    if consultation is None:
        raise NotFound(_("Consultation not found."))
    return consultation


def consultations_of_plan(
    actor: Membership, plan: TreatmentPlan, *, status: str | None = None
) -> QuerySet:
    qs = _consultation_related(consultations_visible_to(actor).filter(plan=plan))
    if status:
        qs = qs.filter(status__in=status.split(","))
    return qs.order_by("sequence")


def consultations_between(
    actor: Membership, *, practitioner_id, start: datetime, end: datetime
) -> QuerySet:
    """Live consultations of a practitioner in a range (the planning drawer's week)."""
    return _consultation_related(
        consultations_visible_to(actor)
        .filter(practitioner_id=practitioner_id, planned_start__lt=end, planned_end__gt=start)
        .exclude(status=ConsultationStatus.CANCELLED)
    ).order_by("planned_start")


@dataclass(frozen=True)
class PlanProgress:
    planned: int
    scheduled: int
    completed: int
    missed: int
    cancelled: int
    total: int
    target: int | None
    expected_by_now: int | None
    next_start: datetime | None
    on_track: bool | None
    remaining: int | None


def plan_progress(plan: TreatmentPlan, *, today: date | None = None) -> PlanProgress:
    """Counts come from the annotations of `plans_list`/`plan_for_actor` (no extra query).

    On track: the consultations completed or booked up to today keep pace with the intended
    frequency since the start date (one session of grace), and the plan's target is not out of
    reach. None when the plan states no frequency.
    """
    today = today or timezone.localdate()
    expected = None
    on_track = None
    if plan.frequency_count and plan.status in (PlanStatus.ACTIVE, PlanStatus.ON_HOLD):
        elapsed_days = max(0, (today - plan.start_date).days)
        periods = elapsed_days / UNIT_DAYS[FrequencyUnit(plan.frequency_unit)]
        expected = math.floor(periods * plan.frequency_count)
        if plan.planned_consultations:
            expected = min(expected, plan.planned_consultations)
        held = plan.n_completed + plan.n_scheduled
        on_track = held >= expected - 1
    remaining = None
    if plan.planned_consultations:
        remaining = max(0, plan.planned_consultations - plan.n_completed)
    return PlanProgress(
        planned=plan.n_planned,
        scheduled=plan.n_scheduled,
        completed=plan.n_completed,
        missed=plan.n_missed,
        cancelled=plan.n_cancelled,
        total=plan.n_total,
        target=plan.planned_consultations,
        expected_by_now=expected,
        next_start=plan.next_start,
        on_track=on_track,
        remaining=remaining,
    )


def plans_with_consultations(actor: Membership, plans: QuerySet) -> QuerySet:
    return plans.prefetch_related(
        Prefetch("consultations", queryset=consultations_visible_to(actor).order_by("sequence"))
    )


def patient_plans_timeline(
    actor: Membership, *, patient_id: Any, before: Cursor | None = None, limit: int = 20
) -> list[TimelineItem]:
    """The patient's treatment plans as timeline items (at: when the plan was written), newest
    first, after `before`, at most `limit + 1` (one query)."""
    rows = (
        plans_visible_to(actor)
        .filter(patient_id=_uuid(patient_id))
        .filter(before_q(before, kind="plan", at_field="created_at"))
        .select_related("location")
        .order_by(*timeline_order("created_at"))[: limit + 1]
    )
    statuses = dict(PlanStatus.choices)
    return [
        TimelineItem(
            kind="plan",
            at=plan.created_at,
            title=plan.title,
            status=plan.status,
            status_label=str(statuses.get(plan.status, plan.status)),
            object_id=plan.id,
            url=reverse("care:plan", args=[plan.id]),
            place=(plan.location.time_zone or None) if plan.location_id else None,
        )
        for plan in rows
    ]


def plan_of_appointment(actor: Membership) -> Subquery:
    """The id of the treatment plan (one the actor may see) that the outer appointment
    (`OuterRef("pk")`) was scheduled for, as a subquery: the calendar adds it to every item."""
    return Subquery(
        plans_visible_to(actor)
        .filter(consultations__appointment_id=OuterRef("pk"))
        .values("id")[:1]
    )
