"""Holds: occupy the slot, expire, confirm atomically, release; idempotent through the key."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from django.utils import timezone

from clinic.core.tenancy import tenant_context
from tests.scheduling.conftest import MONDAY, at

pytestmark = pytest.mark.django_db


def _hold_body(clinic, start, **extra):
    body = {
        "practitioner_id": str(clinic.practitioner.id),
        "patient_id": str(clinic.patients[0].id),
        "service_id": str(clinic.consult.id),
        "start": start.isoformat(),
    }
    body.update(extra)
    return body


def _expire(clinic, hold_id):
    from clinic.scheduling.models import Appointment, Hold

    past = timezone.now() - timedelta(seconds=1)
    with tenant_context(clinic.org.id):
        Hold.objects.filter(id=hold_id).update(expires_at=past, created_at=past - timedelta(1))
        Appointment.objects.filter(hold_id=hold_id).update(hold_expires_at=past)


def test_hold_occupies_the_slot_and_confirm_books_it(api, clinic, booking):
    response = api.post(
        "holds",
        clinic.owner,
        json=_hold_body(clinic, at(MONDAY, 10)),
        headers={"HTTP_IDEMPOTENCY_KEY": "hold-1"},
    )
    assert response.status_code == 201, response.content
    hold = response.json()
    assert hold["state"] == "active" and len(hold["appointments"]) == 1
    assert hold["appointments"][0]["status"] == "held"
    expires = datetime.fromisoformat(hold["expires_at"])
    assert timedelta(seconds=290) < expires - timezone.now() <= timedelta(seconds=300)
    # someone else cannot take the slot meanwhile: 409 with retry_after
    other = api.post(
        "holds",
        clinic.owner,
        json=_hold_body(clinic, at(MONDAY, 10, 30), patient_id=str(clinic.patients[1].id)),
    )
    assert other.status_code == 409
    details = other.json()["error"]["details"]
    assert 0 < details["retry_after"] <= 301
    assert details["conflicts"][0]["held"] is True and details["alternatives"]
    booked = api.post(
        "appointments", clinic.owner, json=booking(at(MONDAY, 10), patient_id=clinic.patients[1].id)
    )
    assert booked.status_code == 409
    confirmed = api.post(f"holds/{hold['id']}/confirm", clinic.owner)
    assert confirmed.status_code == 200, confirmed.content
    body = confirmed.json()
    assert body["state"] == "confirmed"
    assert [a["status"] for a in body["appointments"]] == ["scheduled"]
    assert body["appointments"][0]["id"] == hold["appointments"][0]["id"]
    # confirming again returns the same appointments
    again = api.post(f"holds/{hold['id']}/confirm", clinic.owner)
    assert again.status_code == 200 and again.json()["appointments"] == body["appointments"]


def test_same_key_replays_and_different_body_is_refused(api, clinic):
    key = {"HTTP_IDEMPOTENCY_KEY": "hold-replay"}
    first = api.post("holds", clinic.owner, json=_hold_body(clinic, at(MONDAY, 10)), headers=key)
    assert first.status_code == 201
    replay = api.post("holds", clinic.owner, json=_hold_body(clinic, at(MONDAY, 10)), headers=key)
    assert replay.status_code == 201
    assert replay.json() == first.json()
    assert replay["Idempotent-Replayed"] == "true"
    different = api.post(
        "holds", clinic.owner, json=_hold_body(clinic, at(MONDAY, 14)), headers=key
    )
    assert different.status_code == 422
    assert different.json()["error"]["code"] == "idempotency_key_reused"
    from clinic.scheduling.models import Hold

    with tenant_context(clinic.org.id):
        assert Hold.objects.count() == 1


def test_expired_hold_blocks_nothing(api, clinic, booking):
    hold = api.post("holds", clinic.owner, json=_hold_body(clinic, at(MONDAY, 10))).json()
    _expire(clinic, hold["id"])
    # a booking that meets the expired hold clears it in its own transaction
    response = api.post(
        "appointments", clinic.owner, json=booking(at(MONDAY, 10), patient_id=clinic.patients[1].id)
    )
    assert response.status_code == 201, response.content
    from clinic.scheduling.models import Appointment, Hold

    with tenant_context(clinic.org.id):
        assert Hold.objects.get(id=hold["id"]).state == "expired"
        assert not Appointment.objects.filter(hold_id=hold["id"]).exists()
    # and the expired hold cannot be confirmed
    late = api.post(f"holds/{hold['id']}/confirm", clinic.owner)
    assert late.status_code == 409
    assert late.json()["error"]["code"] == "hold_expired"


def test_expired_hold_is_not_confirmed_and_slots_ignore_it(api, clinic):
    hold = api.post("holds", clinic.owner, json=_hold_body(clinic, at(MONDAY, 10))).json()
    url = (
        f"slots?service_id={clinic.consult.id}&practitioner_id={clinic.practitioner.id}"
        f"&start={at(MONDAY, 10).isoformat()}&end={at(MONDAY, 10, 1).isoformat()}"
    ).replace("+", "%2B")
    assert api.get(url, clinic.owner).json()["slots"] == []
    _expire(clinic, hold["id"])
    assert len(api.get(url, clinic.owner).json()["slots"]) == 1
    response = api.post(f"holds/{hold['id']}/confirm", clinic.owner)
    assert response.status_code == 409 and response.json()["error"]["code"] == "hold_expired"


def test_sweep_expires_holds_in_every_organization(api, clinic, owner_b):
    from clinic.scheduling.models import Appointment, Hold
    from clinic.scheduling.services import holds_expire_sweep
    from tests.scheduling.conftest import clinic_build

    clinic_b = clinic_build(owner_b)
    ids = []
    for c in (clinic, clinic_b):
        response = api.post("holds", c.owner, json=_hold_body(c, at(MONDAY, 10)))
        assert response.status_code == 201, response.content
        ids.append((c, response.json()["id"]))
        _expire(c, ids[-1][1])
    fresh = api.post("holds", clinic.owner, json=_hold_body(clinic, at(MONDAY, 15))).json()
    assert holds_expire_sweep(organization_id=clinic.org.id) == 1  # as the worker calls it
    assert holds_expire_sweep() >= 1
    for c, hold_id in ids:
        with tenant_context(c.org.id):
            assert Hold.objects.get(id=hold_id).state == "expired"
            assert not Appointment.objects.filter(hold_id=hold_id).exists()
    with tenant_context(clinic.org.id):
        assert Hold.objects.get(id=fresh["id"]).state == "active"


def test_release_frees_the_slot(api, clinic, booking):
    hold = api.post("holds", clinic.owner, json=_hold_body(clinic, at(MONDAY, 10))).json()
    response = api.delete(f"holds/{hold['id']}", clinic.owner)
    assert response.status_code == 200 and response.json()["state"] == "released"
    assert api.post("appointments", clinic.owner, json=booking(at(MONDAY, 10))).status_code == 201
    assert api.post(f"holds/{hold['id']}/confirm", clinic.owner).status_code == 409


def test_multi_occurrence_hold_is_all_or_nothing(api, clinic, booking):
    api.post(
        "appointments",
        clinic.owner,
        json=booking(at(MONDAY + timedelta(days=14), 10), patient_id=clinic.patients[2].id),
    )
    body = _hold_body(
        clinic,
        at(MONDAY, 10),
        occurrences=[{"start": at(MONDAY + timedelta(days=7 * i), 10).isoformat()} for i in (1, 2)],
    )
    response = api.post("holds", clinic.owner, json=body)
    assert response.status_code == 409
    assert response.json()["error"]["details"]["dates"] == [
        at(MONDAY + timedelta(days=14), 10).isoformat()
    ]
    from clinic.scheduling.models import Hold

    with tenant_context(clinic.org.id):
        assert Hold.objects.count() == 0
    body["occurrences"] = body["occurrences"][:1]
    response = api.post("holds", clinic.owner, json=body)
    assert response.status_code == 201
    hold = response.json()
    assert len(hold["appointments"]) == 2
    confirmed = api.post(f"holds/{hold['id']}/confirm", clinic.owner).json()
    assert [a["status"] for a in confirmed["appointments"]] == ["scheduled", "scheduled"]


def test_hold_in_the_past_or_with_bad_seconds_is_refused(api, clinic):
    past = api.post(
        "holds", clinic.owner, json=_hold_body(clinic, timezone.now() - timedelta(days=1))
    )
    assert past.status_code == 422 and "start" in past.json()["error"]["details"]
    bad = api.post("holds", clinic.owner, json=_hold_body(clinic, at(MONDAY, 10), hold_seconds=5))
    assert bad.status_code == 422 and "hold_seconds" in bad.json()["error"]["details"]


def test_patient_holds_and_confirms_for_themselves_only(api, clinic, persona_factory):
    from clinic.directory.models import Patient

    me = persona_factory("patient")
    with tenant_context(clinic.org.id):
        Patient.objects.filter(id=clinic.patients[0].id).update(membership_id=me.membership.id)
    mine = api.post("holds", me, json=_hold_body(clinic, at(MONDAY, 10)))
    assert mine.status_code == 201, mine.content
    assert mine.json()["appointments"][0]["notes"] is None  # staff notes are not shown
    assert api.post(f"holds/{mine.json()['id']}/confirm", me).status_code == 200
    theirs = api.post(
        "holds", me, json=_hold_body(clinic, at(MONDAY, 12), patient_id=str(clinic.patients[1].id))
    )
    assert theirs.status_code == 422 and "patient_id" in theirs.json()["error"]["details"]
    # outside availability: a patient can never override
    evening = api.post("holds", me, json=_hold_body(clinic, at(MONDAY, 19)))
    assert evening.status_code == 422
    # the patient sees only their own appointments
    api.post(
        "appointments",
        clinic.owner,
        json={
            "practitioner_id": str(clinic.other_practitioner.id),
            "patient_id": str(clinic.patients[1].id),
            "service_id": str(clinic.consult.id),
            "start": at(MONDAY, 15).isoformat(),
        },
    )
    url = (
        f"appointments?start={at(MONDAY, 0).isoformat()}&end={at(MONDAY, 23).isoformat()}"
    ).replace("+", "%2B")
    items = api.get(url, me).json()["items"]
    assert [a["patient"]["id"] for a in items] == [str(clinic.patients[0].id)]
    forbidden = api.post(
        "appointments",
        me,
        json={
            "practitioner_id": str(clinic.practitioner.id),
            "patient_id": str(clinic.patients[0].id),
            "service_id": str(clinic.consult.id),
            "start": at(MONDAY, 16).isoformat(),
        },
    )
    assert forbidden.status_code == 403


def test_scheduling_one_held_row_confirms_its_whole_hold(api, clinic):
    """The status endpoint cannot split a hold: held → scheduled on one of its rows confirms
    the hold, every slot of it, atomically."""
    body = _hold_body(
        clinic,
        at(MONDAY, 10),
        occurrences=[{"start": at(MONDAY + timedelta(days=7 * i), 10).isoformat()} for i in (1, 2)],
    )
    hold = api.post("holds", clinic.owner, json=body).json()
    rows = hold["appointments"]
    assert len(rows) >= 2 and {r["status"] for r in rows} == {"held"}
    response = api.post(
        f"appointments/{rows[-1]['id']}/status", clinic.owner, json={"status": "scheduled"}
    )
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "scheduled"
    after = api.get(f"holds/{hold['id']}", clinic.owner).json()
    assert after["state"] == "confirmed"
    assert {r["status"] for r in after["appointments"]} == {"scheduled"}
    assert len(after["appointments"]) == len(rows)
