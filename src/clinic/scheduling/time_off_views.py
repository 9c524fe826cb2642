"""Time off and closures pages: the request form with the requests, the approval queue (with the
number of affected appointments), the resolve screen (suggestions per appointment, bulk
choices) and the closures page. Thin: writes through the timeoff services, reads through its
selectors; times typed are read in the location's zone."""

from __future__ import annotations

import uuid
from datetime import date, datetime, time

from django.contrib import messages
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_POST

from clinic.core.errors import DomainError
from clinic.directory.models import Location
from clinic.scheduling import selectors as scheduling
from clinic.scheduling.models import TimeOffStatus, TimeOffType
from clinic.scheduling.recurrence import wall_to_instant
from clinic.scheduling.timeoff import selectors, services
from clinic.web.access import page_requires


def _date(value: str) -> date | None:
    try:
        return datetime.strptime((value or "").strip(), "%Y-%m-%d").date()
    except ValueError:
        return None


def _time(value: str) -> time | None:
    try:
        return datetime.strptime((value or "").strip(), "%H:%M").time()
    except ValueError:
        return None


def _in_words(exc: DomainError) -> str:
    """The refusal and its reasons in words, never field names."""
    reasons = [
        str(text)
        for texts in (exc.details or {}).values()
        if isinstance(texts, list)
        for text in texts
        if isinstance(text, str) and str(text) != exc.message
    ]
    return " ".join([exc.message, *reasons])


def _practitioners(actor):
    found = scheduling.practitioners_for_calendar(actor)
    scope = scheduling.practitioner_ids_scope(actor)
    if scope is not None:
        found = [p for p in found if p.id in scope]
    return found


@page_requires("time_off.view")
def time_off_page(request):
    """The actor's time off (everyone's for those who see every schedule) and the request
    form."""
    actor = request.membership
    practitioners = _practitioners(actor) if actor.has("time_off.request") else []
    form = {}
    if request.method == "POST" and practitioners:
        form = {
            k: request.POST.get(k, "")
            for k in (
                "practitioner_id",
                "type",
                "date_from",
                "date_to",
                "time_from",
                "time_to",
                "reason",
            )
        }
        practitioner = next(
            (p for p in practitioners if str(p.id) == form["practitioner_id"]), practitioners[0]
        )
        first, last = _date(form["date_from"]), _date(form["date_to"]) or _date(form["date_from"])
        start_t, end_t = _time(form["time_from"]), _time(form["time_to"])
        try:
            if first is None:
                raise DomainError(_("Give a date."))
            kwargs = {"start_date": first, "end_date": last}
            if start_t or end_t:
                zone = scheduling.tz(
                    practitioner.default_location.time_zone
                    if practitioner.default_location_id
                    else actor.organization.time_zone
                )
                kwargs = {
                    "start": wall_to_instant(first, start_t or time(0), zone),
                    "end": wall_to_instant(last, end_t or time(23, 59), zone),
                }
            services.time_off_request(
                actor=actor,
                practitioner_id=practitioner.id,
                type=form["type"] or TimeOffType.VACATION,
                reason=form["reason"],
                **kwargs,
            )
        except DomainError as exc:
            messages.error(request, _in_words(exc))
        else:
            messages.success(request, _("Time off requested."))
            return redirect("scheduling:time_off")
    items = list(selectors.time_off_list(actor).order_by("-start_at")[:200])
    return render(
        request,
        "scheduling/time_off.html",
        {
            "items": items,
            "practitioners": practitioners,
            "types": TimeOffType.choices,
            "form": form,
            "can_decide": actor.has("time_off.decide"),
        },
    )


@page_requires("time_off.decide")
def time_off_queue(request):
    """Pending requests, soonest first, each with the number of appointments it affects."""
    items = list(selectors.time_off_list(request.membership, status=[TimeOffStatus.PENDING])[:200])
    return render(request, "scheduling/time_off_queue.html", {"items": items})


