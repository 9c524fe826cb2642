"""Erasure of a patient's personal data in two steps, through each module's declaration
(core/privacy.py): identity and contacts emptied, appointment and waitlist notes emptied,
messages emptied, the login ended; clinical, care and billing records kept; the audit images of
the changed rows pseudonymised; refused while visits are upcoming; access request export."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from clinic.core.tenancy import tenant_context
from tests.directory import factories
from tests.scheduling.conftest import MONDAY, at, clinic_build

pytestmark = pytest.mark.django_db

NAME = "Zoéline"


def _setup(api, owner):
    """A patient with a login-less identity, a contact of their own, a contact shared with a
    sibling, a past appointment with notes, and a cancelled future one (messages planned)."""
    from clinic.directory.models import Patient
    from clinic.scheduling.models import Appointment

    clinic = clinic_build(owner)
    patient = factories.patient(
        owner,
        given_name=NAME,
        family_name="Marchetti",
        email="zoeline@example.org",
        phone="+33611223344",
        address_line1="12 rue des Lilas",
        notes="Prefers mornings",
    )
    sibling = factories.patient(owner, given_name="Sibling", family_name="Marchetti")
    own = factories.contact(owner, given_name="Aunt", family_name="Ottavia", email="o@example.org")
    shared = factories.contact(owner, given_name="Mother", family_name="Marchetti")
    factories.link(owner, patient, own, relationship="other")
    factories.link(owner, patient, shared)
    factories.link(owner, sibling, shared)
    past = timezone.now() - timedelta(days=30)
    with tenant_context(owner.org.id, owner.user.id):
        visit = Appointment.objects.create(
            practitioner=clinic.practitioner,
            patient=Patient.objects.get(id=patient.id),
            service=clinic.consult,
            location=clinic.location,
            start_at=past,
            end_at=past + timedelta(hours=1),
            occupied_start=past,
            occupied_end=past + timedelta(hours=1),
            status="completed",
            notes=f"{NAME} limped in",
        )
    future = api.post(
        "appointments",
        owner,
        json={
            "practitioner_id": str(clinic.practitioner.id),
            "patient_id": str(patient.id),
            "service_id": str(clinic.consult.id),
            "start": at(MONDAY, 10).isoformat(),
        },
    )
    assert future.status_code == 201, future.content
    return clinic, patient, sibling, own, shared, visit, future.json()["id"]


def _audit_text(org_id) -> str:
    from clinic.audit.models import AuditEvent

    with tenant_context(org_id):
        return json.dumps(
            list(AuditEvent.objects.values("before", "after", "details")),
            default=str,
            ensure_ascii=False,
        )


def test_erasure_in_two_steps_empties_what_it_may_and_keeps_what_it_must(api, owner_a, org_a):
    from clinic.directory.models import Contact, Patient
    from clinic.notifications.models import Delivery
    from clinic.scheduling.models import Appointment

    _clinic, patient, sibling, own, shared, visit, future_id = _setup(api, owner_a)
    url = f"patients/{patient.id}/erasure"
    # an upcoming appointment stops it, in words, and nothing is written
    blocked = api.post(url, owner_a, json={"reason": "Written request of 1 Dec"})
    assert blocked.status_code == 409, blocked.content
    assert blocked.json()["error"]["code"] == "erasure_blocked"
    assert "upcoming" in blocked.json()["error"]["message"]
    assert api.delete(f"appointments/{future_id}", owner_a).status_code == 200
    with tenant_context(org_a.id):
        assert Delivery.objects.filter(patient_id=patient.id).exclude(to_address="").exists()

    overview = api.get(url, owner_a).json()
    kinds = {item["name"]: item for item in overview["plan"]}
    assert kinds["directory.identity"]["outcome"] == "anonymised"
    assert kinds["billing.accounts"]["outcome"] == "kept"
    assert kinds["billing.accounts"]["kept_because"]
    assert kinds["clinical.record"]["outcome"] == "kept"
    assert overview["erased_at"] is None

    assert api.post(url, owner_a, json={}).status_code == 422  # the reason is required
    asked = api.post(url, owner_a, json={"reason": "Written request of 1 Dec"})
    assert asked.status_code == 202, asked.content
    code = asked.json()["confirmation"]
    assert {i["name"] for i in asked.json()["plan"]} == set(kinds)
    # nothing is erased yet
    with tenant_context(org_a.id):
        assert Patient.objects.get(id=patient.id).given_name == NAME
    wrong = api.post(url, owner_a, json={"confirmation": "not-the-code"})
    assert wrong.status_code == 422 and "confirmation" in wrong.json()["error"]["details"]

    assert NAME in _audit_text(org_a.id) and "limped in" in _audit_text(org_a.id)
    done = api.post(url, owner_a, json={"confirmation": code})
    assert done.status_code == 200, done.content
    outcome = done.json()["outcome"]
    assert outcome["directory.identity"] == {"outcome": "anonymised", "count": 1}
    assert outcome["directory.contacts"]["count"] == 1  # the shared contact is kept
    with tenant_context(org_a.id):
        erased = Patient.objects.get(id=patient.id)
        assert erased.mrn == patient.mrn and erased.archived_at is not None
        assert NAME not in erased.given_name and "Marchetti" not in erased.family_name
        assert erased.email == erased.phone == erased.address_line1 == erased.notes == ""
        assert (erased.date_of_birth.month, erased.date_of_birth.day) == (1, 1)  # year only
        assert Contact.objects.get(id=own.id).email == ""
        assert Contact.objects.get(id=shared.id).given_name == "Mother"  # the sibling's too
        assert Patient.objects.get(id=sibling.id).given_name == "Sibling"
        assert Appointment.objects.get(id=visit.id).notes == ""
        assert Appointment.objects.filter(patient_id=patient.id).count() == 2  # kept
        deliveries = list(Delivery.objects.filter(patient_id=patient.id))
        assert deliveries and all(d.to_address == "—" and d.rendered_body == "" for d in deliveries)
    # the audit log kept every event, but none still says what was erased
    audit = _audit_text(org_a.id)
    for word in (NAME, "zoeline@example.org", "12 rue des Lilas", "limped in", "Ottavia"):
        assert word not in audit, word
    assert "Sibling" in audit  # others' data untouched
    with tenant_context(org_a.id):
        from clinic.audit.models import AuditEvent

        assert AuditEvent.objects.filter(
            action="patient.erased", object_id=str(patient.id)
        ).exists()
    # once is enough
    again = api.post(url, owner_a, json={"reason": "again"})
    assert again.status_code == 409 and again.json()["error"]["code"] == "already_erased"
    assert api.get(url, owner_a).json()["erased_at"] is not None


def test_the_code_is_bound_to_who_asked_and_expires(api, owner_a, org_a, persona_factory):
    from clinic.privacy.models import ErasureRequest

    _clinic, patient, *_rest, future_id = _setup(api, owner_a)
    api.delete(f"appointments/{future_id}", owner_a)
    url = f"patients/{patient.id}/erasure"
    code = api.post(url, owner_a, json={"reason": "Request"}).json()["confirmation"]
    admin = persona_factory("admin")
    other = api.post(url, admin, json={"confirmation": code})
    assert other.status_code == 422, other.content
    with tenant_context(org_a.id):
        ErasureRequest.objects.update(
            created_at=timezone.now() - timedelta(hours=1),
            expires_at=timezone.now() - timedelta(minutes=1),
        )
    late = api.post(url, owner_a, json={"confirmation": code})
    assert late.status_code == 410 and late.json()["error"]["code"] == "confirmation_expired"
    with tenant_context(org_a.id):
        assert ErasureRequest.objects.filter(confirmed_at__isnull=False).count() == 0


def test_only_owners_and_admins_and_never_across_clinics(
    api, owner_a, owner_b, practitioner_a, persona_factory
):
    patient = factories.patient(owner_a, given_name="Ines")
    url = f"patients/{patient.id}/erasure"
    for persona in (practitioner_a, persona_factory("manager"), persona_factory("assistant")):
        assert api.post(url, persona, json={"reason": "x"}).status_code == 403
        assert api.get(f"patients/{patient.id}/personal-data", persona).status_code == 403
    assert api.post(url, owner_b, json={"reason": "x"}).status_code == 404
    assert api.get(f"patients/{patient.id}/personal-data", owner_b).status_code == 404


def test_the_database_refuses_audit_pseudonymisation_to_anyone_else(owner_a, practitioner_a):
    from django.db import DatabaseError, transaction

    with tenant_context(owner_a.org.id, practitioner_a.user.id):
        with pytest.raises(DatabaseError, match="owner or admin"):
            with transaction.atomic(), connection.cursor() as cur:
                cur.execute(
                    "SELECT app_audit_pseudonymise(%s, %s, %s)",
                    ["directory_patient", ["x"], ["given_name"]],
                )


def test_access_request_export_gathers_every_module(api, owner_a):
    _clinic, patient, *_rest = _setup(api, owner_a)
    data = api.get(f"patients/{patient.id}/personal-data", owner_a)
    assert data.status_code == 200, data.content
    body = data.json()
    assert body["directory.identity"]["given_name"] == NAME
    assert {c["given_name"] for c in body["directory.contacts"]} == {"Aunt", "Mother"}
    assert any(a["notes"] == f"{NAME} limped in" for a in body["scheduling.appointments"])
    assert body["notifications.messages"], body  # the booking confirmation
    assert body["clinical.record"] == {"fhir": f"/api/v1/patients/{patient.id}/fhir"}
    assert body["billing.accounts"] == {"invoices": [], "payments": []}
