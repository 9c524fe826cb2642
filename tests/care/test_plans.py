from __future__ import annotations

from datetime import date, timedelta

import pytest

from clinic.care.models import TreatmentPlan
from clinic.care.services import plan_status_set
from clinic.care.status import PLAN_TRANSITIONS, PlanStatus
from clinic.core.errors import Conflict
from tests.directory import factories


def test_create_plan(api, owner_a, plan_payload, world):
    response = api.post("treatment-plans", owner_a, json=plan_payload())
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["status"] == "draft"
    assert body["patient"]["name"] == "Hélène Durand"
    assert body["practitioner"]["id"] == str(world.practitioner.id)
    assert body["frequency"] == "2 per week"
    assert body["diagnosis_codes"] == ["M17.1"]
    assert body["goals"] == [
        {"text": "Climb stairs without pain", "target": "4 weeks", "status": "open"}
    ]
    assert body["progress"]["total"] == 0 and body["progress"]["target"] == 10


@pytest.mark.parametrize(
    ("override", "field"),
    [
        ({"title": "  "}, "title"),
        ({"end_date": "2000-01-01"}, "end_date"),
        ({"practitioner_id": "00000000-0000-0000-0000-000000000000"}, "practitioner_id"),
        ({"patient_id": "00000000-0000-0000-0000-000000000000"}, "patient_id"),
        ({"planned_consultations": 0}, "planned_consultations"),
        ({"frequency_unit": "fortnight"}, "frequency_unit"),
        ({"goals": [{"text": ""}]}, "goals.0.text"),
        ({"start_date": "not-a-date"}, "start_date"),
    ],
)
def test_invalid_plans_are_refused_naming_the_field(
    api, owner_a, plan_payload, override, field, tenant
):
    response = api.post("treatment-plans", owner_a, json=plan_payload(**override))
    assert response.status_code == 422, response.content
    assert field in response.json()["error"]["details"]
    with tenant(owner_a.org):
        assert not TreatmentPlan.objects.exists()


def test_practitioner_must_deliver_the_plans_service(api, owner_a, plan_payload):
    other_service = factories.service(owner_a, name="Hydrotherapy")
    response = api.post(
        "treatment-plans", owner_a, json=plan_payload(service_id=str(other_service.id))
    )
    assert response.status_code == 422
    assert "does not deliver" in response.json()["error"]["details"]["service_id"][0]


def test_update_and_filters(api, owner_a, plan, world):
    patched = api.patch(
        f"treatment-plans/{plan['id']}",
        owner_a,
        json={"title": "Knee rehab (post-op)", "end_date": None},
    )
    assert patched.status_code == 200
    assert patched.json()["title"] == "Knee rehab (post-op)"
    assert patched.json()["end_date"] is None
    listed = api.get(f"treatment-plans?patient_id={world.patient.id}&status=draft", owner_a)
    assert [p["id"] for p in listed.json()["items"]] == [plan["id"]]
    assert api.get("treatment-plans?status=active", owner_a).json()["count"] == 0
    assert api.get("treatment-plans?search=rehab", owner_a).json()["count"] == 1


TRANSITIONS = [(a, b) for a in PlanStatus.values for b in PlanStatus.values if a != b]


@pytest.mark.parametrize(("current", "target"), TRANSITIONS)
def test_plan_status_machine(current, target, owner_a, plan, tenant):
    from tests.directory.factories import actor_of

    with tenant(owner_a.org, owner_a.user):
        TreatmentPlan.objects.filter(id=plan["id"]).update(status=current)
        row = TreatmentPlan.objects.get(id=plan["id"])
        if target in PLAN_TRANSITIONS[current]:
            assert (
                plan_status_set(actor=actor_of(owner_a), plan=row, status=target).status == target
            )
        else:
            with pytest.raises(Conflict) as excinfo:
                plan_status_set(actor=actor_of(owner_a), plan=row, status=target)
            assert excinfo.value.details["allowed"] == sorted(PLAN_TRANSITIONS[current])


def test_status_endpoint_and_audit(api, owner_a, plan):
    response = api.post(f"treatment-plans/{plan['id']}/status", owner_a, json={"status": "active"})
    assert response.status_code == 200 and response.json()["status"] == "active"
    refused = api.post(f"treatment-plans/{plan['id']}/status", owner_a, json={"status": "draft"})
    assert refused.status_code == 409
    assert refused.json()["error"]["details"]["allowed"] == ["cancelled", "completed", "on_hold"]
    events = api.get(
        f"audit-events?action=treatment_plan.status&object_id={plan['id']}", owner_a
    ).json()
    assert events["count"] == 1 and events["items"][0]["details"]["to"] == "active"


def test_only_drafts_are_deleted(api, owner_a, plan):
    api.post(f"treatment-plans/{plan['id']}/status", owner_a, json={"status": "active"})
    assert api.delete(f"treatment-plans/{plan['id']}", owner_a).status_code == 409
    api.post(f"treatment-plans/{plan['id']}/status", owner_a, json={"status": "cancelled"})
    assert api.get(f"treatment-plans/{plan['id']}", owner_a).json()["status"] == "cancelled"


def test_list_query_count_is_constant(api, owner_a, plan_payload):
    from tests.care.conftest import queries_of

    api.post("treatment-plans", owner_a, json=plan_payload(title="Plan 0"))
    one = queries_of(lambda: api.get("treatment-plans?page_size=50", owner_a))
    for i in range(1, 7):
        api.post("treatment-plans", owner_a, json=plan_payload(title=f"Plan {i}"))
    seven = queries_of(lambda: api.get("treatment-plans?page_size=50", owner_a))
    assert seven == one <= 12
    detail = api.post("treatment-plans", owner_a, json=plan_payload(title="D")).json()
    assert queries_of(lambda: api.get(f"treatment-plans/{detail['id']}", owner_a)) <= 11


def test_progress_counts_and_pace(api, owner_a, plan_payload, world):
    start = date.today() - timedelta(days=14)
    created = api.post("treatment-plans", owner_a, json=plan_payload(start_date=str(start))).json()
    api.post(f"treatment-plans/{created['id']}/status", owner_a, json={"status": "active"})
    progress = api.get(f"treatment-plans/{created['id']}", owner_a).json()["progress"]
    # 2 per week for two weeks: 4 expected, none held
    assert progress["expected_by_now"] == 4
    assert progress["on_track"] is False


def test_a_week_without_free_slots_offers_the_waitlist(client, owner_a, world, plan):
    """The planner finds no free slot in a week: "Add to waitlist" opens the waitlist form with
    the patient and the plan's service already chosen; a week with hours does not offer it."""
    from datetime import time

    from clinic.core.tenancy import tenant_context
    from clinic.scheduling.models import AvailabilityRule
    from tests.care.conftest import monday

    client.force_login(owner_a.user)
    week = monday(2).isoformat()
    full = client.get(f"/plans/{plan['id']}/planner/?week={week}").content.decode()
    assert 'id="planner-waitlist"' in full
    link = f"/waitlist/add/?patient={world.patient.id}&amp;service={world.service.id}"
    assert link in full
    form = client.get(link.replace("&amp;", "&")).content.decode()
    assert f'<option value="{world.service.id}" selected>' in form
    with tenant_context(owner_a.org.id):
        AvailabilityRule.objects.create(
            practitioner_id=world.practitioner.id,
            location_id=world.location.id,
            weekday=1,
            start_time=time(9),
            end_time=time(12),
        )
    free = client.get(f"/plans/{plan['id']}/planner/?week={week}").content.decode()
    assert "slot-button" in free and 'id="planner-waitlist"' not in free
