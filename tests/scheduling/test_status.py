"""The status machine: every (from, to) pair of the table, through the API."""

from __future__ import annotations

import itertools
from datetime import timedelta

import pytest
from django.utils import timezone

from clinic.core.tenancy import tenant_context
from clinic.scheduling.models import AppointmentStatus
from clinic.scheduling.status import TRANSITIONS, allowed_from
from tests.scheduling.conftest import MONDAY, at

pytestmark = pytest.mark.django_db

ALL = [s.value for s in AppointmentStatus]
EXPECTED = {
    "held": {"scheduled"},
    "scheduled": {"confirmed", "checked_in", "cancelled", "no_show"},
    "confirmed": {"checked_in", "cancelled", "no_show"},
    "checked_in": {"in_progress", "no_show"},
    "in_progress": {"completed"},
    "completed": set(),
    "cancelled": set(),
    "no_show": set(),
}


def test_table_is_the_documented_machine():
    assert {k: set(v) for k, v in TRANSITIONS.items()} == EXPECTED


def _appointment_in(clinic, status, start):
    from clinic.scheduling.models import Appointment, Hold

    with tenant_context(clinic.org.id):
        hold = None
        extra = {}
        if status == "held":
            hold = Hold.objects.create(expires_at=timezone.now() + timedelta(minutes=5))
            extra = {"hold": hold, "hold_expires_at": hold.expires_at}
        if status == "cancelled":
            extra["cancelled_at"] = timezone.now()
        return Appointment.objects.create(
            practitioner=clinic.practitioner,
            patient=clinic.patients[0],
            service=clinic.consult,
            location=clinic.location,
            start_at=start,
            end_at=start + timedelta(hours=1),
            occupied_start=start,
            occupied_end=start + timedelta(hours=1),
            status=status,
            **extra,
        )


@pytest.mark.parametrize(("current", "target"), list(itertools.product(ALL, ALL)))
def test_every_transition(api, clinic, current, target):
    # started an hour ago, so no-show is possible when the table allows it
    start = timezone.now().replace(microsecond=0) - timedelta(hours=1)
    if current == "held":
        start = timezone.now() + timedelta(hours=2)
    appointment = _appointment_in(clinic, current, start)
    response = api.post(
        f"appointments/{appointment.id}/status",
        clinic.owner,
        json={"status": target, "reason": "test"},
    )
    if target in EXPECTED[current] and not (target == "no_show" and start > timezone.now()):
        assert response.status_code == 200, response.content
        assert response.json()["status"] == target
        assert response.json()["allowed_transitions"] == allowed_from(target)
    else:
        assert response.status_code == 409, (current, target, response.content)
        error = response.json()["error"]
        assert error["code"] == "invalid_transition"
        assert error["details"]["allowed"] == sorted(EXPECTED[current])


def test_no_show_only_after_start(api, clinic):
    appointment = _appointment_in(clinic, "scheduled", at(MONDAY, 10))
    response = api.post(
        f"appointments/{appointment.id}/status", clinic.owner, json={"status": "no_show"}
    )
    assert response.status_code == 409
    assert "no_show" not in response.json()["error"]["details"]["allowed"]


def test_cancellation_keeps_who_when_why_and_lateness(api, clinic, booking):
    soon = (timezone.now() + timedelta(hours=3)).replace(second=0, microsecond=0)
    later = at(MONDAY, 10)
    # 3 h from now may fall outside the hours: the owner says so
    a = api.post(
        "appointments", clinic.owner, json={**booking(soon), "override_availability": True}
    ).json()
    b = api.post("appointments", clinic.owner, json=booking(later)).json()
    for appointment_id in (a["id"], b["id"]):
        response = api.post(
            f"appointments/{appointment_id}/status",
            clinic.owner,
            json={"status": "cancelled", "reason": "flu"},
        )
        assert response.status_code == 200, response.content
    from clinic.audit.models import AuditEvent
    from clinic.scheduling.models import Appointment

    with tenant_context(clinic.org.id):
        rows = {str(r.id): r for r in Appointment.objects.all()}
        assert rows[a["id"]].late_cancel is True  # within the 24 h window
        assert rows[b["id"]].late_cancel is False
        assert rows[a["id"]].cancel_reason == "flu"
        assert rows[a["id"]].cancelled_by_id == clinic.owner.membership.id
        events = AuditEvent.objects.filter(action="appointment.status", object_id=a["id"])
        assert events.get().details["to"] == "cancelled"
        # the trigger audited the row change too, with before/after
        change = AuditEvent.objects.filter(action="update", object_id=a["id"]).latest("occurred_at")
        assert change.before["status"] == "scheduled" and change.after["status"] == "cancelled"
    # a cancelled appointment frees its slot
    assert api.post("appointments", clinic.owner, json=booking(later)).status_code == 201


def test_missing_or_unknown_status_is_422(api, clinic, booking):
    a = api.post("appointments", clinic.owner, json=booking(at(MONDAY, 10))).json()
    assert api.post(f"appointments/{a['id']}/status", clinic.owner, json={}).status_code == 422
    response = api.post(f"appointments/{a['id']}/status", clinic.owner, json={"status": "gone"})
    assert response.status_code == 422 and "status" in response.json()["error"]["details"]


def test_finished_appointments_cannot_be_moved(api, clinic):
    appointment = _appointment_in(clinic, "completed", at(MONDAY, 10))
    response = api.patch(
        f"appointments/{appointment.id}", clinic.owner, json={"start": at(MONDAY, 12).isoformat()}
    )
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "appointment_not_movable"
