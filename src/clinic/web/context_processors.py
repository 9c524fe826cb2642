from __future__ import annotations

from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from clinic.core import timefmt

# (label, url name, permission needed) or (label, [entries]) for a menu; the layout shows only
# what the role allows. Grouped so that the whole bar fits one row at 1366 px in every language.
NAVIGATION = [
    (_("Today"), "web:home", "home.view"),
    (_("Calendar"), "scheduling:calendar", "calendar.view"),
    (_("Patients"), "directory:patients", "patient.view"),
    (_("Treatment plans"), "care:plans", "treatment_plan.view"),
    (_("Invoices"), "billing:invoices", "invoice.view"),
    (
        _("Clinic"),
        [
            (_("Waitlist"), "waitlist:board", "waitlist.view"),
            (_("Practitioners"), "directory:practitioners", "practitioner.view"),
            (_("Availability"), "scheduling:availability", "availability.view"),
            (_("Time off"), "scheduling:time_off", "time_off.view"),
            (_("Closures"), "scheduling:closures", "closure.manage"),
            (_("Services"), "directory:services", "service.view"),
            (_("Locations"), "directory:locations", "location.view"),
            (_("Contacts"), "directory:contacts", "contact.view"),
        ],
    ),
    (
        _("Administration"),
        [
            (_("Messages"), "notifications:delivery_list", "delivery.view"),
            (_("Members"), "web:members", "membership.manage"),
            (_("Audit log"), "web:audit", "audit.view"),
            (_("Consent forms"), "clinical:consent_templates", "consent_template.manage"),
            (_("Clinical settings"), "clinical:settings", "clinical.settings"),
            (_("Settings"), "accounts:organization_settings", "organization.update"),
        ],
    ),
]


def _entry(request, label, name) -> dict:
    url = reverse(name)
    return {"label": label, "url": url, "active": request.path == url}


def navigation_items(request, membership) -> list[dict]:
    """The entries of the main navigation this membership may open; a menu with one entry left
    is shown as that entry, an empty one not at all."""
    items = []
    for label, target, *perm in NAVIGATION:
        if isinstance(target, str):
            if membership.has(perm[0]):
                items.append(_entry(request, label, target))
            continue
        children = [
            _entry(request, child_label, name)
            for child_label, name, child_perm in target
            if membership.has(child_perm)
        ]
        if len(children) == 1:
            items.append(children[0])
        elif children:
            active = any(child["active"] for child in children)
            items.append({"label": label, "children": children, "active": active})
    return items


def navigation(request):
    membership = getattr(request, "membership", None)
    if membership is None:
        return {"nav_items": []}
    # the time filters read the request's (already loaded) organization: no query
    timefmt.organization_activate(membership.organization)
    return {"nav_items": navigation_items(request, membership), "active_membership": membership}
