"""The home page: "Today" for each role, and the front desk's in-place status buttons.

- front desk (members who schedule for everyone: assistant, manager, owner, admin): the day's
  appointments by practitioner with Confirm / Check in / No-show / Cancel, who is waiting,
  the unconfirmed, unpaid invoices of the day's patients, messages that failed;
- practitioner: "My day" (their own appointments), the notes still to write (completed visits of
  the last 14 days without a signed note) and the notes awaiting their co-signature;
- owner, admin, manager (`report.view`): the day's figures;
- patient: their next appointments, their balance and their invoices.

Thin: what is shown comes from the modules' selectors, every change from their services.
"""

from __future__ import annotations

import datetime as dt

from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from clinic.accounts.roles import Role
from clinic.billing import selectors as billing_selectors
from clinic.clinical import selectors as clinical_selectors
from clinic.core import timefmt
from clinic.core.errors import Conflict, DomainError
from clinic.notifications import selectors as notification_selectors
from clinic.scheduling import selectors as scheduling_selectors
from clinic.scheduling import services as scheduling_services
from clinic.scheduling.models import AppointmentStatus
from clinic.web.access import page_requires

# how far the day switcher goes from today (a typo such as 0202 for 2026 is refused in words)
MAX_DAYS_AWAY = 3660
FAILED_MESSAGES_DAYS = 7
# the transitions the Today page offers in place (starting and completing a consultation
# belong to the clinical pages)
DESK_STATUSES = (
    AppointmentStatus.CONFIRMED,
    AppointmentStatus.CHECKED_IN,
    AppointmentStatus.NO_SHOW,
)
STATUS_BADGES = {
    AppointmentStatus.SCHEDULED: "text-bg-secondary",
    AppointmentStatus.CONFIRMED: "text-bg-primary",
    AppointmentStatus.CHECKED_IN: "text-bg-warning",
    AppointmentStatus.IN_PROGRESS: "text-bg-info",
    AppointmentStatus.COMPLETED: "text-bg-success",
    AppointmentStatus.CANCELLED: "text-bg-light",
    AppointmentStatus.NO_SHOW: "text-bg-danger",
}


def sections_for(membership) -> dict[str, bool]:
    """Which parts of the page a member sees (one place, from the permission matrix)."""
    desk = membership.has("appointment.view_all") and membership.has("appointment.update")
    patient = membership.role == Role.PATIENT
    return {
        "desk": desk,
        "my_day": not desk and not patient and membership.has("appointment.view"),
        "figures": membership.has("report.view"),
        "unpaid": desk and membership.has("invoice.view"),
        "failed_messages": desk and membership.has("delivery.view"),
        "patient": patient,
        "switcher": not patient,
    }


def _day_chosen(value: str | None, today: dt.date) -> tuple[dt.date, str | None]:
    """(the day asked for, or today with the reason in words when it is not a usable date)."""
    if not value:
        return today, None
    try:
        day = dt.date.fromisoformat(value)
    except ValueError:
        return today, _("“%(value)s” is not a date (YYYY-MM-DD): showing today.") % {
            "value": value[:20]
        }
    if abs((day - today).days) > MAX_DAYS_AWAY:
        return today, _("%(value)s is too far from today: showing today.") % {"value": value}
    return day, None


def _decorate(appointment, *, now, membership) -> None:
    """What a desk row needs: the buttons it offers and its badge."""
    actions = scheduling_selectors.appointment_actions(appointment, now=now)
    appointment.actions = actions if membership.has("appointment.update") else frozenset()
    appointment.can_cancel = AppointmentStatus.CANCELLED in actions and membership.has(
        "appointment.cancel"
    )
    appointment.badge = STATUS_BADGES.get(appointment.status, "text-bg-secondary")


