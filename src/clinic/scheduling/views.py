"""Scheduling pages: the calendar (fed by the JSON API), the weekly availability editor with its
exceptions and calendar feeds, and the public ICS feed. Thin: writes go through services, reads
through selectors."""

from __future__ import annotations

import itertools
from datetime import datetime, time, timedelta

from django.http import Http404, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext
from django.views.decorators.http import require_POST

from clinic.core import timefmt
from clinic.core.errors import DomainError, NotFound
from clinic.core.timefmt import local_date
from clinic.directory.models import Location, Room, Service
from clinic.directory.selectors import patient_for_actor
from clinic.scheduling import ics, selectors, services
from clinic.scheduling.models import AppointmentStatus, ExceptionKind
from clinic.web.access import page_requires

WEEKDAYS = [
    (0, gettext_lazy("Monday")),
    (1, gettext_lazy("Tuesday")),
    (2, gettext_lazy("Wednesday")),
    (3, gettext_lazy("Thursday")),
    (4, gettext_lazy("Friday")),
    (5, gettext_lazy("Saturday")),
    (6, gettext_lazy("Sunday")),
]
SPANS_PER_DAY = 2
MAX_SPANS_PER_DAY = 12
ICS_PAST_DAYS = 31
ICS_FUTURE_DAYS = 366


def _not_found(request):
    return render(request, "web/not_found.html", status=404)


# --- calendar --------------------------------------------------------------------------------


@page_requires("calendar.view")
def calendar(request):
    actor = request.membership
    practitioners = selectors.practitioners_for_calendar(actor)
    locations = list(Location.objects.filter(is_active=True).order_by("name"))
    services_ = list(Service.objects.filter(is_active=True).order_by("name"))
    rooms = list(Room.objects.filter(is_active=True).select_related("location").order_by("name"))
    links = {
        str(ps["practitioner_id"]): [] for ps in [{"practitioner_id": p.id} for p in practitioners]
    }
    from clinic.directory.models import PractitionerService

    for practitioner_id, service_id in PractitionerService.objects.filter(
        practitioner_id__in=[p.id for p in practitioners]
    ).values_list("practitioner_id", "service_id"):
        links.setdefault(str(practitioner_id), []).append(str(service_id))
    works_at = selectors.practitioner_locations(practitioners)
    config = {
        "timeZone": actor.organization.time_zone,
        "api": "/api/v1/",
        # the grid's times in the organization's regional style, as server-rendered pages
        **timefmt.browser_format(request.LANGUAGE_CODE, actor.organization),
        "canBook": actor.has("appointment.book"),
        "canUpdate": actor.has("appointment.update"),
        "canCancel": actor.has("appointment.cancel"),
        "canOverride": actor.has("appointment.override_availability"),
        "canSeeHours": actor.has("availability.view"),
        # a taken time offers "Add to waitlist" (patient and service carried over)
        "waitlistUrl": reverse("waitlist:entry_add") if actor.has("waitlist.manage") else "",
        "practitioners": [
            {
                "id": str(p.id),
                "name": p.display_name,
                "colour": p.colour,
                "services": links.get(str(p.id), []),
                "location": str(p.default_location_id or ""),
                "locations": sorted(str(loc) for loc in works_at.get(p.id, ())),
            }
            for p in practitioners
        ],
        "locations": [
            {"id": str(loc.id), "name": loc.name, "tz": loc.time_zone} for loc in locations
        ],
        "services": [
            {"id": str(s.id), "name": s.name, "colour": s.colour, "minutes": s.duration_minutes}
            for s in services_
        ],
        "rooms": [{"id": str(r.id), "name": r.name, "location": str(r.location_id)} for r in rooms],
        "statuses": {value: str(label) for value, label in AppointmentStatus.choices},
        "patientsUrl": reverse("scheduling:calendar_patients"),
        "initialDate": request.GET.get("date") or "",
        # ?patient=<id> (the chart's Book button) opens the booking dialog for that patient
        "initialPatient": _initial_patient(actor, request.GET.get("patient")),
        "patientUrl": reverse("directory:patient", args=[_ID_PLACEHOLDER]),
        "canViewPatient": actor.has("patient.view"),
        # the plan and invoice ids come with each appointment only when the actor may open them
        "planUrl": reverse("care:plan", args=[_ID_PLACEHOLDER]),
        "invoiceUrl": reverse("billing:invoice", args=[_ID_PLACEHOLDER]),
        "strings": _calendar_strings(),
    }
    return render(
        request,
        "scheduling/calendar.html",
        {
            "config": config,
            "practitioners": practitioners,
            "locations": locations,
            "services": services_,
        },
    )


