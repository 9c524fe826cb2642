"""The calendar's safety rules as service rules: no booking or moving into the past, and no
going outside working hours, unless the member may override AND says so; "tell the patient"
on a move; blocking time over booked appointments lists them and saves nothing until confirmed;
the working-time feed that shades the calendar (two queries whatever the size)."""

from __future__ import annotations

from datetime import datetime, timedelta
from urllib.parse import urlencode

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from clinic.core.errors import ValidationFailed
from clinic.core.tenancy import tenant_context
from tests.scheduling.conftest import MONDAY, PARIS, at

NOON = at(MONDAY, 12)


def _book(api, clinic, start, persona=None, **extra):
    body = {
        "practitioner_id": str(clinic.practitioner.id),
        "patient_id": str(clinic.patients[0].id),
        "service_id": str(clinic.consult.id),
        "start": start.isoformat(),
        **extra,
    }
    response = api.post("appointments", persona or clinic.owner, json=body)
    return response


def _start_of(clinic, appointment_id):
    from clinic.scheduling.models import Appointment

    with tenant_context(clinic.org.id):
        return Appointment.objects.get(id=appointment_id).start_at


# --- the past, at the service level ------------------------------------------------------------


def test_moving_into_the_past_is_a_service_rule(clinic, clock):
    from clinic.scheduling import services
    from clinic.scheduling.models import Appointment

    clock.travel(at(MONDAY, 8))
    with tenant_context(clinic.org.id, clinic.owner.user.id):
        actor = clinic.actor()
        booked = services.appointment_book(
            actor=actor,
            practitioner_id=clinic.practitioner.id,
            patient_id=clinic.patients[0].id,
            service_id=clinic.consult.id,
            start=at(MONDAY, 15),
        )
    clock.travel(NOON)
    with tenant_context(clinic.org.id, clinic.owner.user.id):
        actor = clinic.actor()
        appointment = Appointment.objects.get(id=booked.id)
        # the owner may override, but did not choose to: refused, nothing moved
        with pytest.raises(ValidationFailed) as refused:
            services.appointment_reschedule(
                actor=actor, appointment=appointment, start=at(MONDAY, 9), override=False
            )
        assert refused.value.code == "in_the_past"
        assert "start" in refused.value.details
        assert Appointment.objects.get(id=booked.id).start_at == at(MONDAY, 15)
        # a few minutes ago still counts as now (a walk-in at the top of the hour)
        (moved,) = services.appointment_reschedule(
            actor=actor, appointment=appointment, start=NOON - timedelta(minutes=5), override=False
        )
        assert moved.start_at == NOON - timedelta(minutes=5)
        # chosen explicitly by someone who may: moved
        appointment = Appointment.objects.get(id=booked.id)
        (moved,) = services.appointment_reschedule(
            actor=actor, appointment=appointment, start=at(MONDAY, 9), override=True
        )
        assert moved.start_at == at(MONDAY, 9)
        # booking in the past likewise
        with pytest.raises(ValidationFailed) as refused:
            services.appointment_book(
                actor=actor,
                practitioner_id=clinic.practitioner.id,
                patient_id=clinic.patients[1].id,
                service_id=clinic.consult.id,
                start=at(MONDAY, 10),
                override=False,
            )
        assert refused.value.code == "in_the_past"


# (API tests run at the real date: API tokens do not survive a clock jump of years)
def _yesterday():
    return (datetime.now(PARIS) - timedelta(days=1)).replace(microsecond=0)


def test_past_and_outside_hours_need_the_permission_and_the_choice(api, clinic):
    booked = _book(api, clinic, at(MONDAY, 15)).json()
    path = f"appointments/{booked['id']}"
    past = {"start": _yesterday().isoformat()}
    # the owner may override: refused when saying no, moved when choosing it
    response = api.patch(path, clinic.owner, json={**past, "override_availability": False})
    assert response.status_code == 422, response.content
    assert response.json()["error"]["code"] == "in_the_past"
    assert response.json()["error"]["message"] == "That time is in the past."
    assert _start_of(clinic, booked["id"]) == at(MONDAY, 15)
    evening = {"start": at(MONDAY, 19).isoformat(), "override_availability": False}
    response = api.patch(path, clinic.owner, json=evening)
    assert response.status_code == 422, response.content
    assert response.json()["error"]["code"] == "outside_availability"
    response = api.patch(path, clinic.owner, json={**evening, "override_availability": True})
    assert response.status_code == 200, response.content
    assert _start_of(clinic, booked["id"]) == at(MONDAY, 19)


