"""Waitlist pages: the board (filters, scores with their breakdown, the selected entry's
matches and offer history, manual offers), "add to waitlist" from a patient's chart, and the
patient's public offer page (accept/decline by POST: a link opened by a mail scanner answers
nothing). Thin: writes go through waitlist.services, reads through waitlist.selectors."""

from __future__ import annotations

from datetime import datetime

from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from clinic.core.errors import DomainError
from clinic.waitlist import matching, selectors, services
from clinic.waitlist.models import EntryStatus, OfferSource, TimeOfDay, Urgency
from clinic.web.access import page_requires


def _not_found(request):
    return render(request, "web/not_found.html", status=404)


@page_requires("waitlist.view")
def board(request):
    actor = request.membership
    status = request.GET.get("status", "")
    urgency = request.GET.get("urgency") or None
    entries = list(selectors.entries_list(actor, status=status or None, urgency=urgency)[:200])
    history = selectors.offers_of_entries([e.id for e in entries])
    selected = None
    matches = []
    wanted = request.GET.get("entry")
    if wanted:
        selected = next((e for e in entries if str(e.id) == wanted), None)
        if selected is not None and selected.status == EntryStatus.ACTIVE:
            matches = matching.entry_matches(
                selected, limit=5, default_zone=actor.organization.time_zone
            )
    return render(
        request,
        "waitlist/board.html",
        {
            "rows": [(e, history.get(e.id, [])) for e in entries],
            "status": status,
            "statuses": EntryStatus.choices,
            "urgency": urgency or "",
            "urgencies": Urgency.choices,
            "selected": selected,
            "matches": matches,
            "figures": selectors.figures(),
            "may_manage": actor.has("waitlist.manage"),
            "may_configure": actor.has("waitlist.settings"),
            "error": request.GET.get("error", ""),
        },
    )


@require_POST
@page_requires("waitlist.manage")
def offer_manual(request, entry_id):
    actor = request.membership
    try:
        entry = selectors.entry_for_actor(actor, entry_id)
        services.offer_create(
            actor=actor,
            entry=entry,
            practitioner_id=request.POST.get("practitioner_id"),
            start=datetime.fromisoformat(request.POST.get("start", "")),
            location_id=request.POST.get("location_id") or None,
            source=OfferSource.MANUAL,
        )
    except (DomainError, ValueError) as exc:
        return render(
            request,
            "waitlist/message.html",
            {"title": _("The offer could not be made"), "message": str(exc)},
            status=getattr(exc, "status", 400),
        )
    return redirect(f"{reverse('waitlist:board')}?entry={entry.id}")


@page_requires("waitlist.manage")
def entry_add(request):
    """'Add to waitlist' from a patient's chart (?patient=<id>) or from a week of the plan
    planner without a free slot (?patient=&service=)."""
    from clinic.directory.models import Patient, Service

    actor = request.membership
    patient = Patient.objects.filter(
        id=request.GET.get("patient") or request.POST.get("patient_id")
    ).first()
    if patient is None:
        return _not_found(request)
    errors: dict = {}
    if request.method == "POST":
        data = {
            "patient_id": patient.id,
            "service_id": request.POST.get("service_id") or None,
            "earliest_date": request.POST.get("earliest_date") or None,
            "latest_date": request.POST.get("latest_date") or None,
            "urgency": request.POST.get("urgency") or "medium",
            "referral_source": request.POST.get("referral_source", ""),
            "preferred_times": request.POST.getlist("preferred_times"),
            "preferred_days": [
                int(d) for d in request.POST.getlist("preferred_days") if d.isdigit()
            ],
            "notes": request.POST.get("notes", ""),
        }
        try:
            from datetime import date

            for name in ("earliest_date", "latest_date"):
                if data[name]:
                    data[name] = date.fromisoformat(data[name])
            entry = services.entry_create(actor=actor, data=data)
            return redirect(f"{reverse('waitlist:board')}?entry={entry.id}")
        except DomainError as exc:
            errors = exc.details or {"": [str(exc)]}
        except ValueError:
            errors = {"earliest_date": [_("Enter a valid date.")]}
    return render(
        request,
        "waitlist/entry_form.html",
        {
            "patient": patient,
            "services": Service.objects.filter(is_active=True).order_by("name"),
            "urgencies": Urgency.choices,
            "times": TimeOfDay.choices,
            "errors": errors,
            # from a full slot search the service comes in the link (?service=)
            "form": request.POST
            if request.method == "POST"
            else {"service_id": request.GET.get("service", "")},
        },
        status=422 if errors else 200,
    )


def offer_respond(request, token: str):
    """The patient's page behind the link in the offer message: no login, the secret in the URL
    is the credential; answering is a POST."""
    offer = services.unscoped_offer_resolve(token)
    if offer is None:
        return _not_found(request)
    outcome = ""
    status = 200
    if request.method == "POST":
        request.keep_writes_on_error = True  # an expired offer is closed and its slot moves on
        try:
            if request.POST.get("answer") == "accept":
                services.offer_accept(offer=offer)
                outcome = _("Thank you: your appointment is booked.")
            else:
                services.offer_decline(offer=offer)
                outcome = _("Thank you: the place goes to the next person waiting.")
        except DomainError as exc:
            outcome = str(exc)
            status = exc.status
    from clinic.waitlist.models import WaitlistOffer

    offer = WaitlistOffer.objects.select_related("practitioner", "service", "location").get(
        id=offer.id
    )
    return render(
        request,
        "waitlist/offer_respond.html",
        {"offer": offer, "outcome": outcome, "token": token},
        status=status,
    )


@page_requires("waitlist.settings")
def settings_page(request):
    """The organization's scoring weights, match threshold and offer timings."""
    from django.contrib import messages as flash

    from clinic.waitlist.forms import WaitlistSettingsForm

    current = selectors.settings_get()
    form = WaitlistSettingsForm(
        request.POST or None, initial=WaitlistSettingsForm.initial_from(current)
    )
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                services.settings_update(actor=request.membership, data=form.to_settings())
            except DomainError as exc:
                for name, messages in (exc.details or {}).items():
                    for message in messages:
                        form.add_error(name if name in form.fields else None, message)
            else:
                flash.success(request, _("Waitlist settings saved."))
                return redirect("waitlist:settings")
        status = 422
    return render(request, "waitlist/settings.html", {"form": form}, status=status)