_ID_PLACEHOLDER = "00000000-0000-0000-0000-000000000000"


def _initial_patient(actor, patient_id) -> dict | None:
    """The patient named by ?patient=, if this member may book for them; anything else (a bad
    id, another clinic's patient, an archived one) opens the calendar as usual."""
    if not patient_id or not actor.has("appointment.book"):
        return None
    try:
        patient = patient_for_actor(actor, patient_id)
    except NotFound:
        return None
    if patient.archived_at:
        return None
    return {"id": str(patient.id), "name": patient.display_name}


def _calendar_strings() -> dict:
    return {
        "failed": _("That did not work."),
        "conflictWith": _("Conflicts with"),
        "nextFree": _("Next free:"),
        "allowed": _("Allowed next:"),
        "on": {"practitioner": _("practitioner"), "room": _("room"), "patient": _("patient")},
        "blocked": _("Blocked"),
        "today": _("today"),
        "day": _("day"),
        "week": _("week"),
        "resourceDay": _("day by column"),
        "resourceWeek": _("week by column"),
        "list": _("list"),
        "moveRefused": _("Not moved:"),
        "noSuchTime": _(
            "%s does not exist on that day: the clocks go forward an hour. Choose a time after "
            "the change."
        ),
        "moved": _("Moved."),
        "automatic": _("Automatic"),
        "noRoom": _("No room"),
        "patientChosen": _("Patient:"),
        "noPatient": _("No matching patient."),
        "free": _("This time is free."),
        "taken": _("Taken:"),
        "overrideNote": _("Tick the box below to book it anyway."),
        "booked": _("Booked."),
        "bookedSkipped": _("Booked; %s dates were skipped."),
        "updated": _("Updated."),
        "when": _("When"),
        "openChart": _("Open the patient's chart"),
        "openPlan": _("Open the treatment plan"),
        "openInvoice": _("Open the invoice"),
        "service": _("Service"),
        "practitioner": _("Practitioner"),
        "where": _("Where"),
        "status": _("Status"),
        "series": _("Series"),
        "recurring": _("Recurring"),
        "reason": _("Reason"),
        "timeZoneIs": _("Time zone: %s"),
        "required": _("This field is required."),
        "patient": _("Patient"),
        "from": _("From"),
        "to": _("To"),
        "inThePast": _("That time is in the past."),
        "outsideHours": _("Outside the practitioner's working hours."),
        "overridePast": _("Move into the past"),
        "overrideHours": _("Move outside working hours"),
        "overrideBoth": _("Move into the past, outside working hours"),
        "moveUndone": _("Moved back."),
        "undoFailed": _("Not moved back:"),
        # when the server gives no sentence of its own
        "codes": {
            "403": _("Your role cannot do this."),
            "404": _("This appointment is no longer there."),
            "409": _("This time is not free."),
            "422": _("That did not work."),
            "429": _("Too many attempts: wait a moment and try again."),
        },
        "actions": {
            "confirm": _("Confirm"),
            "checkIn": _("Check in"),
            "start": _("Start"),
            "complete": _("Complete"),
            "noShow": _("No-show"),
            "cancel": _("Cancel appointment"),
        },
    }


@page_requires("appointment.book")
def calendar_patients(request):
    """The booking dialog's patient picker (JSON)."""
    found = selectors.patients_search(request.membership, request.GET.get("q", ""))
    return JsonResponse(
        {
            "items": [
                {
                    "id": str(p.id),
                    "name": p.display_name,
                    "mrn": p.mrn,
                    # shown as it is in the picker: the locale's date style
                    "born": local_date(p.date_of_birth) if p.date_of_birth else "",
                    "species": p.species,
                }
                for p in found
            ]
        }
    )


@page_requires("appointment.view")
def appointment_detail(request, appointment_id):
    try:
        appointment = selectors.appointment_for_actor(request.membership, appointment_id)
    except NotFound:
        return _not_found(request)
    local = appointment.start_at.astimezone(selectors.tz(appointment.location.time_zone))
    return redirect(
        f"{reverse('scheduling:calendar')}?date={local.date().isoformat()}"
        f"#appointment-{appointment.id}"
    )


# --- availability -------------------------------------------------------------------------------


