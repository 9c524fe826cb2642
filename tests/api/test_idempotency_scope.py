"""Issue 18, defect 1: an Idempotency-Key replay never skips authorization. The stored response
belongs to the membership that made the request; another member sending the same key and body
makes a new request under its own permissions, and the permission check runs before a replay."""

from __future__ import annotations

from clinic.api.main import api as ninja_api
from clinic.core.tenancy import tenant_context
from tests.directory import factories as directory

PATIENT_BODY = {"given_name": "Replay", "family_name": "Probe", "date_of_birth": "1990-01-02"}


def _patients_named(persona, family_name: str) -> int:
    from clinic.directory.models import Patient

    with tenant_context(persona.org.id):
        return Patient.objects.filter(family_name=family_name).count()


def _payments(persona) -> int:
    from clinic.billing.models import Payment

    with tenant_context(persona.org.id):
        return Payment.objects.count()


def test_a_patient_token_replaying_an_owners_key_is_refused(api, owner_a, persona_factory):
    headers = {"HTTP_IDEMPOTENCY_KEY": "probe-patient-create"}
    first = api.post("patients", owner_a, json=PATIENT_BODY, headers=headers)
    assert first.status_code == 201
    patient_login = persona_factory("patient")
    replay = api.post("patients", patient_login, json=PATIENT_BODY, headers=headers)
    assert replay.status_code == 403
    assert replay.json()["error"]["code"] == "permission_denied"
    assert "Idempotent-Replayed" not in replay
    assert first.json()["id"] not in replay.content.decode()
    assert _patients_named(owner_a, "Probe") == 1


def test_a_practitioner_without_payment_rights_replaying_a_payment_is_refused(
    api, owner_a, practitioner_a
):
    patient = directory.patient(owner_a)
    body = {"patient_id": str(patient.id), "amount": "40.00", "method": "cash"}
    headers = {"HTTP_IDEMPOTENCY_KEY": "probe-payment"}
    first = api.post("payments", owner_a, json=body, headers=headers)
    assert first.status_code == 201
    replay = api.post("payments", practitioner_a, json=body, headers=headers)
    assert replay.status_code == 403
    assert "Idempotent-Replayed" not in replay
    assert _payments(owner_a) == 1


def test_another_member_with_the_right_makes_a_new_request(api, owner_a, persona_factory):
    headers = {"HTTP_IDEMPOTENCY_KEY": "probe-shared-key"}
    body = dict(PATIENT_BODY, family_name="Shared")
    first = api.post("patients", owner_a, json=body, headers=headers)
    desk = persona_factory("assistant")
    second = api.post("patients", desk, json=dict(body, force=True), headers=headers)
    assert first.status_code == second.status_code == 201
    assert "Idempotent-Replayed" not in second
    assert second.json()["id"] != first.json()["id"]
    # each member's own replay still answers its own stored response
    again = api.post("patients", desk, json=dict(body, force=True), headers=headers)
    assert again["Idempotent-Replayed"] == "true" and again.json() == second.json()
    assert _patients_named(owner_a, "Shared") == 2


def test_a_member_who_lost_the_right_gets_no_replay(api, owner_a, persona_factory):
    from clinic.accounts.models import Membership

    desk = persona_factory("assistant")
    headers = {"HTTP_IDEMPOTENCY_KEY": "probe-demoted"}
    body = dict(PATIENT_BODY, family_name="Demoted")
    assert api.post("patients", desk, json=body, headers=headers).status_code == 201
    with tenant_context(owner_a.org.id):
        Membership.objects.filter(id=desk.membership.id).update(role="practitioner")
    replay = api.post("patients", desk, json=body, headers=headers)
    assert replay.status_code == 403
    assert "Idempotent-Replayed" not in replay


def test_every_authenticated_write_route_checks_a_permission():
    """The replay is answered by `require` after its check; a write route without it would
    run its handler on a replay (the middleware then undoes the writes, but it must not)."""
    unchecked = []
    for prefix, router in ninja_api._routers:
        for path, path_view in router.path_operations.items():
            for operation in path_view.operations:
                if not set(operation.methods) & {"POST", "PUT", "PATCH", "DELETE"}:
                    continue
                if operation.auth_callbacks and not hasattr(
                    operation.view_func, "required_permission"
                ):
                    unchecked.append((operation.methods, prefix + path))
    assert unchecked == []
