"""Scheduling edge rules through the API: what a 409 reveals to whom, the organisation's late
cancellation window, the range filters, series exdates and the autumn DST change, rescheduling
outside availability without the override, the ICS detail setting and slots per location."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from urllib.parse import urlencode

import pytest
from django.utils import timezone
from icalendar import Calendar

from clinic.core.tenancy import tenant_context
from tests.scheduling.conftest import MONDAY, PARIS, at, clinic_build, in_days

pytestmark = pytest.mark.django_db

HIDDEN = {"id", "status", "kind"}


def _book(api, clinic, persona, start, **extra):
    body = {
        "practitioner_id": str(clinic.practitioner.id),
        "patient_id": str(clinic.patients[0].id),
        "service_id": str(clinic.consult.id),
        "start": start.isoformat(),
    }
    body.update({k: str(v) if hasattr(v, "hex") else v for k, v in extra.items()})
    return api.post("appointments", persona, json=body)


def _booked(api, clinic, start, **extra) -> dict:
    # set-up bookings by the owner may fall outside the hours (a time relative to now): said so
    extra.setdefault("override_availability", True)
    response = _book(api, clinic, clinic.owner, start, **extra)
    assert response.status_code == 201, response.content
    return response.json()


def _status(api, clinic, appointment_id, status):
    response = api.post(
        f"appointments/{appointment_id}/status", clinic.owner, json={"status": status}
    )
    assert response.status_code == 200, response.content


def _row(clinic, appointment_id):
    from clinic.scheduling.models import Appointment

    with tenant_context(clinic.org.id):
        return Appointment.objects.get(id=appointment_id)


# --- 1. conflict details hide what the caller may not see ----------------------------------


@pytest.fixture
def own_clinic(owner_a, practitioner_a):
    """The clinic whose first practitioner is practitioner_a's own record."""
    return clinic_build(owner_a, practitioner_membership=practitioner_a.membership)


def test_practitioner_409_hides_id_status_kind_of_another_practitioners_appointment(
    api, own_clinic, practitioner_a
):
    c = own_clinic
    # The other practitioner sees patient 0 at 10:00 (not visible to practitioner_a)...
    theirs = _booked(api, c, at(MONDAY, 10), practitioner_id=c.other_practitioner.id)
    _status(api, c, theirs["id"], "confirmed")
    # ... so practitioner_a cannot also see patient 0 at 10:30 on their own schedule.
    response = _book(api, c, practitioner_a, at(MONDAY, 10, 30))
    assert response.status_code == 409, response.content
    error = response.json()["error"]
    assert error["code"] == "appointment_conflict"
    (conflict,) = error["details"]["conflicts"]
    assert conflict["on"] == ["patient"]
    assert HIDDEN.isdisjoint(conflict), conflict
    assert theirs["id"] not in response.content.decode()
    assert "confirmed" not in response.content.decode()
    # the time of the clash is still given (it is the practitioner's own patient's time)
    assert datetime.fromisoformat(conflict["start"]) == at(MONDAY, 10)
    assert datetime.fromisoformat(conflict["end"]) == at(MONDAY, 11)
    assert conflict["held"] is False
    # the dry-run check says the same
    check = api.post(
        "appointments/check",
        practitioner_a,
        json={
            "practitioner_id": str(c.practitioner.id),
            "patient_id": str(c.patients[0].id),
            "service_id": str(c.consult.id),
            "start": at(MONDAY, 10, 30).isoformat(),
        },
    )
    assert check.status_code == 200, check.content
    assert check.json()["ok"] is False
    (checked,) = check.json()["conflicts"]
    assert HIDDEN.isdisjoint(checked), checked