def test_an_assistant_cannot_override_even_when_asking(api, clinic, persona_factory):
    assistant = persona_factory("assistant")
    booked = _book(api, clinic, at(MONDAY, 15)).json()
    response = api.patch(
        f"appointments/{booked['id']}",
        assistant,
        json={"start": at(MONDAY, 19).isoformat(), "override_availability": True},
    )
    assert response.status_code == 422, response.content
    assert response.json()["error"]["code"] == "override_not_allowed"
    response = api.patch(
        f"appointments/{booked['id']}", assistant, json={"start": _yesterday().isoformat()}
    )
    assert response.status_code == 422, response.content
    assert response.json()["error"]["code"] == "in_the_past"
    assert _start_of(clinic, booked["id"]) == at(MONDAY, 15)


def test_an_unknown_service_for_the_practitioner_is_refused_in_words(api, clinic):
    from clinic.directory.models import PractitionerService

    booked = _book(api, clinic, at(MONDAY, 10)).json()
    with tenant_context(clinic.org.id):
        PractitionerService.objects.filter(
            practitioner=clinic.other_practitioner, service=clinic.consult
        ).delete()
    response = api.patch(
        f"appointments/{booked['id']}",
        clinic.owner,
        json={"practitioner_id": str(clinic.other_practitioner.id)},
    )
    assert response.status_code == 422
    name = clinic.other_practitioner.display_name
    assert response.json()["error"]["message"] == f"{name} does not offer this service."


# --- tell the patient ------------------------------------------------------------------------


def test_a_move_without_telling_the_patient_plans_no_moved_message(api, clinic):
    from clinic.notifications.models import Delivery

    with tenant_context(clinic.org.id):
        patient = clinic.patients[0]
        patient.email = "pat@example.org"
        patient.save()
    booked = _book(api, clinic, at(MONDAY, 10)).json()
    quiet = api.patch(
        f"appointments/{booked['id']}",
        clinic.owner,
        json={"start": at(MONDAY, 11).isoformat(), "notify": False},
    )
    assert quiet.status_code == 200, quiet.content
    with tenant_context(clinic.org.id):
        events = set(
            Delivery.objects.filter(subject_id=booked["id"], status="queued").values_list(
                "event", flat=True
            )
        )
    assert "appointment.rescheduled" not in events
    assert "appointment.reminder" in events  # the reminders follow the new time all the same
    told = api.patch(
        f"appointments/{booked['id']}", clinic.owner, json={"start": at(MONDAY, 14).isoformat()}
    )
    assert told.status_code == 200, told.content
    with tenant_context(clinic.org.id):
        assert Delivery.objects.filter(
            subject_id=booked["id"], event="appointment.rescheduled", status="queued"
        ).exists()


# --- blocking time over booked appointments --------------------------------------------------


def test_blocking_over_appointments_lists_them_and_saves_nothing_until_confirmed(api, clinic):
    from clinic.scheduling import services
    from clinic.scheduling.models import AvailabilityException

    booked = _book(api, clinic, at(MONDAY, 10)).json()
    with tenant_context(clinic.org.id, clinic.owner.user.id):
        actor = clinic.actor()
        values = dict(
            actor=actor,
            practitioner_id=clinic.practitioner.id,
            kind="blocked",
            start=at(MONDAY, 9),
            end=at(MONDAY, 12),
            reason="Training",
        )
        with pytest.raises(Exception) as refused:
            services.availability_exception_create(**values)
        assert refused.value.code == "blocks_appointments"
        listed = refused.value.details["appointments"]
        assert [a["id"] for a in listed] == [booked["id"]]
        assert listed[0]["patient"] == clinic.patients[0].display_name
        assert not AvailabilityException.objects.exists()
        # the other practitioner's time, or time with nothing booked: saved at once
        services.availability_exception_create(
            **{**values, "start": at(MONDAY, 14), "end": at(MONDAY, 15)}
        )
        services.availability_exception_create(**values, block_anyway=True)
        assert AvailabilityException.objects.count() == 2


def test_blocking_over_appointments_through_the_page(client, api, clinic):
    from clinic.scheduling.models import AvailabilityException

    _book(api, clinic, at(MONDAY, 10))
    client.force_login(clinic.owner.user)
    url = f"/availability/{clinic.practitioner.id}/exceptions/"
    form = {
        "kind": "blocked",
        "date": MONDAY.isoformat(),
        "start_time": "09:00",
        "end_time": "12:00",
        "location_id": str(clinic.location.id),
        "reason": "Training",
    }
    first = client.post(url, form, HTTP_HOST="localhost")
    assert first.status_code == 409
    page = first.content.decode()
    assert "Block anyway" in page
    assert clinic.patients[0].display_name in page
    with tenant_context(clinic.org.id):
        assert not AvailabilityException.objects.exists()
    second = client.post(url, {**form, "block_anyway": "1"}, HTTP_HOST="localhost")
    assert second.status_code == 302
    with tenant_context(clinic.org.id):
        assert AvailabilityException.objects.count() == 1


