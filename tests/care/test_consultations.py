from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from django.db import IntegrityError, transaction

from clinic.care.models import Consultation
from tests.care.conftest import at, monday


def _create(api, persona, plan, start, **extra):
    return api.post(
        f"treatment-plans/{plan['id']}/consultations",
        persona,
        json={"planned_start": start.isoformat(), **extra},
    )


def _seqs(api, persona, plan):
    items = api.get(f"treatment-plans/{plan['id']}/consultations", persona).json()["items"]
    return [(c["sequence"], c["planned_start"][:16]) for c in items]


def test_create_defaults_from_the_plan(api, owner_a, plan, world):
    response = _create(api, owner_a, plan, at(monday(), 9))
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["sequence"] == 1 and body["type"] == "initial_assessment"
    assert body["duration_minutes"] == 45  # the plan's service
    assert body["practitioner"]["id"] == str(world.practitioner.id)
    assert body["location"]["id"] == str(world.location.id)
    assert body["status"] == "planned"
    assert datetime.fromisoformat(body["planned_end"]) == at(monday(), 9, 45)
    second = _create(api, owner_a, plan, at(monday(), 14)).json()
    assert second["type"] == "treatment" and second["sequence"] == 2


def test_sequence_stays_dense_and_in_time_order(api, owner_a, plan):
    day = monday()
    late = _create(api, owner_a, plan, at(day + timedelta(days=2), 9)).json()
    _create(api, owner_a, plan, at(day, 9))
    _create(api, owner_a, plan, at(day + timedelta(days=1), 9))
    assert [s for s, _ in _seqs(api, owner_a, plan)] == [1, 2, 3]
    assert api.get(f"consultations/{late['id']}", owner_a).json()["sequence"] == 3
    # moving the last one to the front renumbers everything
    api.patch(
        f"consultations/{late['id']}",
        owner_a,
        json={"planned_start": at(day - timedelta(days=1), 9).isoformat()},
    )
    assert api.get(f"consultations/{late['id']}", owner_a).json()["sequence"] == 1
    middle = api.get(f"treatment-plans/{plan['id']}/consultations", owner_a).json()["items"][1]
    assert api.delete(f"consultations/{middle['id']}", owner_a).status_code == 204
    assert [s for s, _ in _seqs(api, owner_a, plan)] == [1, 2]


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"duration_minutes": 0}, "duration_minutes"),
        ({"type": "massage"}, "type"),
        ({"modality": "carrier_pigeon"}, "modality"),
        ({"location_id": "00000000-0000-0000-0000-000000000000"}, "location_id"),
    ],
)
def test_invalid_consultations_name_the_field(api, owner_a, plan, extra, field):
    response = _create(api, owner_a, plan, at(monday(), 9), **extra)
    assert response.status_code == 422, response.content
    assert field in response.json()["error"]["details"]


def test_planned_time_must_be_inside_the_plan_and_not_naive(api, owner_a, plan):
    outside = _create(api, owner_a, plan, at(monday(), 9) + timedelta(days=400))
    assert outside.status_code == 422
    assert "Outside the plan's dates" in outside.json()["error"]["details"]["planned_start"][0]
    naive = api.post(
        f"treatment-plans/{plan['id']}/consultations",
        owner_a,
        json={"planned_start": "2030-01-01T09:00:00"},
    )
    assert naive.status_code == 422
    assert "planned_start" in naive.json()["error"]["details"]


def test_practitioner_must_deliver_the_service(api, owner_a, plan):
    from tests.directory import factories

    outsider = factories.practitioner(owner_a, display_name="Dr Nope")
    response = _create(api, owner_a, plan, at(monday(), 9), practitioner_id=str(outsider.id))
    assert response.status_code == 422
    assert "does not deliver" in response.json()["error"]["details"]["practitioner_id"][0]


def test_no_two_consultations_of_a_plan_overlap(api, owner_a, plan, tenant):
    first = _create(api, owner_a, plan, at(monday(), 9)).json()
    clash = _create(api, owner_a, plan, at(monday(), 9, 30))
    assert clash.status_code == 422
    assert "Overlaps consultation #1" in clash.json()["error"]["details"]["planned_start"][0]
    # back-to-back is fine: [start, end) ranges
    assert _create(api, owner_a, plan, at(monday(), 9, 45)).status_code == 201
    # the database refuses it too, whatever the Python side does
    with tenant(owner_a.org), pytest.raises(IntegrityError), transaction.atomic():
        row = Consultation.objects.get(id=first["id"])
        Consultation.objects.create(
            plan_id=row.plan_id,
            sequence=99,
            practitioner_id=row.practitioner_id,
            planned_start=at(monday(), 9, 10),
            duration_minutes=20,
        )