def test_practitioner_409_shows_id_of_their_own_appointment(api, own_clinic, practitioner_a):
    c = own_clinic
    mine = _booked(api, c, at(MONDAY, 10), patient_id=c.patients[1].id)
    response = _book(api, c, practitioner_a, at(MONDAY, 10, 30))
    assert response.status_code == 409, response.content
    (conflict,) = response.json()["error"]["details"]["conflicts"]
    assert conflict["on"] == ["practitioner"]
    assert (conflict["id"], conflict["status"], conflict["kind"]) == (
        mine["id"],
        "scheduled",
        "individual",
    )


@pytest.mark.parametrize("role", ["owner", "assistant"])
def test_roles_that_view_every_appointment_see_the_conflicts_id_status_kind(
    api, own_clinic, persona_factory, role
):
    c = own_clinic
    caller = c.owner if role == "owner" else persona_factory(role)
    theirs = _booked(api, c, at(MONDAY, 10), practitioner_id=c.other_practitioner.id)
    _status(api, c, theirs["id"], "confirmed")
    response = _book(api, c, caller, at(MONDAY, 10, 30))
    assert response.status_code == 409, response.content
    (conflict,) = response.json()["error"]["details"]["conflicts"]
    assert conflict["on"] == ["patient"]
    assert (conflict["id"], conflict["status"], conflict["kind"]) == (
        theirs["id"],
        "confirmed",
        "individual",
    )


# --- 2. late cancellation follows the organisation's setting ----------------------------------


@pytest.mark.parametrize(
    ("window_hours", "late"), [(48, True), (31, True), (29, False), (24, False)]
)
def test_late_cancel_uses_the_organisations_window(api, clinic, window_hours, late):
    response = api.patch(
        "scheduling-settings", clinic.owner, json={"late_cancel_hours": window_hours}
    )
    assert response.status_code == 200, response.content
    assert response.json()["late_cancel_hours"] == window_hours
    assert api.get("scheduling-settings", clinic.owner).json()["late_cancel_hours"] == window_hours
    # 30 h ahead (rounded down to the minute: between 29 h 59 and 30 h before the cancel)
    start = (timezone.now() + timedelta(hours=30)).replace(second=0, microsecond=0)
    booked = _booked(api, clinic, start)
    response = api.delete(f"appointments/{booked['id']}?reason=flu", clinic.owner)
    assert response.status_code == 200, response.content
    (cancelled,) = response.json()
    assert cancelled["status"] == "cancelled"
    assert cancelled["late_cancel"] is late
    row = _row(clinic, booked["id"])
    assert row.late_cancel is late and row.cancel_reason == "flu"


# --- 3. range filters --------------------------------------------------------------------------


def _range(api, clinic, start, end, **filters) -> list[dict]:
    query = urlencode({"start": start.isoformat(), "end": end.isoformat(), **filters}, doseq=True)
    response = api.get(f"appointments?{query}", clinic.owner)
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["count"] == len(body["items"]) and body["truncated"] is False
    return body["items"]