# --- working time for the calendar -----------------------------------------------------------


def test_working_time_windows_and_blocked_time(api, clinic):
    from clinic.scheduling import services

    with tenant_context(clinic.org.id, clinic.owner.user.id):
        services.availability_exception_create(
            actor=clinic.actor(),
            practitioner_id=clinic.practitioner.id,
            kind="blocked",
            start=at(MONDAY, 12),
            end=at(MONDAY, 13),
            reason="Lunch meeting",
        )
    query = urlencode(
        {
            "start": at(MONDAY, 0).isoformat(),
            "end": at(MONDAY + timedelta(days=7), 0).isoformat(),
            "practitioner_id": clinic.practitioner.id,
        }
    )
    response = api.get(f"working-time?{query}", clinic.owner)
    assert response.status_code == 200, response.content
    body = response.json()
    monday = [
        (
            datetime.fromisoformat(w["start"]).astimezone(PARIS).strftime("%a %H:%M"),
            datetime.fromisoformat(w["end"]).astimezone(PARIS).strftime("%H:%M"),
        )
        for w in body["windows"]
    ]
    assert monday[:2] == [("Mon 08:00", "12:00"), ("Mon 13:00", "18:00")]
    assert len(monday) == 6  # Monday in two parts, Tuesday to Friday whole
    (blocked,) = body["blocked"]
    assert blocked["practitioner_id"] == str(clinic.practitioner.id)
    assert blocked["label"] == "Lunch meeting"
    assert datetime.fromisoformat(blocked["start"]) == at(MONDAY, 12)
    assert datetime.fromisoformat(blocked["end"]) == at(MONDAY, 13)


@pytest.mark.parametrize("practitioners", [1, 2])
def test_working_time_reads_in_two_queries(clinic, practitioners):
    from clinic.scheduling import selectors

    ids = [clinic.practitioner.id, clinic.other_practitioner.id][:practitioners]
    with tenant_context(clinic.org.id, clinic.owner.user.id):
        actor = clinic.actor()
        with CaptureQueriesContext(connection) as queries:
            found = selectors.availability_windows(
                actor,
                practitioner_ids=ids,
                start=at(MONDAY, 0),
                end=at(MONDAY + timedelta(days=28), 0),
            )
    assert len(found.windows) == 20 * practitioners
    assert len(queries) <= 2


# --- the hour that does not exist (spring forward) ------------------------------------------------


def test_a_time_in_the_spring_forward_gap_is_refused_in_words(api, owner_a):
    """On 9 March 2031 New York's clocks jump from 02:00 to 03:00: 02:30 written with either of
    the zone's offsets is refused (book, check and move), never taken as another hour; the same
    instant written in UTC, and 03:00 local, are ordinary times."""
    from tests.scheduling.conftest import clinic_build

    clinic = clinic_build(owner_a, time_zone="America/New_York")  # 2031: in the future
    for written in ("2031-03-09T02:30:00-05:00", "2031-03-09T02:30:00-04:00"):
        for path in ("appointments", "appointments/check"):
            refused = api.post(
                path,
                clinic.owner,
                json={
                    "practitioner_id": str(clinic.practitioner.id),
                    "patient_id": str(clinic.patients[0].id),
                    "service_id": str(clinic.consult.id),
                    "start": written,
                    "override_availability": True,
                },
            )
            assert refused.status_code == 422, (path, written, refused.content)
            error = refused.json()["error"]
            assert error["code"] == "time_does_not_exist"
            assert "02:30 does not exist on 9 Mar 2031 in America/New_York" in error["message"]
            assert error["details"]["start"] == [error["message"]]
    # the same instant in UTC is 03:30 local: an ordinary time (a Sunday: hence the override)
    booked = _book(
        api, clinic, datetime.fromisoformat("2031-03-09T07:30:00+00:00"), override_availability=True
    )
    assert booked.status_code == 201, booked.content
    moved = api.patch(
        f"appointments/{booked.json()['id']}",
        clinic.owner,
        json={"start": "2031-03-09T02:15:00-05:00", "override_availability": True},
    )
    assert moved.status_code == 422, moved.content
    assert moved.json()["error"]["code"] == "time_does_not_exist"
    assert _start_of(clinic, booked.json()["id"]) == datetime.fromisoformat("2031-03-09T07:30Z")
    moved = api.patch(
        f"appointments/{booked.json()['id']}",
        clinic.owner,
        json={"start": "2031-03-09T03:00:00-04:00", "override_availability": True},
    )
    assert moved.status_code == 200, moved.content
    assert _start_of(clinic, booked.json()["id"]) == datetime.fromisoformat("2031-03-09T07:00Z")
