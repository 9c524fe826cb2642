"""Consultations and their appointments stay in step, both ways, in one transaction."""

from __future__ import annotations

from datetime import datetime

import pytest

from clinic.care.models import Consultation
from clinic.scheduling.models import Appointment
from tests.care.conftest import at, monday


@pytest.fixture
def bookable(api, owner_a, world, plan):
    """Monday–Friday 08:00–18:00 availability for the plan's practitioner; the plan active."""
    for weekday in range(5):
        response = api.post(
            "availability-rules",
            owner_a,
            json={
                "practitioner_id": str(world.practitioner.id),
                "location_id": str(world.location.id),
                "weekday": weekday,
                "start_time": "08:00",
                "end_time": "18:00",
            },
        )
        assert response.status_code == 201, response.content
    api.post(f"treatment-plans/{plan['id']}/status", owner_a, json={"status": "active"})
    return plan


def _consultation(api, persona, plan, start):
    response = api.post(
        f"treatment-plans/{plan['id']}/consultations",
        persona,
        json={"planned_start": start.isoformat()},
    )
    assert response.status_code == 201, response.content
    return response.json()


def test_scheduling_books_the_appointment(api, owner_a, bookable, world):
    c = _consultation(api, owner_a, bookable, at(monday(), 9))
    response = api.post(f"consultations/{c['id']}/schedule", owner_a, json={})
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "scheduled" and body["appointment_id"]
    appointment = api.get(f"appointments/{body['appointment_id']}", owner_a).json()
    assert appointment["patient"]["id"] == str(world.patient.id)
    assert appointment["service"]["id"] == str(world.service.id)
    assert datetime.fromisoformat(appointment["start"]) == at(monday(), 9)


def test_scheduling_at_a_taken_time_is_a_409_with_alternatives(api, owner_a, bookable, world):
    from tests.directory import factories

    other_patient_appt = api.post(
        "appointments",
        owner_a,
        json={
            "practitioner_id": str(world.practitioner.id),
            "patient_id": str(factories.patient(owner_a).id),
            "service_id": str(world.service.id),
            "start": at(monday(), 9).isoformat(),
        },
    )
    assert other_patient_appt.status_code == 201, other_patient_appt.content
    c = _consultation(api, owner_a, bookable, at(monday(), 9, 15))
    refused = api.post(f"consultations/{c['id']}/schedule", owner_a, json={})
    assert refused.status_code == 409
    error = refused.json()["error"]
    assert error["details"]["conflicts"] and error["details"]["alternatives"]
    assert api.get(f"consultations/{c['id']}", owner_a).json()["status"] == "planned"


def test_appointment_status_drives_the_consultation(api, owner_a, bookable):
    c = _consultation(api, owner_a, bookable, at(monday(), 10))
    appointment_id = api.post(f"consultations/{c['id']}/schedule", owner_a, json={}).json()[
        "appointment_id"
    ]
    for status in ("confirmed", "checked_in", "in_progress", "completed"):
        response = api.post(
            f"appointments/{appointment_id}/status", owner_a, json={"status": status}
        )
        assert response.status_code == 200, (status, response.content)
    assert api.get(f"consultations/{c['id']}", owner_a).json()["status"] == "completed"
    progress = api.get(f"treatment-plans/{bookable['id']}", owner_a).json()["progress"]
    assert progress["completed"] == 1


def test_cancelling_either_side_cancels_both(api, owner_a, bookable, tenant):
    a = _consultation(api, owner_a, bookable, at(monday(), 9))
    b = _consultation(api, owner_a, bookable, at(monday(), 11))
    appt_a = api.post(f"consultations/{a['id']}/schedule", owner_a, json={}).json()[
        "appointment_id"
    ]
    appt_b = api.post(f"consultations/{b['id']}/schedule", owner_a, json={}).json()[
        "appointment_id"
    ]
    # the appointment is cancelled on the calendar → the consultation follows
    api.post(
        f"appointments/{appt_a}/status", owner_a, json={"status": "cancelled", "reason": "ill"}
    )
    assert api.get(f"consultations/{a['id']}", owner_a).json()["status"] == "cancelled"
    # the consultation is cancelled in the plan → its appointment follows
    api.post(f"consultations/{b['id']}/status", owner_a, json={"status": "cancelled"})
    with tenant(owner_a.org):
        assert Appointment.objects.get(id=appt_b).status == "cancelled"


def test_moving_the_appointment_moves_the_consultation(api, owner_a, bookable):
    c = _consultation(api, owner_a, bookable, at(monday(), 9))
    appointment_id = api.post(f"consultations/{c['id']}/schedule", owner_a, json={}).json()[
        "appointment_id"
    ]
    moved = api.patch(
        f"appointments/{appointment_id}", owner_a, json={"start": at(monday(), 14).isoformat()}
    )
    assert moved.status_code == 200, moved.content
    body = api.get(f"consultations/{c['id']}", owner_a).json()
    assert datetime.fromisoformat(body["planned_start"]) == at(monday(), 14)
    # and moving the consultation moves the appointment
    api.patch(
        f"consultations/{c['id']}", owner_a, json={"planned_start": at(monday(), 16).isoformat()}
    )
    appointment = api.get(f"appointments/{appointment_id}", owner_a).json()
    assert datetime.fromisoformat(appointment["start"]) == at(monday(), 16)


def test_a_failure_mid_way_changes_nothing(api, owner_a, bookable, tenant, monkeypatch):
    c = _consultation(api, owner_a, bookable, at(monday(), 9))
    appointment_id = api.post(f"consultations/{c['id']}/schedule", owner_a, json={}).json()[
        "appointment_id"
    ]

    def broken(**kwargs):
        raise RuntimeError("simulated crash while following the appointment")

    monkeypatch.setattr("clinic.care.handlers.consultation_follow_appointment", broken)
    response = api.post(
        f"appointments/{appointment_id}/status", owner_a, json={"status": "cancelled"}
    )
    assert response.status_code == 500
    with tenant(owner_a.org):
        assert Appointment.objects.get(id=appointment_id).status == "scheduled"
        assert Consultation.objects.get(id=c["id"]).status == "scheduled"


def test_bulk_schedule_is_all_or_nothing(api, owner_a, bookable, world, tenant):
    from tests.directory import factories

    ids = [_consultation(api, owner_a, bookable, at(monday(), h))["id"] for h in (9, 11, 13)]
    api.post(
        "appointments",
        owner_a,
        json={
            "practitioner_id": str(world.practitioner.id),
            "patient_id": str(factories.patient(owner_a).id),
            "service_id": str(world.service.id),
            "start": at(monday(), 13).isoformat(),
        },
    )
    response = api.post(
        f"treatment-plans/{bookable['id']}/consultations/bulk",
        owner_a,
        json={"operations": [{"op": "schedule", "id": i} for i in ids]},
    )
    assert response.status_code == 409
    with tenant(owner_a.org):
        assert not Consultation.objects.filter(id__in=ids, status="scheduled").exists()
        assert not Appointment.objects.filter(patient_id=world.patient.id).exists()