def test_cancelled_consultations_free_their_time(api, owner_a, plan):
    first = _create(api, owner_a, plan, at(monday(), 9)).json()
    cancelled = api.post(
        f"consultations/{first['id']}/status",
        owner_a,
        json={"status": "cancelled", "reason": "patient ill"},
    )
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    assert _create(api, owner_a, plan, at(monday(), 9)).status_code == 201
    # a cancelled consultation is final and cannot be deleted
    assert (
        api.post(
            f"consultations/{first['id']}/status", owner_a, json={"status": "cancelled"}
        ).status_code
        == 409
    )
    assert api.delete(f"consultations/{first['id']}", owner_a).status_code == 409


def test_completed_and_missed_cannot_be_set_by_hand(api, owner_a, plan):
    first = _create(api, owner_a, plan, at(monday(), 9)).json()
    for status in ("completed", "missed"):
        refused = api.post(f"consultations/{first['id']}/status", owner_a, json={"status": status})
        assert refused.status_code == 409
        assert refused.json()["error"]["details"]["allowed"] == ["cancelled", "scheduled"]


def test_closed_plans_take_no_consultations(api, owner_a, plan):
    api.post(f"treatment-plans/{plan['id']}/status", owner_a, json={"status": "cancelled"})
    response = _create(api, owner_a, plan, at(monday(), 9))
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "plan_closed"


def _bulk(api, persona, plan, operations, atomic=True):
    return api.post(
        f"treatment-plans/{plan['id']}/consultations/bulk",
        persona,
        json={"operations": operations, "atomic": atomic},
    )


def test_bulk_is_all_or_nothing_by_default(api, owner_a, plan):
    day = monday()
    operations = [
        {"op": "create", "planned_start": at(day, 9).isoformat()},
        {"op": "create", "planned_start": at(day, 11).isoformat()},
        {"op": "create", "planned_start": at(day, 11, 15).isoformat()},  # overlaps the second
    ]
    response = _bulk(api, owner_a, plan, operations)
    assert response.status_code == 422
    results = response.json()["error"]["details"]["results"]
    assert [r["ok"] for r in results] == [False, False, False]
    assert [r["error"]["code"] for r in results] == [
        "not_applied",
        "not_applied",
        "validation_error",
    ]
    assert _seqs(api, owner_a, plan) == []


def test_bulk_partial_applies_what_it_can(api, owner_a, plan):
    day = monday()
    operations = [
        {"op": "create", "planned_start": at(day, 9).isoformat()},
        {"op": "create", "planned_start": at(day, 9, 15).isoformat()},
        {"op": "create", "planned_start": at(day, 10).isoformat(), "duration_minutes": 30},
        {"op": "delete", "id": "00000000-0000-0000-0000-000000000000"},
    ]
    response = _bulk(api, owner_a, plan, operations, atomic=False)
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["applied"] == 2 and body["failed"] == 2
    assert [r["ok"] for r in body["results"]] == [True, False, True, False]
    assert body["results"][3]["error"]["details"] == {"id": ["Not found."]}
    assert [s for s, _ in _seqs(api, owner_a, plan)] == [1, 2]


def test_bulk_set_status_move_and_delete(api, owner_a, plan):
    day = monday()
    a = _create(api, owner_a, plan, at(day, 9)).json()
    b = _create(api, owner_a, plan, at(day, 11)).json()
    response = _bulk(
        api,
        owner_a,
        plan,
        [
            {"op": "update", "id": a["id"], "planned_start": at(day, 15).isoformat()},
            {"op": "set_status", "id": b["id"], "status": "cancelled"},
        ],
    )
    assert response.status_code == 200, response.content
    moved = api.get(f"consultations/{a['id']}", owner_a).json()["planned_start"]
    assert datetime.fromisoformat(moved) == at(day, 15)
    assert api.get(f"consultations/{b['id']}", owner_a).json()["status"] == "cancelled"
    assert _bulk(api, owner_a, plan, [{"op": "delete", "id": a["id"]}]).status_code == 200
    assert _bulk(api, owner_a, plan, [{"op": "explode"}]).status_code == 422


def test_consultation_list_query_count(api, owner_a, plan):
    from tests.care.conftest import queries_of

    url = f"treatment-plans/{plan['id']}/consultations"
    _create(api, owner_a, plan, at(monday(), 8))
    one = queries_of(lambda: api.get(url, owner_a))
    for hour in range(9, 16):
        _create(api, owner_a, plan, at(monday(), hour))
    assert queries_of(lambda: api.get(url, owner_a)) == one <= 12
    assert api.get(url, owner_a).json()["count"] == 8
