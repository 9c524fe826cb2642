"""Treatment-plan pages and the planning drawer (htmx). Thin: every change goes through
care.services; every read through care.selectors and scheduling's slot search."""

from __future__ import annotations

import zoneinfo
from datetime import date, datetime, time, timedelta

from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from clinic.care import selectors, services
from clinic.care.forms import BULK_ACTIONS, PlanForm, SlotForm
from clinic.care.models import ConsultationType
from clinic.care.presenters import patient_name
from clinic.care.status import PLAN_TRANSITIONS, ConsultationStatus, PlanStatus
from clinic.core.errors import DomainError, NotFound
from clinic.core.timefmt import parse_local
from clinic.directory.models import Location, Modality, Practitioner, Service
from clinic.directory.selectors import patient_for_actor
from clinic.web.access import page_requires


def _not_found(request):
    return render(request, "web/not_found.html", status=404)


@page_requires("treatment_plan.view")
def plans(request):
    status = request.GET.get("status") or ""
    qs = selectors.plans_list(
        request.membership,
        status=status or None,
        search=request.GET.get("q") or None,
        patient_id=request.GET.get("patient") or None,
    )
    rows = [(p, selectors.plan_progress(p)) for p in qs[:200]]
    return render(
        request,
        "care/plans.html",
        {
            "rows": rows,
            "status": status,
            "statuses": PlanStatus.choices,
            "q": request.GET.get("q", ""),
        },
    )


@page_requires("treatment_plan.view")
def patient_plans(request, patient_id):
    """The plans block of a patient's page (loaded by htmx)."""
    try:
        patient = patient_for_actor(request.membership, patient_id)
    except DomainError:
        return _not_found(request)
    qs = selectors.plans_list(request.membership, patient_id=patient.id)
    rows = [(p, selectors.plan_progress(p)) for p in qs[:50]]
    return render(request, "care/patient_plans.html", {"rows": rows, "patient": patient})


def _form_choices(actor) -> dict:
    practitioners = Practitioner.objects.filter(is_active=True).order_by("display_name")
    if actor.role == "practitioner":
        practitioners = practitioners.filter(membership_id=actor.id)
    return {
        "practitioners": list(practitioners),
        "services": list(Service.objects.filter(is_active=True).order_by("name")),
        "locations": list(Location.objects.filter(is_active=True).order_by("name")),
    }


@page_requires("treatment_plan.create")
def plan_new(request):
    try:
        patient = patient_for_actor(request.membership, request.GET.get("patient"))
    except DomainError:
        return _not_found(request)
    form = PlanForm(
        request.POST or None,
        initial={"start_date": timezone.localdate()},
        **_form_choices(request.membership),
    )
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                plan = services.plan_create(
                    actor=request.membership, data={**form.service_data(), "patient_id": patient.id}
                )
            except DomainError as exc:
                _errors_to_form(form, exc)
                status = exc.status
            else:
                return redirect("care:plan", plan_id=plan.id)
        else:
            status = 422
    return render(
        request,
        "care/plan_form.html",
        {"form": form, "patient": patient, "patient_name": patient_name(patient)},
        status=status,
    )


def _errors_to_form(form, exc: DomainError) -> None:
    details = exc.details if isinstance(exc.details, dict) else {}
    placed = False
    for field, messages in details.items():
        name = field.split(".")[0]
        if name in form.fields and isinstance(messages, list):
            for message in messages:
                form.add_error(name, str(message))
            placed = True
    if not placed:
        form.add_error(None, exc.message)


@page_requires("treatment_plan.view")
def plan_detail(request, plan_id):
    try:
        plan = selectors.plan_for_actor(request.membership, plan_id)
    except NotFound:
        return _not_found(request)
    consultations = list(selectors.consultations_of_plan(request.membership, plan))
    return render(
        request,
        "care/plan_detail.html",
        {
            "plan": plan,
            "progress": selectors.plan_progress(plan),
            "consultations": consultations,
            "next_statuses": sorted(PLAN_TRANSITIONS[plan.status]),
            "patient_name": patient_name(plan.patient),
        },
    )


