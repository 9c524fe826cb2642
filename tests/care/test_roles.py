from __future__ import annotations

from tests.care.conftest import at, monday
from tests.conftest import persona_create


def test_practitioner_manages_only_their_own_plans(
    api, owner_a, practitioner_a, plan, plan_payload, world
):
    assert api.get(f"treatment-plans/{plan['id']}", practitioner_a).status_code == 200
    others = api.post(
        "treatment-plans",
        owner_a,
        json=plan_payload(practitioner_id=str(world.other_practitioner.id), title="Bob's plan"),
    ).json()
    assert api.get(f"treatment-plans/{others['id']}", practitioner_a).status_code == 404
    listed = api.get("treatment-plans", practitioner_a).json()
    assert [p["id"] for p in listed["items"]] == [plan["id"]]
    # and cannot create one for somebody else
    refused = api.post(
        "treatment-plans",
        practitioner_a,
        json=plan_payload(practitioner_id=str(world.other_practitioner.id)),
    )
    assert refused.status_code == 403
    mine = api.post("treatment-plans", practitioner_a, json=plan_payload(title="Mine"))
    assert mine.status_code == 201


def test_assistant_plans_consultations_but_not_goals_or_plans(
    api, owner_a, org_a, plan, plan_payload
):
    assistant = persona_create(org_a, "assistant")
    assert api.post("treatment-plans", assistant, json=plan_payload()).status_code == 403
    goals = api.patch(f"treatment-plans/{plan['id']}", assistant, json={"goals": [{"text": "x"}]})
    assert goals.status_code == 403
    created = api.post(
        f"treatment-plans/{plan['id']}/consultations",
        assistant,
        json={"planned_start": at(monday(), 9).isoformat()},
    )
    assert created.status_code == 201


def test_manager_may_edit_goals(api, org_a, plan):
    manager = persona_create(org_a, "manager")
    response = api.patch(
        f"treatment-plans/{plan['id']}",
        manager,
        json={"goals": [{"text": "Walk 1 km", "status": "achieved"}]},
    )
    assert response.status_code == 200
    assert response.json()["goals"][0]["status"] == "achieved"


def test_patient_reads_own_active_plans_only(api, owner_a, org_a, plan, world, tenant):
    from clinic.directory.models import Patient

    patient_login = persona_create(org_a, "patient")
    with tenant(org_a):
        Patient.objects.filter(id=world.patient.id).update(
            membership_id=patient_login.membership.id
        )
    # a draft is not shown
    assert api.get(f"treatment-plans/{plan['id']}", patient_login).status_code == 404
    api.post(f"treatment-plans/{plan['id']}/status", owner_a, json={"status": "active"})
    consultation = api.post(
        f"treatment-plans/{plan['id']}/consultations",
        owner_a,
        json={"planned_start": at(monday(), 9).isoformat()},
    ).json()
    assert api.get(f"treatment-plans/{plan['id']}", patient_login).status_code == 200
    listed = api.get(f"treatment-plans/{plan['id']}/consultations", patient_login).json()
    assert [c["id"] for c in listed["items"]] == [consultation["id"]]
    assert (
        api.patch(f"treatment-plans/{plan['id']}", patient_login, json={"title": "x"}).status_code
        == 403
    )
    assert (
        api.post(
            f"treatment-plans/{plan['id']}/consultations",
            patient_login,
            json={"planned_start": at(monday(), 11).isoformat()},
        ).status_code
        == 403
    )
    # another patient sees nothing
    stranger = persona_create(org_a, "patient")
    assert api.get("treatment-plans", stranger).json()["count"] == 0
