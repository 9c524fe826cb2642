"""The query-count walker: every GET route of the API and every page, requested at two data sizes,
runs the same number of SQL queries — so a new endpoint cannot ship an N+1.

The clinic is filled by the row makers of the RLS proof (tests/rls_rows.py: one row in every
tenant table), once for the small size and three more times for the large one. Path parameters
are objects made in the first round, so both sizes ask for the same records. A new path
parameter needs an entry in OBJECT_OF (or NESTED_IN for a child of another parameter); the test
fails until it has one.
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.apps import apps
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils import timezone

from clinic.api.main import api as ninja_api
from clinic.core.tenancy import tenant_activate, tenant_context
from tests.rls_rows import ROW_MAKERS

pytestmark = pytest.mark.django_db

# path parameter -> the model whose first row fills it
OBJECT_OF = {
    "token_id": "accounts.ApiToken",
    "membership_id": "accounts.Membership",
    "invitation_id": "accounts.Invitation",
    "event_id": "audit.AuditEvent",
    "notification_id": "notifications.Notification",
    "delivery_id": "notifications.Delivery",
    "location_id": "directory.Location",
    "room_id": "directory.Room",
    "service_id": "directory.Service",
    "practitioner_id": "directory.Practitioner",
    "patient_id": "directory.Patient",
    "payer_id": "directory.Patient",
    "contact_id": "directory.Contact",
    "import_id": "directory.PatientImport",
    "invoice_id": "billing.Invoice",
    "payment_id": "billing.Payment",
    "credit_note_id": "billing.CreditNote",
    "tax_rate_id": "billing.TaxRate",
    "policy_id": "billing.InsurancePolicy",
    "claim_id": "billing.Claim",
    "appointment_id": "scheduling.Appointment",
    "series_id": "scheduling.AppointmentSeries",
    "hold_id": "scheduling.Hold",
    "rule_id": "scheduling.AvailabilityRule",
    "time_off_id": "scheduling.TimeOff",
    "closure_id": "scheduling.Closure",
    "plan_id": "care.TreatmentPlan",
    "consultation_id": "care.Consultation",
    "encounter_id": "clinical.Encounter",
    "note_id": "clinical.ClinicalNote",
    "allergy_id": "clinical.Allergy",
    "alert_id": "clinical.Alert",
    "condition_id": "clinical.Condition",
    "observation_id": "clinical.Observation",
    "document_id": "clinical.Document",
    "template_id": "clinical.ConsentTemplate",
    "consent_id": "clinical.Consent",
    "entry_id": "waitlist.WaitlistEntry",
    "offer_id": "waitlist.WaitlistOffer",
}
# a child parameter -> (its model, {parent parameter: the child's attribute naming the parent})
NESTED_IN = {
    "link_id": ("directory.PatientContact", {"patient_id": "patient_id"}),
    "line_id": ("billing.InvoiceLine", {"invoice_id": "invoice_id"}),
    "exception_id": ("scheduling.AvailabilityException", {"practitioner_id": "practitioner_id"}),
    "feed_id": ("scheduling.IcsFeed", {"practitioner_id": "practitioner_id"}),
}
# other path parameters with a fixed value; None: the route is skipped (a public token link)
FIXED = {"kind": "patient", "token": None, "uidb64": None}

SIZES = (1, 4)  # rounds of row makers: the small clinic and the large one


def _api_routes() -> list[str]:
    schema = ninja_api.get_openapi_schema()
    return sorted(
        f"/api/v1{path.removeprefix('/api/v1')}"
        for path, ops in schema["paths"].items()
        if "get" in ops
    )


def _page_routes() -> list[str]:
    def walk(patterns, prefix=""):
        for p in patterns:
            if isinstance(p, URLResolver):
                yield from walk(p.url_patterns, prefix + str(p.pattern))
            elif isinstance(p, URLPattern):
                yield "/" + prefix + str(p.pattern)

    return sorted(r for r in walk(get_resolver().url_patterns) if not r.startswith("/api/"))


def _params(route: str) -> list[str]:
    # OpenAPI writes {name}, Django <converter:name>
    return [a or b for a, b in re.findall(r"\{(\w+)\}|<(?:\w+:)?(\w+)>", route)]


def _fill(route: str, values: dict) -> str:
    route = re.sub(r"\{(\w+)\}", lambda m: str(values[m.group(1)]), route)
    return re.sub(r"<(?:\w+:)?(\w+)>", lambda m: str(values[m.group(1)]), route)


def _first(label: str):
    return apps.get_model(label).objects.order_by("pk").first()


def _values_for(params: list[str]) -> dict | None:
    values: dict = {}
    for name in params:
        if name in NESTED_IN:
            label, parents = NESTED_IN[name]
            child = _first(label)
            values[name] = child.pk
            for parent, attribute in parents.items():
                values[parent] = getattr(child, attribute)
    for name in params:
        if name in values:
            continue
        if name in FIXED:
            if FIXED[name] is None:
                return None
            values[name] = FIXED[name]
            continue
        assert name in OBJECT_OF, f"add {name!r} to OBJECT_OF or NESTED_IN in {__file__}"
        values[name] = _first(OBJECT_OF[name]).pk
    return values


def _query_string(route: str, first_service) -> str:
    now = timezone.now()
    window = {
        "start": (now - timedelta(days=7)).isoformat(),
        "end": (now + timedelta(days=21)).isoformat(),
    }
    if route == "/api/v1/appointments":
        return f"?start={window['start']}&end={window['end']}".replace("+", "%2B")
    if route == "/api/v1/slots":
        return (
            f"?service_id={first_service.pk}&start={window['start']}&end={window['end']}"
        ).replace("+", "%2B")
    if route == "/api/v1/statements":
        return f"?date_from={(now - timedelta(days=365)).date()}&date_to={now.date()}"
    return ""


def _grow(persona, api, rounds: int) -> None:
    for _ in range(rounds):
        for make in ROW_MAKERS:
            with transaction.atomic():
                tenant_activate(persona.org.id, persona.user.id)
                make(persona, api)


def _measure(client, urls: list[tuple[str, dict]]) -> dict[str, tuple[int, int]]:
    counts = {}
    for url, headers in urls:
        with CaptureQueriesContext(connection) as queries:
            response = client.get(url, **headers)
        counts[url] = (response.status_code, len(queries))
    return counts


# Pages whose query count follows what is on the page, not how much data exists, up to a bound:
# the audit log loads the labels of the records it names with one query per kind of record shown
# (clinic.audit.sentences), so its 50 rows cost between a few and this many queries.
BOUNDED = {"/audit/": 30}


def test_every_get_route_and_page_runs_the_same_queries_at_two_sizes(api, client, owner_a):
    _grow(owner_a, api, SIZES[0])
    with tenant_context(owner_a.org.id, owner_a.user.id):
        first_service = _first("directory.Service")
        urls = []
        for route in _api_routes():
            values = _values_for(_params(route))
            if values is not None:
                url = _fill(route, values) + _query_string(route, first_service)
                urls.append((url, owner_a.headers))
        for route in _page_routes():
            values = _values_for(_params(route))
            if values is not None:
                urls.append((_fill(route, values), {}))
    client.force_login(owner_a.user)

    small = _measure(client, urls)
    _grow(owner_a, api, SIZES[1] - SIZES[0])
    large = _measure(client, urls)

    answered = [url for url, (status, _) in small.items() if status == 200]
    assert len(answered) >= 60, sorted(small.items())  # the walk reaches the real handlers
    grew = {
        url: (small[url][1], large[url][1])
        for url in small
        if small[url][0] < 400
        and (large[url][1] > BOUNDED[url] if url in BOUNDED else small[url][1] != large[url][1])
    }
    assert not grew, f"queries that grow with the data (url: (small, large)): {grew}"
    changed = {
        url: (small[url][0], large[url][0]) for url in small if small[url][0] != large[url][0]
    }
    assert not changed, f"statuses that changed with the data: {changed}"
