"""Every write to treatment plans and consultations.

Scheduling a consultation books its appointment through the scheduling services (same conflict
rules, same 409 with alternatives); appointment status changes come back through
`consultation_follow_appointment`, called by the scheduling services in the same transaction.
"""

from __future__ import annotations

import uuid
import zoneinfo
from collections.abc import Mapping
from datetime import date, datetime, timedelta
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from clinic.accounts.models import Membership
from clinic.accounts.roles import Role
from clinic.audit.services import audit_record
from clinic.care.models import (
    Consultation,
    ConsultationType,
    FrequencyUnit,
    GoalStatus,
    TreatmentPlan,
)
from clinic.care.status import (
    CONSULTATION_TRANSITIONS,
    FOLLOWS_APPOINTMENT,
    PLAN_OPEN,
    PLAN_TRANSITIONS,
    ConsultationStatus,
    PlanStatus,
)
from clinic.core.errors import Conflict, DomainError, PermissionDenied, ValidationFailed
from clinic.directory.models import Location, Modality, Practitioner, PractitionerService, Service
from clinic.directory.selectors import patients_visible_to

FieldErrors = dict[str, list[str]]

PLAN_FIELDS = {
    "title",
    "reason",
    "diagnosis_codes",
    "goals",
    "start_date",
    "end_date",
    "planned_consultations",
    "frequency_count",
    "frequency_unit",
    "service_id",
    "location_id",
    "modality",
    "notes",
    "practitioner_id",
}
CONSULTATION_FIELDS = {
    "type",
    "planned_start",
    "duration_minutes",
    "location_id",
    "modality",
    "practitioner_id",
    "notes",
}


# --- helpers ----------------------------------------------------------------------------------


def _uuid(value: Any) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value))
    except (TypeError, ValueError, AttributeError):
        return None


def _ref(model, value: Any, field: str, errors: FieldErrors, *, active_only: bool = True):
    """Resolve an id in the request body to a row of this clinic, or record a field error."""
    if value in (None, ""):
        return None
    row_id = _uuid(value)
    row = model.objects.filter(id=row_id).first() if row_id else None
    if row is None:
        errors.setdefault(field, []).append(_("Not found."))
    elif active_only and getattr(row, "is_active", True) is False:
        errors.setdefault(field, []).append(_("Inactive."))
    return row


def _raise(errors: FieldErrors, message: str | None = None) -> None:
    if errors:
        first = next(iter(errors))
        raise ValidationFailed(
            message or _("Invalid value for %(field)s.") % {"field": first}, details=errors
        )


def _own_practitioner(actor: Membership) -> Practitioner | None:
    return Practitioner.objects.filter(membership_id=actor.id).first()


def _require_practitioner_scope(actor: Membership, practitioner: Practitioner | None) -> None:
    """A practitioner acts only on plans they are responsible for."""
    if actor.role == Role.PRACTITIONER and (
        practitioner is None or practitioner.membership_id != actor.id
    ):
        raise PermissionDenied(_("Practitioners manage the plans they are responsible for."))


def _delivers(practitioner: Practitioner, service: Service | None) -> bool:
    if service is None:
        return True
    return PractitionerService.objects.filter(practitioner=practitioner, service=service).exists()


def _clean_goals(value: Any, errors: FieldErrors) -> list[dict]:
    if value is None:
        return []
    if not isinstance(value, list):
        errors.setdefault("goals", []).append(_("A list of goals is expected."))
        return []
    goals = []
    for i, goal in enumerate(value):
        if not isinstance(goal, Mapping):
            errors.setdefault(f"goals.{i}", []).append(_("A goal is an object with a text."))
            continue
        text = str(goal.get("text") or "").strip()
        status = goal.get("status") or GoalStatus.OPEN
        if not text:
            errors.setdefault(f"goals.{i}.text", []).append(_("This field is required."))
        if len(text) > 500:
            errors.setdefault(f"goals.{i}.text", []).append(_("At most 500 characters."))
        if status not in GoalStatus.values:
            errors.setdefault(f"goals.{i}.status", []).append(
                _("One of: %s.") % ", ".join(GoalStatus.values)
            )
        goals.append(
            {"text": text, "target": str(goal.get("target") or "").strip()[:200], "status": status}
        )
    return goals