def test_range_filters_room_patient_and_repeated_status_return_exactly_the_matching_rows(
    api, clinic
):
    p1, p2 = clinic.practitioner, clinic.other_practitioner
    pat0, pat1, pat2 = clinic.patients
    a1 = _booked(api, clinic, at(MONDAY, 9), room_id=clinic.room.id)
    a2 = _booked(
        api,
        clinic,
        at(MONDAY, 9),
        practitioner_id=p2.id,
        patient_id=pat1.id,
        room_id=clinic.shared_room.id,
    )
    a3 = _booked(api, clinic, at(MONDAY, 11), patient_id=pat1.id)
    a4 = _booked(
        api,
        clinic,
        at(MONDAY, 13),
        practitioner_id=p2.id,
        patient_id=pat2.id,
        room_id=clinic.room.id,
    )
    a5 = _booked(api, clinic, at(MONDAY, 15), practitioner_id=p1.id, patient_id=pat0.id)
    # outside the range, matching every filter: must never come back
    tuesday = _booked(api, clinic, at(MONDAY + timedelta(days=1), 9), room_id=clinic.room.id)
    _status(api, clinic, a2["id"], "confirmed")
    _status(api, clinic, a5["id"], "confirmed")
    _status(api, clinic, a3["id"], "cancelled")
    _status(api, clinic, tuesday["id"], "confirmed")

    start, end = at(MONDAY, 0), at(MONDAY, 23)

    def ids(**filters):
        return [a["id"] for a in _range(api, clinic, start, end, **filters)]

    assert sorted(ids()) == sorted(a["id"] for a in (a1, a2, a3, a4, a5))
    assert ids(room_id=clinic.room.id) == [a1["id"], a4["id"]]
    assert ids(room_id=clinic.shared_room.id) == [a2["id"]]
    assert ids(patient_id=pat1.id) == [a2["id"], a3["id"]]
    assert ids(patient_id=pat2.id) == [a4["id"]]
    assert ids(status=["scheduled"]) == [a1["id"], a4["id"]]
    assert ids(status=["confirmed", "cancelled"]) == [a2["id"], a3["id"], a5["id"]]
    assert ids(status=["cancelled"]) == [a3["id"]]
    assert ids(status=["completed"]) == []
    # the filters combine
    assert ids(room_id=clinic.room.id, status=["scheduled", "confirmed"]) == [a1["id"], a4["id"]]
    assert ids(patient_id=pat1.id, status=["confirmed"]) == [a2["id"]]
    items = _range(api, clinic, start, end, status=["confirmed", "cancelled"])
    assert {a["status"] for a in items} == {"confirmed", "cancelled"}


# --- 4. series: exdates and the autumn change ---------------------------------------------------


def _series(api, clinic, start, rrule, **extra):
    body = {
        "practitioner_id": str(clinic.practitioner.id),
        "patient_id": str(clinic.patients[0].id),
        "service_id": str(clinic.consult.id),
        "start": start.isoformat(),
        "rrule": rrule,
        **extra,
    }
    return api.post("appointment-series", clinic.owner, json=body)


def test_series_exdates_skip_the_given_dates(api, clinic):
    weeks = [MONDAY + timedelta(days=7 * i) for i in range(5)]
    excluded = [weeks[1], weeks[3]]
    response = _series(
        api,
        clinic,
        at(MONDAY, 10),
        "FREQ=WEEKLY;COUNT=5",
        exdates=[d.isoformat() for d in excluded],
    )
    assert response.status_code == 201, response.content
    body = response.json()
    starts = [datetime.fromisoformat(o["start"]) for o in body["occurrences"]]
    assert starts == [at(d, 10) for d in (weeks[0], weeks[2], weeks[4])]
    assert [o["recurrence_date"] for o in body["occurrences"]] == [
        str(d) for d in (weeks[0], weeks[2], weeks[4])
    ]
    assert body["series"]["exdates"] == [str(d) for d in excluded]
    assert body["skipped"] == []
    # nothing was written on the excluded dates
    from clinic.scheduling.models import Appointment

    with tenant_context(clinic.org.id):
        rows = list(Appointment.objects.filter(series_id=body["series"]["id"]))
    assert sorted(r.start_at.astimezone(PARIS).date() for r in rows) == [
        weeks[0],
        weeks[2],
        weeks[4],
    ]
    detail = api.get(f"appointment-series/{body['series']['id']}", clinic.owner).json()
    assert len(detail["occurrences"]) == 3