@require_POST
@page_requires("treatment_plan.status")
def plan_status(request, plan_id):
    try:
        plan = selectors.plan_for_actor(request.membership, plan_id)
        services.plan_status_set(
            actor=request.membership,
            plan=plan,
            status=request.POST.get("status", ""),
            reason=request.POST.get("reason", ""),
        )
    except NotFound:
        return _not_found(request)
    except DomainError as exc:
        from django.contrib import messages

        messages.error(request, exc.message)
    return redirect("care:plan", plan_id=plan_id)


# --- the planning drawer ----------------------------------------------------------------------


def _zone(plan) -> zoneinfo.ZoneInfo:
    return zoneinfo.ZoneInfo(
        (plan.location.time_zone if plan.location else None) or plan.organization.time_zone
    )


def _week_start(plan, requested: str | None, consultations) -> date:
    tz = _zone(plan)
    try:
        day = date.fromisoformat(requested) if requested else None
    except ValueError:
        day = None
    if day is None:
        upcoming = [
            c.planned_start
            for c in consultations
            if c.status == ConsultationStatus.PLANNED and c.planned_start >= timezone.now()
        ]
        day = (
            min(upcoming).astimezone(tz).date()
            if upcoming
            else max(timezone.now().astimezone(tz).date(), plan.start_date)
        )
    return day - timedelta(days=day.weekday())


def _planner_context(request, plan, *, week: str | None = None, errors=None, results=None):
    actor = request.membership
    consultations = list(selectors.consultations_of_plan(actor, plan))
    tz = _zone(plan)
    monday = _week_start(plan, week, consultations)
    start = datetime.combine(monday, time.min, tzinfo=tz)
    end = start + timedelta(days=7)
    days = [monday + timedelta(days=i) for i in range(7)]
    slots_by_day: dict[date, list] = {d: [] for d in days}
    slot_note = ""
    if plan.service_id is None:
        slot_note = _("Give the plan a default service to see free slots.")
    else:
        from clinic.scheduling.selectors import slots_find

        found = slots_find(
            service_id=plan.service_id,
            start=start,
            end=end,
            practitioner_ids=[plan.practitioner_id],
            patient_id=plan.patient_id,
            limit=500,
        )
        live = [c for c in consultations if c.status != ConsultationStatus.CANCELLED]
        for slot in found.slots:
            if any(c.planned_start < slot.end and c.planned_end > slot.start for c in live):
                continue  # already taken by a consultation of this plan
            local = slot.start.astimezone(tz)
            if (
                local.date() in slots_by_day
                and plan.start_date <= local.date()
                and (plan.end_date is None or local.date() <= plan.end_date)
            ):
                slots_by_day[local.date()].append({"start": slot.start, "local": local})
    week_items = {d: [] for d in days}
    for c in consultations:
        local_day = c.planned_start.astimezone(tz).date()
        if local_day in week_items and c.status != ConsultationStatus.CANCELLED:
            week_items[local_day].append(c)
    return {
        "plan": plan,
        "progress": selectors.plan_progress(plan),
        "consultations": consultations,
        "days": [(d, slots_by_day[d], week_items[d]) for d in days],
        "monday": monday,
        "prev_week": monday - timedelta(days=7),
        "next_week": monday + timedelta(days=7),
        "tz": tz,
        "slot_note": slot_note,
        "slot_form": SlotForm(
            locations=Location.objects.filter(is_active=True).order_by("name"),
            initial={
                "location_id": plan.location_id,
                "modality": plan.modality,
                "type": ConsultationType.TREATMENT,
            },
        ),
        "types": ConsultationType.choices,
        "modalities": Modality.choices,
        "bulk_actions": BULK_ACTIONS,
        "errors": errors or [],
        "results": results or [],
        "can_manage": actor.has("consultation.manage"),
        "can_schedule": actor.has("consultation.schedule"),
        "patient_name": patient_name(plan.patient),
        # a week without a free slot: offer the waitlist, prefilled with patient and service
        "week_full": plan.service_id is not None and not any(slots_by_day.values()),
        "can_waitlist": actor.has("waitlist.manage"),
    }


def _planner_response(request, plan, *, status=200, **kwargs):
    context = _planner_context(request, plan, **kwargs)
    template = "care/planner.html#drawer" if request.htmx else "care/planner.html"
    return render(request, template, context, status=status)