@page_requires("availability.view")
def availability_index(request):
    practitioners = selectors.practitioners_for_calendar(request.membership)
    if not request.membership.has("availability.view_all"):
        scope = selectors.practitioner_ids_scope(request.membership) or []
        practitioners = [p for p in practitioners if p.id in scope]
    if len(practitioners) == 1:
        return redirect("scheduling:availability_edit", practitioner_id=practitioners[0].id)
    return render(request, "scheduling/availability_index.html", {"practitioners": practitioners})


def _practitioner_or_404(request, practitioner_id):
    actor = request.membership
    if not actor.has("availability.view_all"):
        scope = selectors.practitioner_ids_scope(actor) or []
        if practitioner_id not in scope:
            raise NotFound(_("Practitioner not found."))
    practitioner = selectors.practitioner_get(practitioner_id)
    return practitioner


def _parse_time(value: str) -> time | None:
    value = (value or "").strip()
    if not value:
        return None
    try:
        return time.fromisoformat(value)
    except ValueError:
        return None


def _spans_posted(post) -> int:
    """How many periods per day the submitted form had (it shows every existing one)."""
    try:
        return min(max(int(post.get("spans", SPANS_PER_DAY)), SPANS_PER_DAY), MAX_SPANS_PER_DAY)
    except ValueError:
        return SPANS_PER_DAY


def _week_from_post(post) -> tuple[dict[int, list[tuple[time, time]]], dict[str, list[str]]]:
    days: dict[int, list[tuple[time, time]]] = {}
    errors: dict[str, list[str]] = {}
    positions: dict[tuple[int, time, time], int] = {}
    for weekday, _label in WEEKDAYS:
        for i in range(_spans_posted(post)):
            start_raw = post.get(f"d{weekday}_{i}_start", "")
            end_raw = post.get(f"d{weekday}_{i}_end", "")
            if not start_raw and not end_raw:
                continue
            start, end = _parse_time(start_raw), _parse_time(end_raw)
            key = f"d{weekday}_{i}"
            if start is None or end is None:
                errors[key] = [_("Give both a start and an end time (HH:MM).")]
            elif end <= start:
                errors[key] = [_("The end must be after the start.")]
            else:
                days.setdefault(weekday, []).append((start, end))
                positions[(weekday, start, end)] = i
    for weekday, spans in days.items():
        spans.sort()
        for (_a, first_end), (second_start, second_end) in itertools.pairwise(spans):
            if second_start < first_end:
                where = positions[(weekday, second_start, second_end)]
                errors[f"d{weekday}_{where}"] = [_("The two periods overlap.")]
    return days, errors