def _clean_codes(value: Any, errors: FieldErrors) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(c, str) for c in value):
        errors.setdefault("diagnosis_codes", []).append(_("A list of codes is expected."))
        return []
    codes = [c.strip().upper() for c in value if c.strip()]
    if any(len(c) > 32 for c in codes):
        errors.setdefault("diagnosis_codes", []).append(_("A code has at most 32 characters."))
    return list(dict.fromkeys(codes))


def _plan_values(data: Mapping[str, Any], errors: FieldErrors, *, creating: bool) -> dict:
    """Validate the plan fields present in `data`; returns model attribute values."""
    values: dict[str, Any] = {}
    if "title" in data or creating:
        title = str(data.get("title") or "").strip()
        if not title:
            errors.setdefault("title", []).append(_("This field is required."))
        elif len(title) > 200:
            errors.setdefault("title", []).append(_("At most 200 characters."))
        values["title"] = title
    for text_field in ("reason", "notes"):
        if text_field in data:
            values[text_field] = str(data.get(text_field) or "").strip()
    if "diagnosis_codes" in data:
        values["diagnosis_codes"] = _clean_codes(data["diagnosis_codes"], errors)
    if "goals" in data:
        values["goals"] = _clean_goals(data["goals"], errors)
    for date_field in ("start_date", "end_date"):
        if date_field in data:
            values[date_field] = data[date_field]
    if creating and not data.get("start_date"):
        errors.setdefault("start_date", []).append(_("This field is required."))
    for number in ("planned_consultations", "frequency_count"):
        if number in data:
            n = data[number]
            if n is not None and (not isinstance(n, int) or n < 1 or n > 1000):
                errors.setdefault(number, []).append(_("A whole number from 1 to 1000."))
            values[number] = n
    if "frequency_unit" in data:
        if data["frequency_unit"] not in FrequencyUnit.values:
            errors.setdefault("frequency_unit", []).append(
                _("One of: %s.") % ", ".join(FrequencyUnit.values)
            )
        values["frequency_unit"] = data["frequency_unit"]
    if "modality" in data:
        if data["modality"] not in Modality.values:
            errors.setdefault("modality", []).append(_("One of: %s.") % ", ".join(Modality.values))
        values["modality"] = data["modality"]
    if "service_id" in data:
        values["service"] = _ref(Service, data["service_id"], "service_id", errors)
    if "location_id" in data:
        values["location"] = _ref(Location, data["location_id"], "location_id", errors)
    if "practitioner_id" in data or creating:
        practitioner = _ref(Practitioner, data.get("practitioner_id"), "practitioner_id", errors)
        if practitioner is None and "practitioner_id" not in errors:
            errors.setdefault("practitioner_id", []).append(_("This field is required."))
        values["practitioner"] = practitioner
    return values


def _plan_cross_checks(plan: TreatmentPlan, errors: FieldErrors) -> None:
    if plan.end_date and plan.start_date and plan.end_date < plan.start_date:
        errors.setdefault("end_date", []).append(_("The end date is before the start date."))
    if plan.practitioner_id and plan.service_id and not _delivers(plan.practitioner, plan.service):
        errors.setdefault("service_id", []).append(
            _("%(practitioner)s does not deliver %(service)s.")
            % {"practitioner": plan.practitioner, "service": plan.service}
        )


# --- plans ------------------------------------------------------------------------------------


@transaction.atomic
def plan_create(*, actor: Membership, data: Mapping[str, Any]) -> TreatmentPlan:
    errors: FieldErrors = {}
    patient_id = _uuid(data.get("patient_id"))
    patient = patients_visible_to(actor).filter(id=patient_id).first() if patient_id else None
    if patient is None:
        errors.setdefault("patient_id", []).append(_("Not found."))
    elif patient.archived_at is not None:
        errors.setdefault("patient_id", []).append(_("This patient is archived."))
    unknown = set(data) - PLAN_FIELDS - {"patient_id"}
    for name in sorted(unknown):
        errors.setdefault(name, []).append(_("Unknown field."))
    values = _plan_values(data, errors, creating=True)
    _raise(errors)
    _require_practitioner_scope(actor, values["practitioner"])
    plan = TreatmentPlan(patient=patient, created_by_id=actor.user_id, **values)
    if plan.location is None and plan.practitioner.default_location_id:
        plan.location_id = plan.practitioner.default_location_id
    _plan_cross_checks(plan, errors)
    _raise(errors)
    plan.save()
    return plan