def _plan_or_404(request, plan_id):
    return selectors.plan_for_actor(request.membership, plan_id)


@page_requires("consultation.view")
def planner(request, plan_id):
    try:
        plan = _plan_or_404(request, plan_id)
    except NotFound:
        return _not_found(request)
    return _planner_response(request, plan, week=request.GET.get("week"))


def _messages_of(exc: DomainError) -> list[str]:
    messages = [exc.message]
    details = exc.details if isinstance(exc.details, dict) else {}
    for field, value in details.items():
        if isinstance(value, list) and value and isinstance(value[0], str):
            messages.append(f"{field}: {'; '.join(value)}")
    return messages


@require_POST
@page_requires("consultation.manage")
def planner_add(request, plan_id):
    try:
        plan = _plan_or_404(request, plan_id)
    except NotFound:
        return _not_found(request)
    form = SlotForm(request.POST, locations=Location.objects.filter(is_active=True))
    week = request.POST.get("week")
    if not form.is_valid():
        errors = [f"{k}: {'; '.join(v)}" for k, v in form.errors.items()]
        return _planner_response(request, plan, week=week, errors=errors, status=422)
    data = dict(form.cleaned_data)
    data["location_id"] = data["location_id"] or None
    try:
        services.consultation_create(actor=request.membership, plan=plan, data=data)
    except DomainError as exc:
        return _planner_response(
            request, plan, week=week, errors=_messages_of(exc), status=exc.status
        )
    plan = _plan_or_404(request, plan_id)
    return _planner_response(request, plan, week=week)


def _local_datetime(value: str, tz) -> datetime | None:
    """A date and time typed in the drawer, read in the plan's zone (as it is shown)."""
    return parse_local(value, tz)


@require_POST
@page_requires("consultation.view")
def planner_bulk(request, plan_id):
    """One action on the selected consultations, all or nothing."""
    try:
        plan = _plan_or_404(request, plan_id)
    except NotFound:
        return _not_found(request)
    week = request.POST.get("week")
    ids = request.POST.getlist("ids")
    action = request.POST.get("action", "")
    needed = "consultation.schedule" if action == "schedule" else "consultation.manage"
    if not request.membership.has(needed):
        return _planner_response(
            request, plan, week=week, status=403, errors=[_("Your role does not allow this.")]
        )
    if not ids:
        return _planner_response(
            request, plan, week=week, status=422, errors=[_("Select at least one consultation.")]
        )
    if action == "move":
        when = _local_datetime(request.POST.get("move_to", ""), _zone(plan))
        if when is None or len(ids) != 1:
            return _planner_response(
                request,
                plan,
                week=week,
                status=422,
                errors=[_("Choose one consultation and a new date and time to move it to.")],
            )
        operations = [{"op": "update", "id": ids[0], "planned_start": when}]
    elif action == "schedule":
        operations = [{"op": "schedule", "id": i} for i in ids]
    elif action == "cancel":
        operations = [
            {
                "op": "set_status",
                "id": i,
                "status": "cancelled",
                "reason": request.POST.get("reason", ""),
            }
            for i in ids
        ]
    elif action == "delete":
        operations = [{"op": "delete", "id": i} for i in ids]
    else:
        return _planner_response(
            request, plan, week=week, status=422, errors=[_("Choose an action.")]
        )
    try:
        services.consultations_bulk(actor=request.membership, plan=plan, operations=operations)
    except DomainError as exc:
        failures = (
            [
                r
                for r in (exc.details or {}).get("results", [])
                if r.get("error") and r["error"]["code"] != "not_applied"
            ]
            if isinstance(exc.details, dict)
            else []
        )
        errors = [exc.message] + [
            f"#{r['index'] + 1}: {r['error']['message']}"
            + "".join(
                f" {k}: {'; '.join(map(str, v))}"
                for k, v in (r["error"].get("details") or {}).items()
                if isinstance(v, list) and v and isinstance(v[0], str)
            )
            for r in failures
        ]
        return _planner_response(request, plan, week=week, errors=errors, status=exc.status)
    plan = _plan_or_404(request, plan_id)
    return _planner_response(request, plan, week=week)
