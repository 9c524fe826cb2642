"""Issue 18, defect 4: inputs that answered 500 are a 4xx with the error envelope (naming the
field where one is at fault), and nothing is written."""

from __future__ import annotations

import json
import uuid

import pytest

from clinic.core.tenancy import tenant_context
from tests.directory import factories as directory

HUGE_PAGE = "10000000000000000000"
UNKNOWN = "5f0c6b8e-0000-4000-8000-000000000018"  # fixed: xdist workers collect the same ids


def _audit_count(persona) -> int:
    from clinic.audit.models import AuditEvent

    with tenant_context(persona.org.id):
        return AuditEvent.objects.count()


@pytest.fixture
def world(owner_a):
    return {
        "patient": directory.patient(owner_a),
        "practitioner": directory.practitioner(owner_a),
        "location": directory.location(owner_a),
    }


def _payment(received_at):
    return lambda w: {
        "patient_id": str(w["patient"].id),
        "amount": "10.00",
        "method": "cash",
        "received_at": received_at,
    }


def _exception(start):
    return lambda w: {
        "practitioner_id": str(w["practitioner"].id),
        "kind": "blocked",
        "start": start,
        "end": "2026-03-02T12:00:00+00:00",
    }


def _rule(start_time):
    return lambda w: {
        "practitioner_id": str(w["practitioner"].id),
        "location_id": str(w["location"].id),
        "weekday": 0,
        "start_time": start_time,
        "end_time": "17:00:00",
    }


def _slots(start):
    return lambda w: (
        f"slots?service_id={UNKNOWN}&start={start.replace('+', '%2B')}"
        "&end=2026-03-03T00:00:00%2B00:00"
    )


# (id, method, path or path(world), body(world) or None, status, field named in details)
CASES = [
    ("huge-page-patients", "get", f"patients?page={HUGE_PAGE}", None, 422, "page"),
    ("huge-page-audit", "get", f"audit-events?page={HUGE_PAGE}", None, 422, "page"),
    ("huge-page-invoices", "get", f"invoices?page={HUGE_PAGE}", None, 422, "page"),
    ("offset+16", "post", "payments", _payment("2026-01-05T10:00:00+16:00"), 422, "received_at"),
    ("offset-16", "post", "payments", _payment("2026-01-05T10:00:00-16:30"), 422, "received_at"),
    ("year-1", "post", "payments", _payment("0001-01-01T00:00:00+05:00"), 422, "received_at"),
    ("year-9999", "post", "payments", _payment("9999-12-31T23:00:00-05:00"), 422, "received_at"),
    ("exception-offset", "post", "availability-exceptions", _exception("2026-03-02T09:00+16:00"),
     422, None),
    ("exception-year-1", "post", "availability-exceptions",
     _exception("0001-01-01T00:00:00+05:00"), 422, None),
    ("slots-year-1", "get", _slots("0001-01-01T00:00:00+05:00"), None, 422, None),
    ("slots-year-9999", "get", _slots("9999-12-31T23:00:00-05:00"), None, 422, None),
    ("rule-time-offset", "post", "availability-rules", _rule("09:00:00+05:00"), 422,
     "start_time"),
    ("nul-search-patients", "get", "patients?search=%00", None, 422, "search"),
    ("nul-search-invoices", "get", "invoices?search=ab%00c", None, 422, "search"),
    ("nul-in-body", "post", "patients", lambda w: {"given_name": "A\u0000", "family_name": "B",
     "date_of_birth": "1990-01-01"}, 422, None),
    ("price-1e308", "post", "services", lambda w: {"name": "Huge", "duration_minutes": 30,
     "price": 1e308}, 422, "price"),
    ("weight-1e308", "post", "patients", lambda w: {"given_name": "Rex", "species": "dog",
     "weight_kg": 1e308}, 422, "weight_kg"),
    ("quantity-null", "post", "invoices", lambda w: {"patient_id": str(w["patient"].id),
     "lines": [{"description": "x", "unit_price": "10.00", "quantity": None}]}, 422,
     "lines.0.quantity"),
    ("body-over-2.5MB", "post", "patients", lambda w: {"given_name": "Big", "family_name": "B",
     "date_of_birth": "1990-01-01", "notes": "x" * 2_700_000}, 413, None),
]  # fmt: skip


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "field"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_bad_input_is_a_4xx_envelope_and_writes_nothing(
    api, owner_a, world, method, path, body, status, field
):
    path = path(world) if callable(path) else path
    before = _audit_count(owner_a)
    if body is None:
        response = getattr(api, method)(path, owner_a)
    else:
        response = getattr(api, method)(path, owner_a, json=json.dumps(body(world)))
    assert response.status_code == status, response.content[:500]
    error = response.json()["error"]
    assert error["code"] and error["message"]
    if field:
        assert field in (error["details"] or {}), error
    assert _audit_count(owner_a) == before


@pytest.mark.parametrize(
    "action",
    ["lines/", "lines/preview/", f"lines/{UNKNOWN}/remove/", "issue/", "delete/", "credit/"],
)
def test_billing_pages_answer_404_for_an_unknown_invoice(client, owner_a, action):
    client.force_login(owner_a.user)
    before = _audit_count(owner_a)
    response = client.post(
        f"/billing/invoices/{uuid.uuid4()}/{action}",
        {"description": "x", "unit_price": "1", "reason": "r"},
    )
    assert response.status_code == 404
    assert _audit_count(owner_a) == before