@transaction.atomic
def plan_update(
    *, actor: Membership, plan: TreatmentPlan, data: Mapping[str, Any]
) -> TreatmentPlan:
    if plan.status not in PLAN_OPEN:
        raise Conflict(
            _("A %(status)s plan cannot be changed.") % {"status": plan.get_status_display()},
            details={"status": plan.status},
            code="plan_closed",
        )
    errors: FieldErrors = {}
    for name in sorted(set(data) - PLAN_FIELDS):
        errors.setdefault(name, []).append(_("Unknown field."))
    if "goals" in data and not actor.has("treatment_plan.goals"):
        raise PermissionDenied(
            _("Your role does not allow editing goals."),
            details={"permission": "treatment_plan.goals"},
        )
    values = _plan_values(data, errors, creating=False)
    _raise(errors)
    if "practitioner" in values:
        _require_practitioner_scope(actor, values["practitioner"])
    for name, value in values.items():
        setattr(plan, name, value)
    _plan_cross_checks(plan, errors)
    if "start_date" in values or "end_date" in values:
        outside = _consultations_outside_dates(plan)
        if outside:
            errors.setdefault("start_date" if "start_date" in values else "end_date", []).append(
                _("%(n)d planned consultations would fall outside the plan's dates.")
                % {"n": len(outside)}
            )
    _raise(errors)
    plan.save()
    return plan


@transaction.atomic
def plan_delete(*, actor: Membership, plan: TreatmentPlan) -> None:
    """Only a draft with nothing booked may be deleted; anything else is cancelled instead, so
    its history stays."""
    _require_practitioner_scope(actor, plan.practitioner)
    if plan.status != PlanStatus.DRAFT:
        raise Conflict(
            _("Only draft plans can be deleted; cancel this one instead."),
            details={"status": plan.status},
            code="plan_not_draft",
        )
    if Consultation.objects.filter(plan=plan).exclude(status=ConsultationStatus.PLANNED).exists():
        raise Conflict(
            _("This plan has scheduled consultations; cancel it instead."), code="plan_has_bookings"
        )
    Consultation.objects.filter(plan=plan).delete()
    TreatmentPlan.objects.filter(id=plan.id).delete()


def _consultations_outside_dates(plan: TreatmentPlan) -> list[Consultation]:
    live = (
        Consultation.objects.filter(plan=plan)
        .exclude(status=ConsultationStatus.CANCELLED)
        .select_related("location")
    )
    return [c for c in live if _date_problem(plan, c.planned_start, c.location)]


@transaction.atomic
def plan_status_set(
    *, actor: Membership, plan: TreatmentPlan, status: str, reason: str = ""
) -> TreatmentPlan:
    """Moves the plan along its status machine. Cancelling a plan cancels its planned and
    scheduled consultations (and their appointments); completing it cancels what is still
    only planned, and is refused while booked consultations lie ahead."""
    if not status:
        raise ValidationFailed(
            _("Give the new status."), details={"status": [_("This field is required.")]}
        )

    plan = TreatmentPlan.objects.select_for_update().get(id=plan.id)
    allowed = PLAN_TRANSITIONS[PlanStatus(plan.status)]
    if status not in allowed:
        raise Conflict(
            _("A plan cannot go from %(from)s to %(to)s.") % {"from": plan.status, "to": status},
            details={"status": plan.status, "allowed": sorted(allowed)},
            code="invalid_transition",
        )
    open_items = Consultation.objects.filter(
        plan=plan, status__in=[ConsultationStatus.PLANNED, ConsultationStatus.SCHEDULED]
    )
    if status == PlanStatus.COMPLETED:
        ahead = list(
            open_items.filter(
                status=ConsultationStatus.SCHEDULED, planned_start__gte=timezone.now()
            )
        )
        if ahead:
            raise Conflict(
                _("%(n)d scheduled consultations are still ahead; cancel them first.")
                % {"n": len(ahead)},
                details={"consultations": [str(c.id) for c in ahead]},
                code="consultations_ahead",
            )
        for consultation in open_items.filter(status=ConsultationStatus.PLANNED):
            _consultation_cancel(actor=actor, consultation=consultation, reason=reason)
    elif status == PlanStatus.CANCELLED:
        for consultation in open_items:
            _consultation_cancel(
                actor=actor,
                consultation=consultation,
                reason=reason or _("Treatment plan cancelled"),
            )
    previous = plan.status
    plan.status = status
    plan.save(update_fields=["status", "updated_at"])
    audit_record(
        action="treatment_plan.status",
        organization_id=plan.organization_id,
        actor_id=actor.user_id,
        object_type="care_treatmentplan",
        object_id=str(plan.id),
        details={"from": previous, "to": status, "reason": reason},
    )
    return plan


