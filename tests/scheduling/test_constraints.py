"""The database is the guarantee: raw SQL against the exclusion and CHECK constraints, with no
Python validation in the way."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from django.db import IntegrityError, connection, transaction

from clinic.core.tenancy import tenant_context

pytestmark = pytest.mark.django_db

T0 = datetime(2031, 6, 2, 8, tzinfo=UTC)

INSERT = """
INSERT INTO scheduling_appointment (
  id, organization_id, kind, status, practitioner_id, patient_id, service_id, location_id,
  room_id, modality, start_at, end_at, buffer_before_minutes, buffer_after_minutes,
  occupied_start, occupied_end, allows_overlap, room_exclusive, notes, created_at, updated_at,
  cancel_reason, late_cancel, series_exception, hold_id, hold_expires_at, cancelled_at)
VALUES (%(id)s, %(org)s, %(kind)s, %(status)s, %(practitioner)s, %(patient)s, %(service)s,
  %(location)s, %(room)s, 'in_person', %(start)s, %(end)s, 0, 0, %(occ_start)s, %(occ_end)s,
  %(overlap)s, %(exclusive)s, '', now(), now(), '', false, false, NULL, NULL, %(cancelled_at)s)
"""


@pytest.fixture
def insert(clinic):
    def run(
        start_min,
        end_min,
        *,
        practitioner=None,
        patient=0,
        room=None,
        status="scheduled",
        kind="individual",
        buffer_before=0,
        buffer_after=0,
        overlap=False,
    ):
        start = T0 + timedelta(minutes=start_min)
        end = T0 + timedelta(minutes=end_min)
        params = {
            "id": uuid.uuid4(),
            "org": clinic.org.id,
            "kind": kind,
            "status": status,
            "practitioner": (practitioner or clinic.practitioner).id,
            "patient": clinic.patients[patient].id if patient is not None else None,
            "service": clinic.consult.id,
            "location": clinic.location.id,
            "room": room.id if room else None,
            "start": start,
            "end": end,
            "occ_start": start - timedelta(minutes=buffer_before),
            "occ_end": end + timedelta(minutes=buffer_after),
            "overlap": overlap,
            "exclusive": bool(room and room.capacity == 1),
            "cancelled_at": datetime.now(UTC) if status == "cancelled" else None,
        }
        with tenant_context(clinic.org.id), transaction.atomic(), connection.cursor() as cur:
            cur.execute(INSERT, params)

    return run


def _refused(fn, *args, constraint: str, **kwargs):
    with pytest.raises(IntegrityError) as excinfo:
        fn(*args, **kwargs)
    assert constraint in str(excinfo.value)


def test_practitioner_overlap_refused_and_touching_allowed(insert, clinic):
    insert(0, 60)
    _refused(insert, 30, 90, patient=1, constraint="appointment_no_practitioner_overlap")
    insert(60, 120, patient=1)  # [start, end): touching is fine


def test_buffers_are_occupied_time(insert, clinic):
    insert(0, 30, buffer_after=15)
    _refused(insert, 40, 70, patient=1, constraint="appointment_no_practitioner_overlap")
    insert(45, 75, patient=1)
    _refused(
        insert,
        90,
        120,
        patient=2,
        buffer_before=20,
        constraint="appointment_no_practitioner_overlap",
    )


def test_room_and_patient_overlap_refused(insert, clinic):
    insert(0, 60, room=clinic.room)
    _refused(
        insert,
        30,
        90,
        practitioner=clinic.other_practitioner,
        patient=1,
        room=clinic.room,
        constraint="appointment_no_room_overlap",
    )
    _refused(
        insert,
        30,
        90,
        practitioner=clinic.other_practitioner,
        patient=0,
        constraint="appointment_no_patient_overlap",
    )
    # a room with capacity > 1 is not in the constraint (capacity is checked under a lock)
    insert(0, 60, practitioner=clinic.other_practitioner, patient=1, room=clinic.shared_room)


def test_cancelled_and_no_show_free_the_slot_and_double_booking_flag(insert, clinic):
    insert(0, 60, status="cancelled")
    insert(0, 60, status="no_show", patient=1)
    insert(0, 60, patient=2)
    insert(0, 60, patient=1, overlap=True)  # the practitioner may be double booked


def test_group_sessions_do_not_lock_the_patient(insert, clinic):
    insert(0, 60, kind="group")
    insert(0, 60, kind="group", practitioner=clinic.other_practitioner)


@pytest.mark.parametrize(
    ("start", "end", "constraint"),
    [
        (60, 0, "appointment_end_after_start"),
        (0, 60 * 25, "appointment_at_most_24h"),
    ],
)
def test_check_constraints(insert, start, end, constraint):
    _refused(insert, start, end, constraint=constraint)


def test_patient_required_for_individual_and_status_checked(insert):
    _refused(insert, 0, 60, patient=None, constraint="appointment_patient_required")
    _refused(insert, 0, 60, status="lost", constraint="appointment_status_valid")
    _refused(insert, 0, 60, status="held", constraint="appointment_hold_expiry")


def test_other_clinics_rows_cannot_be_referenced(clinic, owner_b):
    from tests.scheduling.conftest import clinic_build

    other = clinic_build(owner_b)
    with pytest.raises(Exception) as excinfo:
        with tenant_context(clinic.org.id), transaction.atomic(), connection.cursor() as cur:
            cur.execute(
                INSERT,
                {
                    "id": uuid.uuid4(),
                    "org": clinic.org.id,
                    "kind": "individual",
                    "status": "scheduled",
                    "practitioner": other.practitioner.id,
                    "patient": clinic.patients[0].id,
                    "service": clinic.consult.id,
                    "location": clinic.location.id,
                    "room": None,
                    "start": T0,
                    "end": T0 + timedelta(hours=1),
                    "occ_start": T0,
                    "occ_end": T0 + timedelta(hours=1),
                    "overlap": False,
                    "exclusive": False,
                    "cancelled_at": None,
                },
            )
            cur.execute("SET CONSTRAINTS ALL IMMEDIATE")
    assert "same_org" in str(excinfo.value) or "foreign key" in str(excinfo.value).lower()