@page_requires("home.view")
def today(request):
    membership = request.membership
    organization = membership.organization
    now = timezone.now()
    today_date = timefmt.localize(now, organization).date()
    sections = sections_for(membership)
    day, day_error = _day_chosen(
        request.GET.get("day") if sections["switcher"] else None, today_date
    )
    context = {
        "sections": sections,
        "day": day,
        "is_today": day == today_date,
        "day_error": day_error,
        "previous_day": (day - dt.timedelta(days=1)).isoformat(),
        "next_day": (day + dt.timedelta(days=1)).isoformat(),
        "now": now,
        "can_book": membership.has("appointment.book"),
        "notes_to_write": None,
        "cosign_queue": None,
    }
    if sections["my_day"] and membership.has("note.write"):
        # the practitioner's paperwork: visits without their signed note, notes to co-sign
        context["notes_to_write"] = clinical_selectors.notes_to_write(membership, now=now)
        context["cosign_queue"] = list(clinical_selectors.cosign_queue(membership)[:50])
    if sections["desk"] or sections["my_day"] or sections["figures"]:
        appointments = scheduling_selectors.day_appointments(actor=membership, day=day)
        for a in appointments:
            _decorate(a, now=now, membership=membership)
        context["appointments"] = appointments
        context["figures"] = scheduling_selectors.day_figures(appointments)
    if sections["my_day"]:
        # what must be seen before each visit: serious allergies and danger alerts
        serious = clinical_selectors.serious_items_for(
            membership, list({a.patient_id for a in appointments if a.patient_id})
        )
        for a in appointments:
            a.serious = serious.get(a.patient_id, [])
    if sections["desk"]:
        context["groups"] = scheduling_selectors.day_by_practitioner(appointments)
        context["waiting"] = scheduling_selectors.day_waiting(appointments)
        context["unconfirmed"] = scheduling_selectors.day_unconfirmed(appointments)
    if sections["unpaid"]:
        context["unpaid"] = billing_selectors.unpaid_for_patients(
            actor=membership, patient_ids={a.patient_id for a in appointments}
        )
    if sections["failed_messages"]:
        context["failed_messages"] = notification_selectors.deliveries_failed_since(
            now - dt.timedelta(days=FAILED_MESSAGES_DAYS)
        )
    if sections["figures"]:
        context["revenue"] = billing_selectors.day_revenue(
            day=day,
            start=timefmt.wall_to_instant(day, dt.time(0), organization),
            end=timefmt.wall_to_instant(day + dt.timedelta(days=1), dt.time(0), organization),
        )
    if sections["patient"]:
        context["upcoming"] = scheduling_selectors.upcoming_for_actor(membership, now=now)
        context["billing"] = billing_selectors.login_billing(membership)
    return render(request, "web/today.html", context, status=400 if day_error else 200)


# --- in-place actions -----------------------------------------------------------------------------


def _row(request, appointment, *, error: str = "", status: int = 200):
    """The appointment's row on the Today page, re-rendered (with the refusal in words)."""
    if not request.htmx:
        # without htmx (no script) the form posted the whole page: back to the day's page
        day = timefmt.localize(appointment.start_at, appointment).date().isoformat()
        return redirect(f"{reverse('web:home')}?day={day}")
    now = timezone.now()
    _decorate(appointment, now=now, membership=request.membership)
    context = {"a": appointment, "error": error, "now": now}
    return render(request, "web/today.html#desk_row", context, status=status)


def _refusal_in_words(exc: DomainError, appointment) -> str:
    if (
        isinstance(exc, Conflict)
        and exc.code == "invalid_transition"
        and not (exc.details or {}).get("starts_at")
    ):
        return _("Not changed: the appointment’s status is “%(status)s”.") % {
            "status": appointment.get_status_display()
        }
    return _("Not changed: %(reason)s") % {"reason": exc.message}


def _reloaded(request, appointment_id):
    return scheduling_selectors.appointment_for_actor(request.membership, appointment_id)


@require_POST
@page_requires("appointment.update")
def appointment_status(request, appointment_id):
    """Confirm, check in or record a no-show from the Today page (the status machine of
    scheduling decides; a refusal re-renders the row with the reason, nothing written)."""
    appointment = scheduling_selectors.appointment_for_actor(
        request.membership, appointment_id, for_update=True
    )
    target = request.POST.get("status", "")
    if target not in DESK_STATUSES:
        return _row(
            request,
            appointment,
            error=_("Choose confirm, check in or no-show."),
            status=400,
        )
    try:
        appointment = scheduling_services.appointment_status_set(
            actor=request.membership, appointment=appointment, status=target
        )
    except DomainError as exc:
        appointment = _reloaded(request, appointment_id)
        return _row(
            request, appointment, error=_refusal_in_words(exc, appointment), status=exc.status
        )
    return _row(request, appointment)


@require_POST
@page_requires("appointment.cancel")
def appointment_cancel(request, appointment_id):
    """Cancel one appointment from the Today page, with the reason given in the confirmation."""
    appointment = scheduling_selectors.appointment_for_actor(
        request.membership, appointment_id, for_update=True
    )
    try:
        (appointment,) = scheduling_services.appointment_cancel(
            actor=request.membership,
            appointment=appointment,
            reason=request.POST.get("reason", ""),
            scope="this",
        )
    except DomainError as exc:
        appointment = _reloaded(request, appointment_id)
        return _row(
            request, appointment, error=_refusal_in_words(exc, appointment), status=exc.status
        )
    return _row(request, appointment)