# --- consultations ----------------------------------------------------------------------------


def _zone_of(plan: TreatmentPlan, location: Location | None) -> zoneinfo.ZoneInfo:
    name = (location.time_zone if location else None) or plan.organization.time_zone
    return zoneinfo.ZoneInfo(name)


def _date_problem(plan: TreatmentPlan, start: datetime, location: Location | None) -> bool:
    local_day: date = start.astimezone(_zone_of(plan, location)).date()
    return local_day < plan.start_date or (plan.end_date is not None and local_day > plan.end_date)


def _overlapping(plan: TreatmentPlan, start: datetime, minutes: int, exclude_id=None):
    end = start + timedelta(minutes=minutes)
    qs = Consultation.objects.filter(
        plan=plan, planned_start__lt=end, planned_end__gt=start
    ).exclude(status=ConsultationStatus.CANCELLED)
    if exclude_id:
        qs = qs.exclude(id=exclude_id)
    return list(qs.order_by("planned_start"))


def _consultation_values(
    plan: TreatmentPlan, data: Mapping[str, Any], errors: FieldErrors, *, creating: bool
) -> dict:
    values: dict[str, Any] = {}
    for name in sorted(set(data) - CONSULTATION_FIELDS):
        errors.setdefault(name, []).append(_("Unknown field."))
    if "type" in data:
        if data["type"] not in ConsultationType.values:
            errors.setdefault("type", []).append(
                _("One of: %s.") % ", ".join(ConsultationType.values)
            )
        values["type"] = data["type"]
    if "planned_start" in data or creating:
        start = data.get("planned_start")
        if not isinstance(start, datetime):
            errors.setdefault("planned_start", []).append(_("This field is required."))
        elif timezone.is_naive(start):
            errors.setdefault("planned_start", []).append(
                _("Give the time with its UTC offset, e.g. 2026-03-02T09:00:00+01:00.")
            )
        values["planned_start"] = start
    if "duration_minutes" in data:
        minutes = data["duration_minutes"]
        if not isinstance(minutes, int) or not 1 <= minutes <= 24 * 60:
            errors.setdefault("duration_minutes", []).append(
                _("Minutes, more than 0 and at most 1440.")
            )
        values["duration_minutes"] = minutes
    elif creating:
        if plan.service_id:
            values["duration_minutes"] = plan.service.duration_minutes
        else:
            errors.setdefault("duration_minutes", []).append(
                _("Required when the plan has no default service.")
            )
    if "modality" in data:
        if data["modality"] not in Modality.values:
            errors.setdefault("modality", []).append(_("One of: %s.") % ", ".join(Modality.values))
        values["modality"] = data["modality"]
    if "location_id" in data:
        values["location"] = _ref(Location, data["location_id"], "location_id", errors)
    if "practitioner_id" in data and data["practitioner_id"] is not None:
        values["practitioner"] = _ref(
            Practitioner, data["practitioner_id"], "practitioner_id", errors
        )
    if "notes" in data:
        values["notes"] = str(data.get("notes") or "").strip()
    return values


def _consultation_checks(consultation: Consultation, errors: FieldErrors) -> None:
    plan = consultation.plan
    start = consultation.planned_start
    if errors or start is None:
        return
    if _date_problem(plan, start, consultation.location):
        errors.setdefault("planned_start", []).append(
            _("Outside the plan's dates (%(start)s – %(end)s).")
            % {"start": plan.start_date, "end": plan.end_date or "…"}
        )
    if not _delivers(consultation.practitioner, plan.service):
        errors.setdefault("practitioner_id", []).append(
            _("%(practitioner)s does not deliver %(service)s.")
            % {"practitioner": consultation.practitioner, "service": plan.service}
        )
    clash = _overlapping(plan, start, consultation.duration_minutes, exclude_id=consultation.id)
    if clash:
        errors.setdefault("planned_start", []).append(
            _("Overlaps consultation #%(n)d of this plan.") % {"n": clash[0].sequence}
        )


