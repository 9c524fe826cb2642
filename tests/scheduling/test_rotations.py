"""Availability rules every N weeks (rotations) and the API's refusal of overlapping rules of one
practitioner at one location."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.scheduling.conftest import MONDAY, at, clinic_build

pytestmark = pytest.mark.django_db


def _rule(clinic, start="08:00", end="12:00", **extra):
    body = {
        "practitioner_id": str(clinic.practitioner.id),
        "location_id": str(clinic.location.id),
        "weekday": 0,
        "start_time": start,
        "end_time": end,
    }
    body.update(extra)
    return body


def _monday_slots(api, persona, clinic, day):
    url = (
        f"slots?service_id={clinic.consult.id}&practitioner_id={clinic.practitioner.id}"
        f"&start={at(day, 0).isoformat()}&end={at(day, 23).isoformat()}"
    ).replace("+", "%2B")
    response = api.get(url, persona)
    assert response.status_code == 200, response.content
    return response.json()["slots"]


def test_rule_every_two_weeks_gives_slots_every_other_week(api, owner_a):
    clinic = clinic_build(owner_a, rules=False)
    created = api.post(
        "availability-rules",
        owner_a,
        json=_rule(clinic, interval_weeks=2, anchor_date=str(MONDAY + timedelta(days=2))),
    )
    assert created.status_code == 201, created.content
    assert created.json()["interval_weeks"] == 2
    assert _monday_slots(api, owner_a, clinic, MONDAY)
    assert _monday_slots(api, owner_a, clinic, MONDAY + timedelta(days=7)) == []
    assert _monday_slots(api, owner_a, clinic, MONDAY + timedelta(days=14))


def test_overlapping_rules_are_refused_in_words(api, owner_a):
    clinic = clinic_build(owner_a, rules=False)
    assert api.post("availability-rules", owner_a, json=_rule(clinic)).status_code == 201
    refused = api.post("availability-rules", owner_a, json=_rule(clinic, "11:00", "14:00"))
    assert refused.status_code == 409, refused.content
    error = refused.json()["error"]
    assert error["code"] == "rule_overlap" and "08:00" in error["message"]
    # touching hours, another weekday, or another location are fine
    assert (
        api.post("availability-rules", owner_a, json=_rule(clinic, "12:00", "14:00")).status_code
        == 201
    )
    assert api.post("availability-rules", owner_a, json=_rule(clinic, weekday=1)).status_code == 201
    # dated rules that do not meet are fine; ones that meet are not
    later = _rule(clinic, "15:00", "17:00", effective_to=str(MONDAY))
    assert api.post("availability-rules", owner_a, json=later).status_code == 201
    after = _rule(clinic, "16:00", "18:00", effective_from=str(MONDAY + timedelta(days=1)))
    assert api.post("availability-rules", owner_a, json=after).status_code == 201
    meets = _rule(clinic, "16:00", "18:00", effective_from=str(MONDAY))
    assert api.post("availability-rules", owner_a, json=meets).status_code == 409


def test_alternating_rotations_do_not_overlap(api, owner_a):
    clinic = clinic_build(owner_a, rules=False)
    week_a = _rule(clinic, interval_weeks=2, anchor_date=str(MONDAY))
    week_b = _rule(clinic, interval_weeks=2, anchor_date=str(MONDAY + timedelta(days=7)))
    assert api.post("availability-rules", owner_a, json=week_a).status_code == 201
    assert api.post("availability-rules", owner_a, json=week_b).status_code == 201
    same = _rule(clinic, interval_weeks=4, anchor_date=str(MONDAY + timedelta(days=14)))
    assert api.post("availability-rules", owner_a, json=same).status_code == 409


def _rules_of(api, persona, practitioner):
    rules = api.get(f"availability-rules?practitioner_id={practitioner.id}", persona).json()
    return sorted(
        (r["weekday"], r["start_time"], r["end_time"], r["interval_weeks"]) for r in rules
    )


def test_copy_a_day_to_other_days_and_a_week_to_another_practitioner(api, owner_a):
    clinic = clinic_build(owner_a, rules=False)
    for body in (
        _rule(clinic, "08:00", "12:00"),
        _rule(clinic, "13:00", "17:00", interval_weeks=2, anchor_date=str(MONDAY)),
        _rule(clinic, "09:00", "11:00", weekday=4),
    ):
        assert api.post("availability-rules", owner_a, json=body).status_code == 201
    days = api.post(
        "availability-rules/copy",
        owner_a,
        json={
            "practitioner_id": str(clinic.practitioner.id),
            "from_weekday": 0,
            "to_weekdays": [1, 2],
        },
    )
    assert days.status_code == 201, days.content
    assert len(days.json()) == 4  # two rules × two days, the rotation kept
    assert _rules_of(api, owner_a, clinic.practitioner) == [
        (0, "08:00:00", "12:00:00", 1),
        (0, "13:00:00", "17:00:00", 2),
        (1, "08:00:00", "12:00:00", 1),
        (1, "13:00:00", "17:00:00", 2),
        (2, "08:00:00", "12:00:00", 1),
        (2, "13:00:00", "17:00:00", 2),
        (4, "09:00:00", "11:00:00", 1),
    ]
    week = api.post(
        "availability-rules/copy",
        owner_a,
        json={
            "practitioner_id": str(clinic.practitioner.id),
            "to_practitioner_ids": [str(clinic.other_practitioner.id)],
        },
    )
    assert week.status_code == 201, week.content
    assert _rules_of(api, owner_a, clinic.other_practitioner) == _rules_of(
        api, owner_a, clinic.practitioner
    )
    # the copied hours give the other practitioner slots
    url = (
        f"slots?service_id={clinic.consult.id}&practitioner_id={clinic.other_practitioner.id}"
        f"&start={at(MONDAY + timedelta(days=4), 0).isoformat()}"
        f"&end={at(MONDAY + timedelta(days=4), 23).isoformat()}"
    ).replace("+", "%2B")
    assert api.get(url, owner_a).json()["slots"]


def test_copy_is_all_or_nothing_and_refuses_what_means_nothing(api, owner_a):
    clinic = clinic_build(owner_a, rules=False)
    assert api.post("availability-rules", owner_a, json=_rule(clinic)).status_code == 201
    # Wednesday already has hours that clash with Monday's morning
    assert (
        api.post("availability-rules", owner_a, json=_rule(clinic, "10:00", "11:00", weekday=2))
    ).status_code == 201
    before = _rules_of(api, owner_a, clinic.practitioner)
    clash = api.post(
        "availability-rules/copy",
        owner_a,
        json={
            "practitioner_id": str(clinic.practitioner.id),
            "from_weekday": 0,
            "to_weekdays": [1, 2],
        },
    )
    assert clash.status_code == 409, clash.content
    error = clash.json()["error"]
    assert error["code"] == "rule_overlap" and "10:00" in error["message"]
    assert error["details"]["practitioner_id"] == str(clinic.practitioner.id)
    assert _rules_of(api, owner_a, clinic.practitioner) == before  # Tuesday not copied either
    pid = str(clinic.practitioner.id)
    for body, field in (
        ({"practitioner_id": pid}, "to_weekdays"),
        ({"practitioner_id": pid, "to_weekdays": [1]}, "from_weekday"),
        ({"practitioner_id": pid, "from_weekday": 0, "to_weekdays": [0]}, "to_weekdays"),
        ({"practitioner_id": pid, "to_practitioner_ids": [pid]}, "to_practitioner_ids"),
        ({"practitioner_id": pid, "from_weekday": 5, "to_weekdays": [6]}, "from_weekday"),
    ):
        refused = api.post("availability-rules/copy", owner_a, json=body)
        assert refused.status_code == 422, (body, refused.content)
        assert field in refused.json()["error"]["details"], refused.content
    assert _rules_of(api, owner_a, clinic.practitioner) == before


def test_a_practitioner_cannot_copy_onto_a_colleague(api, owner_a, practitioner_a):
    clinic = clinic_build(owner_a, rules=False, practitioner_membership=practitioner_a.membership)
    assert api.post("availability-rules", owner_a, json=_rule(clinic)).status_code == 201
    refused = api.post(
        "availability-rules/copy",
        practitioner_a,
        json={
            "practitioner_id": str(clinic.practitioner.id),
            "to_practitioner_ids": [str(clinic.other_practitioner.id)],
        },
    )
    assert refused.status_code in (403, 404), refused.content
    assert _rules_of(api, owner_a, clinic.other_practitioner) == []