@page_requires("availability.view")
def availability_edit(request, practitioner_id, block_pending=None):
    actor = request.membership
    try:
        practitioner = _practitioner_or_404(request, practitioner_id)
    except DomainError:
        return _not_found(request)
    locations = list(Location.objects.filter(is_active=True).order_by("name"))
    location_id = (
        request.POST.get("location_id")
        or request.GET.get("location")
        or str(practitioner.default_location_id or (locations[0].id if locations else ""))
    )
    errors: dict[str, list[str]] = {}
    status = 200
    saved = False
    posted = None
    if request.method == "POST" and block_pending is None:
        if not actor.has("availability.manage"):
            return _not_found(request)
        days, errors = _week_from_post(request.POST)
        posted = request.POST
        if not errors:
            try:
                services.availability_week_set(
                    actor=actor,
                    practitioner_id=practitioner.id,
                    location_id=location_id,
                    days=days,
                )
            except DomainError as exc:
                errors = (
                    exc.details if isinstance(exc.details, dict) else {"__all__": [exc.message]}
                )
            else:
                saved = True
                posted = None
        if errors:
            status = 422
    rules = list(selectors.rules_list(actor, practitioner_id=practitioner.id))
    weekly = (
        list(
            selectors.weekly_plain_rules(
                practitioner_id=practitioner.id, location_id=location_id
            ).order_by("weekday", "start_time")
        )
        if location_id
        else []
    )
    # Every existing period is shown (and so kept on save), with room for one more.
    most = max((sum(1 for r in weekly if r.weekday == d) for d, _l in WEEKDAYS), default=0)
    spans_per_day = (
        _spans_posted(posted)
        if posted is not None
        else min(max(SPANS_PER_DAY, most + 1), MAX_SPANS_PER_DAY)
    )
    rows = []
    for weekday, label in WEEKDAYS:
        spans = [r for r in weekly if r.weekday == weekday]
        cells = []
        for i in range(spans_per_day):
            if posted is not None:
                start = posted.get(f"d{weekday}_{i}_start", "")
                end = posted.get(f"d{weekday}_{i}_end", "")
            elif i < len(spans):
                start, end = (
                    spans[i].start_time.strftime("%H:%M"),
                    spans[i].end_time.strftime("%H:%M"),
                )
            else:
                start = end = ""
            cells.append(
                {"i": i, "start": start, "end": end, "errors": errors.get(f"d{weekday}_{i}", [])}
            )
        rows.append({"weekday": weekday, "label": label, "cells": cells})
    days = dict(WEEKDAYS)
    other_rules = [{"rule": r, "day": days[r.weekday]} for r in rules if r not in weekly]
    now = timezone.now()
    exceptions = list(
        selectors.exceptions_list(
            actor, practitioner_id=practitioner.id, start=now - timedelta(days=1)
        )
    )
    feeds = (
        [f for f in selectors.feeds_list(actor) if f.practitioner_id == practitioner.id]
        if (actor.has("icsfeed.manage"))
        else []
    )
    return render(
        request,
        "scheduling/availability.html",
        {
            "practitioner": practitioner,
            "locations": locations,
            "location_id": str(location_id),
            "rows": rows,
            "spans_per_day": spans_per_day,
            "period_headers": [_("Period %(n)d") % {"n": n + 1} for n in range(spans_per_day)],
            "errors": errors,
            "saved": saved,
            "other_rules": other_rules,
            "exceptions": exceptions,
            "exception_kinds": ExceptionKind.choices,
            "feeds": feeds,
            "can_manage": actor.has("availability.manage"),
            "colleagues": [
                p
                for p in selectors.practitioners_for_calendar(actor)
                if p.id != practitioner.id
                and (
                    actor.has("availability.view_all")
                    or p.id in (selectors.practitioner_ids_scope(actor) or [])
                )
            ]
            if actor.has("availability.manage")
            else [],
            "can_feeds": actor.has("icsfeed.manage"),
            "new_feed_url": request.session.pop("new_feed_url", None),
            "block_pending": block_pending,
            "tz": practitioner.default_location.time_zone
            if practitioner.default_location
            else actor.organization.time_zone,
        },
        status=409 if block_pending else status,
    )


@require_POST
@page_requires("availability.manage")
def availability_exception_add(request, practitioner_id):
    actor = request.membership
    try:
        practitioner = _practitioner_or_404(request, practitioner_id)
    except DomainError:
        return _not_found(request)
    location = Location.objects.filter(id=request.POST.get("location_id") or None).first()
    zone_name = location.time_zone if location else actor.organization.time_zone
    zone = selectors.tz(zone_name)
    try:
        day = datetime.strptime(request.POST.get("date", ""), "%Y-%m-%d").date()
    except ValueError:
        day = None
    start_t = _parse_time(request.POST.get("start_time", ""))
    end_t = _parse_time(request.POST.get("end_time", ""))
    from clinic.scheduling.recurrence import wall_to_instant

    message = None
    booked = None  # the appointments in the time to block, until "Block anyway"
    if day is None:
        message = _("Give a date.")
    else:
        start = wall_to_instant(day, start_t or time(0, 0), zone)
        end = (
            wall_to_instant(day, end_t, zone)
            if end_t
            else wall_to_instant(day + timedelta(days=1), time(0, 0), zone)
        )
        try:
            services.availability_exception_create(
                actor=actor,
                practitioner_id=practitioner.id,
                kind=request.POST.get("kind", ""),
                start=start,
                end=end,
                location_id=location.id if location else None,
                reason=request.POST.get("reason", ""),
                block_anyway=request.POST.get("block_anyway") == "1",
            )
        except DomainError as exc:
            message = exc.message
            if exc.code == "blocks_appointments":
                booked = exc.details["appointments"]
            else:  # the reasons in words, never the field names
                reasons = [
                    str(text)
                    for texts in (exc.details or {}).values()
                    if isinstance(texts, list)
                    for text in texts
                    if isinstance(text, str) and str(text) != message
                ]
                message = " ".join([message, *reasons])
    url = reverse("scheduling:availability_edit", args=[practitioner.id])
    if booked:
        # nothing saved: the page again, listing what is booked, with a "Block anyway" form
        # carrying what was typed
        return availability_edit(
            request,
            practitioner_id,
            block_pending={
                "message": message,
                "appointments": [
                    {
                        **a,
                        "start": datetime.fromisoformat(a["start"]),
                        "end": datetime.fromisoformat(a["end"]),
                    }
                    for a in booked
                ],
                "post": {
                    k: request.POST.get(k, "")
                    for k in ("kind", "date", "start_time", "end_time", "location_id", "reason")
                },
            },
        )
    if message:
        from django.contrib import messages

        messages.error(request, message)
        response = redirect(url)
        return response
    return redirect(url)