def _renumber(plan: TreatmentPlan) -> None:
    """Keep sequence numbers dense and in planned-time order (one statement; the unique
    constraint is deferred to the end of the transaction)."""
    with connection.cursor() as cur:
        cur.execute(
            """
            UPDATE care_consultation c SET sequence = o.n
            FROM (SELECT id, row_number() OVER (ORDER BY planned_start, created_at, id) AS n
                  FROM care_consultation WHERE plan_id = %s AND organization_id = %s) o
            WHERE c.id = o.id AND c.sequence <> o.n
            """,
            [plan.id, plan.organization_id],
        )


def _plan_open_or_conflict(plan: TreatmentPlan) -> None:
    if plan.status not in PLAN_OPEN:
        raise Conflict(
            _("A %(status)s plan does not take consultations.")
            % {"status": plan.get_status_display()},
            details={"status": plan.status},
            code="plan_closed",
        )


def _save_guarded(consultation: Consultation, **kwargs) -> None:
    """The exclusion constraint is the guarantee; this turns its refusal into a 409."""
    try:
        with transaction.atomic():
            consultation.save(**kwargs)
    except IntegrityError as exc:
        if "consultation_no_overlap_in_plan" in str(exc):
            raise Conflict(
                _("Two consultations of this plan would overlap."),
                details={"planned_start": [_("overlaps another consultation")]},
                code="consultation_overlap",
            ) from exc
        raise


@transaction.atomic
def consultation_create(
    *, actor: Membership, plan: TreatmentPlan, data: Mapping[str, Any]
) -> Consultation:
    if actor.role == Role.PRACTITIONER:
        _require_practitioner_scope(actor, plan.practitioner)
    _plan_open_or_conflict(plan)
    errors: FieldErrors = {}
    values = _consultation_values(plan, data, errors, creating=True)
    _raise(errors)
    first = not Consultation.objects.filter(plan=plan).exists()
    consultation = Consultation(
        plan=plan,
        sequence=Consultation.objects.filter(plan=plan).count() + 1,
        type=values.pop(
            "type", ConsultationType.INITIAL_ASSESSMENT if first else ConsultationType.TREATMENT
        ),
        practitioner=values.pop("practitioner", None) or plan.practitioner,
        location=values.pop("location", plan.location),
        modality=values.pop("modality", plan.modality),
        **values,
    )
    _consultation_checks(consultation, errors)
    _raise(errors)
    _save_guarded(consultation, force_insert=True)
    _renumber(plan)
    consultation.refresh_from_db()
    return consultation


@transaction.atomic
def consultation_update(
    *, actor: Membership, consultation: Consultation, data: Mapping[str, Any]
) -> Consultation:
    """Change a consultation. A scheduled one may be moved (its appointment is rescheduled with
    the same conflict checks) or have its notes changed; other states are final."""
    plan = consultation.plan
    if actor.role == Role.PRACTITIONER:
        _require_practitioner_scope(actor, plan.practitioner)
    _plan_open_or_conflict(plan)
    consultation = Consultation.objects.select_for_update().get(id=consultation.id)
    if consultation.status not in (ConsultationStatus.PLANNED, ConsultationStatus.SCHEDULED):
        raise Conflict(
            _("A %(status)s consultation cannot be changed.")
            % {"status": consultation.get_status_display()},
            details={"status": consultation.status},
            code="consultation_closed",
        )
    errors: FieldErrors = {}
    values = _consultation_values(plan, data, errors, creating=False)
    _raise(errors)
    if consultation.status == ConsultationStatus.SCHEDULED:
        movable = {"planned_start", "duration_minutes", "practitioner", "location", "notes"}
        blocked = sorted(set(values) - movable)
        if blocked:
            raise Conflict(
                _("A scheduled consultation can only be moved; cancel it to change more."),
                details={field: [_("not changeable once scheduled")] for field in blocked},
                code="consultation_scheduled",
            )
    for name, value in values.items():
        setattr(consultation, name, value)
    _consultation_checks(consultation, errors)
    _raise(errors)
    moved = {"planned_start", "duration_minutes", "practitioner", "location"} & set(values)
    if consultation.status == ConsultationStatus.SCHEDULED and moved:
        from clinic.care import booking

        booking.appointment_move(actor=actor, consultation=consultation)
    _save_guarded(consultation)
    _renumber(plan)
    consultation.refresh_from_db()
    return consultation