@require_POST
@page_requires("time_off.decide")
def time_off_decide(request, time_off_id, decision):
    try:
        time_off = selectors.time_off_for_actor(request.membership, time_off_id)
        services.time_off_decide(
            actor=request.membership,
            time_off=time_off,
            decision=decision,
            note=request.POST.get("note", ""),
        )
    except DomainError as exc:
        messages.error(request, _in_words(exc))
    else:
        messages.success(
            request, _("Time off approved.") if decision == "approve" else _("Time off denied.")
        )
        if decision == "approve" and selectors.time_off_affected(time_off):
            return redirect("scheduling:time_off_resolve", time_off_id=time_off.id)
    return redirect("scheduling:time_off_queue")


@page_requires("time_off.decide")
def time_off_resolve(request, time_off_id):
    """Each affected appointment with the practitioners who could take it; a choice per row,
    or one for all (bulk), applied together or not at all."""
    actor = request.membership
    try:
        time_off = selectors.time_off_for_actor(actor, time_off_id)
    except DomainError:
        return render(request, "web/not_found.html", status=404)
    if request.method == "POST":
        actions = []
        bulk = request.POST.get("bulk", "")
        for key, value in request.POST.items():
            if not key.startswith("choice_"):
                continue
            choice = bulk or value
            appointment_id = key.removeprefix("choice_")
            if choice == "suggested":
                choice = request.POST.get(f"suggested_{appointment_id}", "") or "keep"
            if choice in ("keep", "cancel"):
                actions.append(services.ResolveAction(appointment_id, choice))
            elif choice.startswith("reassign:"):
                actions.append(
                    services.ResolveAction(
                        appointment_id, "reassign", practitioner_id=choice.split(":", 1)[1]
                    )
                )
        try:
            for action in actions:
                action.appointment_id = uuid.UUID(str(action.appointment_id))
            services.time_off_resolve(
                actor=actor,
                time_off=time_off,
                actions=actions,
                notify=request.POST.get("notify") == "1",
            )
        except (DomainError, ValueError) as exc:
            messages.error(request, _in_words(exc) if isinstance(exc, DomainError) else str(exc))
        else:
            messages.success(request, _("Changes applied."))
        return redirect("scheduling:time_off_resolve", time_off_id=time_off.id)
    coverage = selectors.time_off_coverage(time_off)
    return render(
        request, "scheduling/time_off_resolve.html", {"time_off": time_off, "coverage": coverage}
    )


@page_requires("closure.manage")
def closures_page(request):
    """Closures (organization- or location-wide), one added by dates, or a list imported."""
    actor = request.membership
    if request.method == "POST":
        location_id = request.POST.get("location_id") or None
        try:
            if request.POST.get("form") == "import":
                items = []
                for line in request.POST.get("lines", "").splitlines():
                    if not line.strip():
                        continue
                    day_text, _sep, name = line.strip().partition(" ")
                    day = _date(day_text)
                    if day is None:
                        raise DomainError(
                            _("Not a date (YYYY-MM-DD): %(text)s") % {"text": day_text}
                        )
                    items.append((day, name.strip() or _("Closed")))
                made = services.closures_import(actor=actor, items=items, location_id=location_id)
                messages.success(
                    request,
                    ngettext("%(n)d closure added.", "%(n)d closures added.", len(made))
                    % {"n": len(made)},
                )
            else:
                first = _date(request.POST.get("date_from", ""))
                if first is None:
                    raise DomainError(_("Give a date."))
                services.closure_create(
                    actor=actor,
                    name=request.POST.get("name", ""),
                    location_id=location_id,
                    start_date=first,
                    end_date=_date(request.POST.get("date_to", "")) or first,
                )
                messages.success(request, _("Closure added."))
        except DomainError as exc:
            messages.error(request, _in_words(exc))
        return redirect("scheduling:closures")
    return render(
        request,
        "scheduling/closures.html",
        {
            "closures": list(selectors.closures_list()[:500]),
            "locations": list(Location.objects.filter(is_active=True).order_by("name")),
        },
    )


@require_POST
@page_requires("closure.manage")
def closure_remove(request, closure_id):
    try:
        services.closure_delete(actor=request.membership, closure=selectors.closure_get(closure_id))
    except DomainError as exc:
        messages.error(request, _in_words(exc))
    return redirect("scheduling:closures")