@require_POST
@page_requires("availability.manage")
def availability_copy(request, practitioner_id):
    """The weekly page's "Copy hours" form: a day onto other days, or this location's week onto
    other practitioners (all or nothing; the refusal in words on the page)."""
    from django.contrib import messages

    try:
        practitioner = _practitioner_or_404(request, practitioner_id)
    except DomainError:
        return _not_found(request)
    location_id = request.POST.get("location_id") or None
    raw_day = request.POST.get("from_weekday", "")
    try:
        made = services.availability_rules_copy(
            actor=request.membership,
            practitioner_id=practitioner.id,
            location_id=location_id,
            from_weekday=int(raw_day) if raw_day.isdigit() else None,
            to_weekdays=[int(d) for d in request.POST.getlist("to_weekdays") if d.isdigit()],
            to_practitioner_ids=request.POST.getlist("to_practitioner_ids"),
        )
    except DomainError as exc:
        reasons = [
            str(text)
            for texts in (exc.details or {}).values()
            if isinstance(texts, list)
            for text in texts
            if isinstance(text, str)
        ]
        messages.error(request, " ".join([exc.message, *reasons]))
    else:
        messages.success(
            request,
            ngettext("%(n)d period of hours copied.", "%(n)d periods of hours copied.", len(made))
            % {"n": len(made)},
        )
    url = reverse("scheduling:availability_edit", args=[practitioner.id])
    return redirect(f"{url}?location={location_id}" if location_id else url)


@require_POST
@page_requires("availability.manage")
def availability_exception_remove(request, practitioner_id, exception_id):
    try:
        _practitioner_or_404(request, practitioner_id)
        exception = selectors.exception_for_actor(request.membership, exception_id)
    except DomainError:
        return _not_found(request)
    services.availability_exception_delete(actor=request.membership, exception=exception)
    return redirect("scheduling:availability_edit", practitioner_id=practitioner_id)


@require_POST
@page_requires("icsfeed.manage")
def feed_add(request, practitioner_id):
    try:
        issued = services.ics_feed_create(
            actor=request.membership,
            practitioner_id=practitioner_id,
            name=request.POST.get("name", ""),
        )
    except DomainError:
        return _not_found(request)
    request.session["new_feed_url"] = request.build_absolute_uri(
        reverse("scheduling:ics_feed", args=[issued.token])
    )
    return redirect("scheduling:availability_edit", practitioner_id=practitioner_id)


@require_POST
@page_requires("icsfeed.manage")
def feed_remove(request, practitioner_id, feed_id):
    try:
        feed = selectors.feed_for_actor(request.membership, feed_id)
    except DomainError:
        return _not_found(request)
    services.ics_feed_revoke(actor=request.membership, feed=feed)
    return redirect("scheduling:availability_edit", practitioner_id=practitioner_id)


# --- ICS ---------------------------------------------------------------------------------------


def ics_feed(request, token: str):
    """A practitioner's private feed: the secret in the URL is the only credential."""
    feed = services.unscoped_feed_resolve(token)
    if feed is None:
        raise Http404
    now = timezone.now()
    from clinic.scheduling.models import Appointment

    appointments = (
        Appointment.objects.filter(
            practitioner_id=feed.practitioner_id,
            start_at__gte=now - timedelta(days=ICS_PAST_DAYS),
            start_at__lt=now + timedelta(days=ICS_FUTURE_DAYS),
        )
        .exclude(status="held")
        .select_related("patient", "service", "location", "room")
        .order_by("start_at")
    )
    settings = selectors.settings_get()
    body = ics.calendar_build(
        name=feed.practitioner.display_name,
        appointments=appointments,
        detail=settings.ics_detail,
        now=now,
    )
    response = HttpResponse(body, content_type="text/calendar; charset=utf-8")
    response["Content-Disposition"] = 'inline; filename="calendar.ics"'
    response["Cache-Control"] = "private, max-age=300"
    return response