@transaction.atomic
def consultation_delete(*, actor: Membership, consultation: Consultation) -> None:
    if actor.role == Role.PRACTITIONER:
        _require_practitioner_scope(actor, consultation.plan.practitioner)
    if consultation.status != ConsultationStatus.PLANNED:
        raise Conflict(
            _("Only planned consultations can be deleted; cancel it instead."),
            details={"status": consultation.status},
            code="consultation_not_planned",
        )
    plan = consultation.plan
    Consultation.objects.filter(id=consultation.id).delete()
    _renumber(plan)


@transaction.atomic
def consultation_schedule(
    *, actor: Membership, consultation: Consultation, start: datetime | None = None
) -> Consultation:
    """Book the consultation's appointment at its planned time (or `start`, which moves it)."""
    if actor.role == Role.PRACTITIONER:
        _require_practitioner_scope(actor, consultation.plan.practitioner)
    _plan_open_or_conflict(consultation.plan)
    consultation = (
        Consultation.objects.select_for_update(of=("self",))
        .select_related("plan", "plan__patient", "plan__service", "practitioner", "location")
        .get(id=consultation.id)
    )
    if consultation.status != ConsultationStatus.PLANNED:
        raise Conflict(
            _("Only planned consultations can be scheduled."),
            details={
                "status": consultation.status,
                "allowed": sorted(CONSULTATION_TRANSITIONS[consultation.status]),
            },
            code="invalid_transition",
        )
    if start is not None:
        if timezone.is_naive(start):
            raise ValidationFailed(
                _("Give the time with its UTC offset."), details={"start": [_("naive datetime")]}
            )
        consultation.planned_start = start
        errors: FieldErrors = {}
        _consultation_checks(consultation, errors)
        _raise(errors)
    from clinic.care import booking

    booking.appointment_book_for(actor=actor, consultation=consultation)
    consultation.status = ConsultationStatus.SCHEDULED
    _save_guarded(consultation)
    _renumber(consultation.plan)
    consultation.refresh_from_db()
    return consultation


def _consultation_cancel(*, actor: Membership, consultation: Consultation, reason: str) -> None:
    if consultation.status == ConsultationStatus.SCHEDULED:
        from clinic.care import booking

        booking.appointment_cancel_for(actor=actor, consultation=consultation, reason=reason)
    Consultation.objects.filter(id=consultation.id).update(
        status=ConsultationStatus.CANCELLED, updated_at=timezone.now()
    )


@transaction.atomic
def consultation_status_set(
    *, actor: Membership, consultation: Consultation, status: str, reason: str = ""
) -> Consultation:
    if not status:
        raise ValidationFailed(
            _("Give the new status."), details={"status": [_("This field is required.")]}
        )
    if actor.role == Role.PRACTITIONER:
        _require_practitioner_scope(actor, consultation.plan.practitioner)
    consultation = (
        Consultation.objects.select_for_update(of=("self",))
        .select_related("plan")
        .get(id=consultation.id)
    )
    allowed = CONSULTATION_TRANSITIONS[ConsultationStatus(consultation.status)]
    if status not in allowed:
        raise Conflict(
            _("A consultation cannot go from %(from)s to %(to)s.")
            % {"from": consultation.status, "to": status},
            details={"status": consultation.status, "allowed": sorted(allowed)},
            code="invalid_transition",
        )
    if status == ConsultationStatus.SCHEDULED:
        return consultation_schedule(actor=actor, consultation=consultation)
    _consultation_cancel(actor=actor, consultation=consultation, reason=reason)
    consultation.refresh_from_db()
    return consultation