def test_weekly_paris_series_keeps_nine_oclock_across_the_autumn_change(api, clinic):
    # Paris leaves summer time on Sunday 2031-10-26 (03:00 CEST → 02:00 CET).
    first = date(2031, 10, 13)
    assert first.weekday() == 0
    response = _series(api, clinic, datetime.combine(first, time(9), PARIS), "FREQ=WEEKLY;COUNT=4")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["series"]["time_zone"] == "Europe/Paris"
    assert body["series"]["wall_time"] == "09:00:00"
    starts = [datetime.fromisoformat(o["start"]) for o in body["occurrences"]]
    days = [first + timedelta(days=7 * i) for i in range(4)]
    assert [s.astimezone(PARIS).date() for s in starts] == days
    assert all(s.astimezone(PARIS).time() == time(9) for s in starts)
    # the UTC instant moved by the hour the clocks went back
    assert [s.astimezone(UTC).hour for s in starts] == [7, 7, 8, 8]
    assert [s.astimezone(PARIS).utcoffset() for s in starts] == [
        timedelta(hours=2),
        timedelta(hours=2),
        timedelta(hours=1),
        timedelta(hours=1),
    ]
    assert all(
        datetime.fromisoformat(o["end"]) - datetime.fromisoformat(o["start"]) == timedelta(hours=1)
        for o in body["occurrences"]
    )
    from clinic.scheduling.models import Appointment

    with tenant_context(clinic.org.id):
        stored = [
            r.start_at
            for r in Appointment.objects.filter(series_id=body["series"]["id"]).order_by("start_at")
        ]
    assert [s.astimezone(PARIS).strftime("%a %H:%M") for s in stored] == ["Mon 09:00"] * 4


# --- 5. reschedule outside availability without the override ----------------------------------


@pytest.mark.parametrize(
    "target",
    [
        pytest.param(at(MONDAY, 19), id="evening"),
        pytest.param(at(MONDAY + timedelta(days=5), 10), id="saturday"),
        pytest.param(at(MONDAY, 17, 30), id="runs-past-closing"),
    ],
)
def test_reschedule_outside_availability_without_override_is_422_and_changes_nothing(
    api, clinic, persona_factory, target
):
    from clinic.accounts.roles import role_has

    assistant = persona_factory("assistant")
    assert role_has("assistant", "appointment.update")
    assert not role_has("assistant", "appointment.override_availability")
    booked = _booked(api, clinic, at(MONDAY, 10), room_id=clinic.room.id)
    before = _row(clinic, booked["id"])
    response = api.patch(
        f"appointments/{booked['id']}", assistant, json={"start": target.isoformat()}
    )
    assert response.status_code == 422, response.content
    error = response.json()["error"]
    assert error["code"] == "outside_availability"
    assert "start" in error["details"]
    after = _row(clinic, booked["id"])
    fields = (
        "start_at",
        "end_at",
        "occupied_start",
        "occupied_end",
        "status",
        "practitioner_id",
        "room_id",
        "location_id",
        "series_exception",
        "updated_at",
    )
    assert {f: getattr(after, f) for f in fields} == {f: getattr(before, f) for f in fields}
    detail = api.get(f"appointments/{booked['id']}", clinic.owner).json()
    assert datetime.fromisoformat(detail["start"]) == at(MONDAY, 10)
    # the owner (who holds the override) may make the same move, by saying so
    unsaid = api.patch(
        f"appointments/{booked['id']}", clinic.owner, json={"start": target.isoformat()}
    )
    assert unsaid.status_code == 422
    moved = api.patch(
        f"appointments/{booked['id']}",
        clinic.owner,
        json={"start": target.isoformat(), "override_availability": True},
    )
    assert moved.status_code == 200, moved.content
    assert datetime.fromisoformat(moved.json()[0]["start"]) == target


def test_practitioner_cannot_reschedule_their_own_appointment_outside_availability(
    api, own_clinic, practitioner_a
):
    c = own_clinic
    booked = _booked(api, c, at(MONDAY, 10))
    response = api.patch(
        f"appointments/{booked['id']}", practitioner_a, json={"start": at(MONDAY, 7).isoformat()}
    )
    assert response.status_code == 422, response.content
    assert response.json()["error"]["code"] == "outside_availability"
    assert _row(c, booked["id"]).start_at == at(MONDAY, 10)


# --- 6. ICS detail setting ----------------------------------------------------------------------


