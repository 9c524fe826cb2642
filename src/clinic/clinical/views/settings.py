"""The clinical settings page (owners and admins): when a note counts as signed late, and
whether managers and the front desk may read the text of notes."""

from __future__ import annotations

from django.contrib import messages
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _

from clinic.clinical import selectors, services
from clinic.core.errors import ValidationFailed
from clinic.web.access import page_requires


@page_requires("clinical.settings")
def clinical_settings(request):
    found = selectors.settings_get()
    form = {
        "late_signing_hours": found.late_signing_hours,
        "desk_reads_notes": found.desk_reads_notes,
    }
    if request.method == "POST":
        raw = request.POST.get("late_signing_hours", "").strip()
        form = {
            "late_signing_hours": raw,
            "desk_reads_notes": request.POST.get("desk_reads_notes") == "on",
        }
        try:
            hours = int(raw)
        except ValueError:
            hours = -1  # refused by the service with its own words
        try:
            services.settings_update(
                actor=request.membership,
                late_signing_hours=hours,
                desk_reads_notes=form["desk_reads_notes"],
            )
        except ValidationFailed as exc:
            context = {"form": form, "errors": exc.details or {}, "error": exc.message}
            return render(request, "clinical/settings.html", context, status=exc.status)
        messages.success(request, _("Clinical settings saved."))
        return redirect("clinical:settings")
    return render(request, "clinical/settings.html", {"form": form, "errors": {}})