def consultation_follow_appointment(*, appointment) -> Consultation | None:
    """Called by the scheduling services inside the transaction that changed the appointment:
    the linked consultation takes the appointment's time and, for completed / cancelled /
    no-show, the matching status. Returns the consultation, or None if there is none."""
    consultation = (
        Consultation.objects.select_for_update().filter(appointment_id=appointment.id).first()
    )
    if consultation is None:
        return None
    changed = []
    minutes = max(1, int((appointment.end_at - appointment.start_at).total_seconds() // 60))
    if consultation.planned_start != appointment.start_at:
        consultation.planned_start = appointment.start_at
        changed.append("planned_start")
    if consultation.duration_minutes != minutes:
        consultation.duration_minutes = minutes
        changed.append("duration_minutes")
    if consultation.practitioner_id != appointment.practitioner_id:
        consultation.practitioner_id = appointment.practitioner_id
        changed.append("practitioner")
    target = FOLLOWS_APPOINTMENT.get(appointment.status)
    if target and consultation.status != target:
        consultation.status = target
        changed.append("status")
    if changed:
        _save_guarded(consultation, update_fields=[*changed, "updated_at"])
        if {"planned_start", "duration_minutes"} & set(changed):
            _renumber(consultation.plan)
    return consultation


# --- bulk -------------------------------------------------------------------------------------

BULK_OPS = ("create", "update", "schedule", "set_status", "delete")


class BulkFailed(DomainError):
    """An all-or-nothing bulk request in which an operation failed: nothing was applied."""

    status = 422
    code = "bulk_failed"


def _bulk_one(actor: Membership, plan: TreatmentPlan, op: Mapping[str, Any]) -> dict:
    kind = op.get("op")
    if kind not in BULK_OPS:
        raise ValidationFailed(
            _("Unknown operation."), details={"op": [_("One of: %s.") % ", ".join(BULK_OPS)]}
        )
    if kind == "create":
        data = {k: v for k, v in op.items() if k != "op"}
        return {"consultation": consultation_create(actor=actor, plan=plan, data=data)}
    consultation = Consultation.objects.filter(plan=plan, id=_uuid(op.get("id"))).first()
    if consultation is None:
        raise ValidationFailed(
            _("No such consultation in this plan."), details={"id": [_("Not found.")]}
        )
    if kind == "update":
        data = {k: v for k, v in op.items() if k not in ("op", "id")}
        return {
            "consultation": consultation_update(actor=actor, consultation=consultation, data=data)
        }
    if kind == "schedule":
        return {
            "consultation": consultation_schedule(
                actor=actor, consultation=consultation, start=op.get("start")
            )
        }
    if kind == "set_status":
        return {
            "consultation": consultation_status_set(
                actor=actor,
                consultation=consultation,
                status=str(op.get("status") or ""),
                reason=str(op.get("reason") or ""),
            )
        }
    consultation_delete(actor=actor, consultation=consultation)
    return {"consultation": None, "deleted": str(consultation.id)}


def _error_result(index: int, op: Mapping[str, Any], exc: DomainError) -> dict:
    return {
        "index": index,
        "op": op.get("op"),
        "ok": False,
        "status": exc.status,
        "error": {"code": exc.code, "message": exc.message, "details": exc.details},
    }


def consultations_bulk(
    *,
    actor: Membership,
    plan: TreatmentPlan,
    operations: list[Mapping[str, Any]],
    atomic: bool = True,
) -> list[dict]:
    """Apply operations in order. Atomic (default): all or nothing — on the first failure
    everything is rolled back and BulkFailed carries every item's result. Not atomic: each
    operation stands alone; the results say which failed and why."""
    if not operations:
        raise ValidationFailed(
            _("No operations given."),
            details={"operations": [_("At least one operation is required.")]},
        )
    if len(operations) > 200:
        raise ValidationFailed(
            _("At most 200 operations per request."), details={"operations": [_("too many")]}
        )
    results: list[dict] = []
    if atomic:
        try:
            with transaction.atomic():
                for index, op in enumerate(operations):
                    try:
                        outcome = _bulk_one(actor, plan, op)
                    except DomainError as exc:
                        results.append(_error_result(index, op, exc))
                        raise
                    results.append(
                        {"index": index, "op": op.get("op"), "ok": True, "status": 200, **outcome}
                    )
        except DomainError as exc:
            failed_status = results[-1]["status"] if results else exc.status
            for result in results:
                if result["ok"]:
                    result.update(
                        ok=False,
                        status=None,
                        error={
                            "code": "not_applied",
                            "message": _("Not applied: another operation failed."),
                            "details": None,
                        },
                        consultation=None,
                    )
            failure = BulkFailed(
                _("Operation %(n)d failed; nothing was applied.") % {"n": len(results) - 1},
                details={"results": results},
            )
            failure.status = failed_status  # a conflict stays a 409, a bad field a 422
            raise failure from exc
        return results
    for index, op in enumerate(operations):
        try:
            with transaction.atomic():
                outcome = _bulk_one(actor, plan, op)
        except DomainError as exc:
            results.append(_error_result(index, op, exc))
        else:
            results.append(
                {"index": index, "op": op.get("op"), "ok": True, "status": 200, **outcome}
            )
    return results