def _feed_summaries(api, client, clinic, detail) -> tuple[dict, str]:
    response = api.patch("scheduling-settings", clinic.owner, json={"ics_detail": detail})
    assert response.status_code == 200, response.content
    created = api.post(
        "ics-feeds", clinic.owner, json={"practitioner_id": str(clinic.practitioner.id)}
    )
    assert created.status_code == 201, created.content
    feed = client.get(created.json()["url"].split("testserver")[-1])
    assert feed.status_code == 200
    calendar = Calendar.from_ical(feed.content)
    return {
        str(e["UID"]): str(e["SUMMARY"]) for e in calendar.walk("VEVENT")
    }, feed.content.decode()


def test_ics_service_detail_shows_the_service_and_not_the_patient(api, client, clinic):
    patient = clinic.patients[0]
    booked = _booked(api, clinic, in_days(3, 10))
    summaries, text = _feed_summaries(api, client, clinic, "service")
    assert summaries == {f"{booked['id']}@clinic": clinic.consult.name}
    for name in (patient.given_name, patient.family_name, patient.display_name):
        assert name not in text
    # nor the initials (the default detail)
    assert f"{patient.given_name[0]}.{patient.family_name[0]}." not in text


def test_ics_service_name_detail_is_service_and_patient_name(api, client, clinic):
    """`service_name` is documented as "Service and patient name" (models.IcsDetail): the
    summary carries both, unlike `service`."""
    from clinic.scheduling.models import IcsDetail

    assert IcsDetail.SERVICE_NAME.label == "Service and patient name"
    patient = clinic.patients[0]
    booked = _booked(api, clinic, in_days(3, 10))
    summaries, _text = _feed_summaries(api, client, clinic, "service_name")
    assert summaries == {
        f"{booked['id']}@clinic": f"{clinic.consult.name} · {patient.display_name}"
    }


# --- 7. slots per location -----------------------------------------------------------------------


def test_slots_location_filter_returns_only_that_locations_slots(api, owner_a):
    from clinic.directory.models import Location
    from clinic.scheduling.models import AvailabilityRule

    c = clinic_build(owner_a, rules=False)
    tuesday = MONDAY + timedelta(days=1)
    with tenant_context(c.org.id):
        north = c.location
        south = Location.objects.create(name="South site", time_zone="Europe/Paris")
        AvailabilityRule.objects.create(
            practitioner=c.practitioner,
            location=north,
            weekday=0,
            start_time=time(9),
            end_time=time(12),
        )
        AvailabilityRule.objects.create(
            practitioner=c.practitioner,
            location=south,
            weekday=1,
            start_time=time(14),
            end_time=time(17),
        )

    def slots(**extra):
        query = urlencode(
            {
                "service_id": c.consult.id,
                "start": at(MONDAY, 0).isoformat(),
                "end": at(MONDAY + timedelta(days=2), 0).isoformat(),
                "practitioner_id": c.practitioner.id,
                "limit": 1000,
                **extra,
            }
        )
        response = api.get(f"slots?{query}", c.owner)
        assert response.status_code == 200, response.content
        return [
            (datetime.fromisoformat(s["start"]).astimezone(PARIS), s["location_id"])
            for s in response.json()["slots"]
        ]

    everywhere = slots()
    assert {loc for _s, loc in everywhere} == {str(north.id), str(south.id)}

    only_south = slots(location_id=south.id)
    assert only_south, "the south site has Tuesday slots"
    assert {loc for _s, loc in only_south} == {str(south.id)}
    assert {s.date() for s, _loc in only_south} == {tuesday}
    assert only_south[0][0].time() == time(14) and only_south[-1][0].time() == time(16)
    assert only_south == [(s, loc) for s, loc in everywhere if loc == str(south.id)]

    only_north = slots(location_id=north.id)
    assert only_north
    assert {loc for _s, loc in only_north} == {str(north.id)}
    assert {s.date() for s, _loc in only_north} == {MONDAY}
    assert only_north == [(s, loc) for s, loc in everywhere if loc == str(north.id)]
