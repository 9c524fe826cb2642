from __future__ import annotations

from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from clinic.core import timefmt

# (label, url name, permission needed); the layout shows only what the role allows.
NAVIGATION = [
    (_("Home"), "web:home", "home.view"),
    (_("Calendar"), "scheduling:calendar", "calendar.view"),
    (_("Availability"), "scheduling:availability", "availability.view"),
    (_("Treatment plans"), "care:plans", "treatment_plan.view"),
    (_("Messages"), "notifications:delivery_list", "delivery.view"),
    (_("Patients"), "directory:patients", "patient.view"),
    (_("Contacts"), "directory:contacts", "contact.view"),
    (_("Practitioners"), "directory:practitioners", "practitioner.view"),
    (_("Services"), "directory:services", "service.view"),
    (_("Locations"), "directory:locations", "location.view"),
    (_("Invoices"), "billing:invoices", "invoice.view"),
    (_("Members"), "web:members", "membership.manage"),
    (_("Audit log"), "web:audit", "audit.view"),
]


def navigation(request):
    membership = getattr(request, "membership", None)
    if membership is None:
        return {"nav_items": []}
    # the time filters read the request's (already loaded) organization: no query
    timefmt.organization_activate(membership.organization)
    items = [
        {"label": label, "url": reverse(name), "active": request.path == reverse(name)}
        for label, name, perm in NAVIGATION
        if membership.has(perm)
    ]
    return {"nav_items": items, "active_membership": membership}
