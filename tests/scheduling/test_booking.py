"""Booking, rescheduling and range reads through the API."""

from __future__ import annotations

from datetime import datetime, time, timedelta

import pytest

from clinic.core.tenancy import tenant_context
from tests.scheduling.conftest import MONDAY, at

pytestmark = pytest.mark.django_db


def _rows(clinic):
    from clinic.scheduling.models import Appointment

    with tenant_context(clinic.org.id):
        return list(Appointment.objects.order_by("start_at"))


def test_book_returns_201_with_offsets_and_default_end(api, clinic, booking):
    response = api.post("appointments", clinic.owner, json=booking(at(MONDAY, 10)))
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["status"] == "scheduled"
    assert datetime.fromisoformat(body["start"]) == at(MONDAY, 10)
    assert datetime.fromisoformat(body["end"]) == at(MONDAY, 11)  # the service's 60 minutes
    assert body["location"]["id"] == str(clinic.location.id)
    assert body["allowed_transitions"] == ["cancelled", "checked_in", "confirmed", "no_show"]
    assert body["outside_availability"] is False


def test_naive_datetime_is_refused_and_nothing_written(api, clinic, booking):
    body = booking(at(MONDAY, 10))
    body["start"] = "2031-06-02T10:00:00"
    response = api.post("appointments", clinic.owner, json=body)
    assert response.status_code == 422
    assert "start" in response.json()["error"]["details"]
    assert _rows(clinic) == []


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("practitioner_id", "00000000-0000-0000-0000-000000000000"),
        ("service_id", "00000000-0000-0000-0000-000000000000"),
        ("patient_id", "00000000-0000-0000-0000-000000000000"),
    ],
)
def test_unknown_references_name_the_field(api, clinic, booking, field, value):
    body = booking(at(MONDAY, 10))
    body[field] = value
    response = api.post("appointments", clinic.owner, json=body)
    assert response.status_code == 422, response.content
    assert field in response.json()["error"]["details"]


def test_end_before_start_is_refused(api, clinic, booking):
    response = api.post(
        "appointments", clinic.owner, json=booking(at(MONDAY, 10), end=at(MONDAY, 9).isoformat())
    )
    assert response.status_code == 422
    assert "end" in response.json()["error"]["details"]


def test_overlap_on_practitioner_is_409_with_conflicts_and_alternatives(api, clinic, booking):
    first = api.post("appointments", clinic.owner, json=booking(at(MONDAY, 10))).json()
    body = booking(at(MONDAY, 10, 30), patient_id=clinic.patients[1].id)
    response = api.post("appointments", clinic.owner, json=body)
    assert response.status_code == 409, response.content
    error = response.json()["error"]
    assert error["code"] == "appointment_conflict"
    (conflict,) = error["details"]["conflicts"]
    assert conflict["id"] == first["id"] and conflict["on"] == ["practitioner"]
    alternatives = error["details"]["alternatives"]
    assert len(alternatives) == 5
    starts = [datetime.fromisoformat(a["start"]) for a in alternatives]
    assert starts == sorted(starts) and starts[0] >= at(MONDAY, 11)
    assert all(a["practitioner_id"] == str(clinic.practitioner.id) for a in alternatives)
    assert len(_rows(clinic)) == 1


def test_same_patient_cannot_be_in_two_places(api, clinic, booking):
    assert api.post("appointments", clinic.owner, json=booking(at(MONDAY, 10))).status_code == 201
    body = booking(at(MONDAY, 10), practitioner_id=clinic.other_practitioner.id)
    response = api.post("appointments", clinic.owner, json=body)
    assert response.status_code == 409
    assert response.json()["error"]["details"]["conflicts"][0]["on"] == ["patient"]


def test_exclusive_room_and_shared_room_capacity(api, clinic, booking):
    def book(practitioner, patient, room):
        return api.post(
            "appointments",
            clinic.owner,
            json=booking(
                at(MONDAY, 10),
                practitioner_id=practitioner.id,
                patient_id=patient.id,
                room_id=room.id,
            ),
        )

    p1, p2 = clinic.practitioner, clinic.other_practitioner
    assert book(p1, clinic.patients[0], clinic.room).status_code == 201
    response = book(p2, clinic.patients[1], clinic.room)
    assert response.status_code == 409
    assert response.json()["error"]["details"]["conflicts"][0]["on"] == ["room"]
    # the gym takes two at a time
    with tenant_context(clinic.org.id):
        from clinic.directory.models import Practitioner, PractitionerService

        p3 = Practitioner.objects.create(display_name="Dr Three", default_location=clinic.location)
        PractitionerService.objects.create(practitioner=p3, service=clinic.consult)
    assert book(p2, clinic.patients[1], clinic.shared_room).status_code == 201
    with tenant_context(clinic.org.id):
        from clinic.scheduling.models import AvailabilityRule

        AvailabilityRule.objects.create(
            practitioner=p3,
            location=clinic.location,
            weekday=0,
            start_time="08:00",
            end_time="18:00",
        )
    response = book(p3, clinic.patients[2], clinic.shared_room)
    assert response.status_code == 201, response.content


def test_shared_room_refuses_beyond_capacity(api, clinic, booking):
    from clinic.directory.models import Room

    with tenant_context(clinic.org.id):
        Room.objects.filter(id=clinic.shared_room.id).update(capacity=2)
    for practitioner, patient in (
        (clinic.practitioner, clinic.patients[0]),
        (clinic.other_practitioner, clinic.patients[1]),
    ):
        assert (
            api.post(
                "appointments",
                clinic.owner,
                json=booking(
                    at(MONDAY, 14),
                    practitioner_id=practitioner.id,
                    patient_id=patient.id,
                    room_id=clinic.shared_room.id,
                ),
            ).status_code
            == 201
        )
    with tenant_context(clinic.org.id):
        from clinic.directory.models import Practitioner, PractitionerService
        from clinic.scheduling.models import Appointment, AvailabilityRule

        p3 = Practitioner.objects.create(display_name="Dr Three", default_location=clinic.location)
        PractitionerService.objects.create(practitioner=p3, service=clinic.consult)
        AvailabilityRule.objects.create(
            practitioner=p3,
            location=clinic.location,
            weekday=0,
            start_time=time(8),
            end_time=time(18),
        )
        filling = {str(i) for i in Appointment.objects.values_list("id", flat=True)}
    third = booking(
        at(MONDAY, 14),
        practitioner_id=p3.id,
        patient_id=clinic.patients[2].id,
        room_id=clinic.shared_room.id,
    )
    response = api.post("appointments", clinic.owner, json=third)
    assert response.status_code == 409
    details = response.json()["error"]["details"]
    # the usual conflict answer: what fills the room, and where the practitioner is free
    assert {c["id"] for c in details["conflicts"]} == filling
    assert all(c["on"] == ["room"] for c in details["conflicts"])
    assert details["alternatives"]
    assert datetime.fromisoformat(details["alternatives"][0]["start"]) >= at(MONDAY, 15)
    # a hold into the full room is told whether waiting may help (the room is full of bookings)
    hold = api.post("holds", clinic.owner, json=third)
    assert hold.status_code == 409 and hold.json()["error"]["details"]["retry_after"] is None


def test_buffers_count_as_practitioner_time(api, clinic, booking):
    # short: 30 min with 10 min before and 5 after → occupies 09:50-10:35
    assert (
        api.post(
            "appointments", clinic.owner, json=booking(at(MONDAY, 10), service_id=clinic.short.id)
        ).status_code
        == 201
    )
    touching = api.post(
        "appointments",
        clinic.owner,
        json=booking(
            at(MONDAY, 10, 30), service_id=clinic.short.id, patient_id=clinic.patients[1].id
        ),
    )
    assert touching.status_code == 409  # needs 10:20 (buffer before) while 10:35 is busy
    later = api.post(
        "appointments",
        clinic.owner,
        json=booking(
            at(MONDAY, 10, 45), service_id=clinic.short.id, patient_id=clinic.patients[1].id
        ),
    )
    assert later.status_code == 201, later.content


def test_double_booking_allowed_for_a_practitioner_when_the_clinic_wants_it(api, clinic, booking):
    response = api.patch(
        "scheduling-settings",
        clinic.owner,
        json={"double_booking_practitioner_ids": [str(clinic.practitioner.id)]},
    )
    assert response.status_code == 200, response.content
    assert api.post("appointments", clinic.owner, json=booking(at(MONDAY, 10))).status_code == 201
    second = api.post(
        "appointments", clinic.owner, json=booking(at(MONDAY, 10), patient_id=clinic.patients[1].id)
    )
    assert second.status_code == 201, second.content
    # the other practitioner stays strict
    assert (
        api.post(
            "appointments",
            clinic.owner,
            json=booking(at(MONDAY, 12), practitioner_id=clinic.other_practitioner.id),
        ).status_code
        == 201
    )
    assert (
        api.post(
            "appointments",
            clinic.owner,
            json=booking(
                at(MONDAY, 12),
                practitioner_id=clinic.other_practitioner.id,
                patient_id=clinic.patients[1].id,
            ),
        ).status_code
        == 409
    )


def test_outside_availability_needs_the_override_permission(api, clinic, booking, persona_factory):
    assistant = persona_factory("assistant")
    evening = booking(at(MONDAY, 19))
    response = api.post("appointments", assistant, json=evening)
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "outside_availability"
    assert error["details"]["reason"] == "outside_hours" and "start" in error["details"]
    saturday = api.post("appointments", assistant, json=booking(at(MONDAY + timedelta(5), 10)))
    assert saturday.status_code == 422
    # the owner may book it only by saying so, and is told it is outside availability
    unsaid = api.post("appointments", clinic.owner, json=evening)
    assert unsaid.status_code == 422
    assert unsaid.json()["error"]["code"] == "outside_availability"
    response = api.post(
        "appointments", clinic.owner, json={**evening, "override_availability": True}
    )
    assert response.status_code == 201
    assert response.json()["outside_availability"] is True


def test_a_rule_for_one_modality_admits_only_that_modality(api, clinic, booking, persona_factory):
    """Saturday mornings are telehealth only: an in-person consult there is outside
    availability for a desk booking (as the slot search says), a telehealth one is not."""
    from decimal import Decimal

    from clinic.directory.models import PractitionerService, Service
    from clinic.scheduling.models import AvailabilityRule

    with tenant_context(clinic.org.id):
        AvailabilityRule.objects.create(
            practitioner=clinic.practitioner,
            location=clinic.location,
            weekday=5,
            start_time=time(9),
            end_time=time(12),
            modality="telehealth",
        )
        video = Service.objects.create(
            name="Video call", duration_minutes=60, price=Decimal("40.00"), modality="telehealth"
        )
        PractitionerService.objects.create(practitioner=clinic.practitioner, service=video)
    assistant = persona_factory("assistant")
    saturday = at(MONDAY + timedelta(days=5), 10)
    in_person = api.post("appointments", assistant, json=booking(saturday))
    assert in_person.status_code == 422
    assert in_person.json()["error"]["code"] == "outside_availability"
    check = api.post("appointments/check", assistant, json=booking(saturday)).json()
    assert check["availability"] == "outside_hours" and check["ok"] is False
    slots = api.get(
        f"slots?service_id={clinic.consult.id}&practitioner_id={clinic.practitioner.id}"
        f"&start={saturday.isoformat().replace('+', '%2B')}"
        f"&end={(saturday + timedelta(hours=3)).isoformat().replace('+', '%2B')}",
        assistant,
    ).json()["slots"]
    assert slots == []
    video_call = api.post("appointments", assistant, json=booking(saturday, service_id=video.id))
    assert video_call.status_code == 201, video_call.content
    assert video_call.json()["outside_availability"] is False


def test_blocked_exception_and_day_maximum(api, clinic, booking, persona_factory):
    assistant = persona_factory("assistant")
    response = api.post(
        "availability-exceptions",
        clinic.owner,
        json={
            "practitioner_id": str(clinic.practitioner.id),
            "kind": "blocked",
            "start": at(MONDAY, 12).isoformat(),
            "end": at(MONDAY, 14).isoformat(),
            "reason": "training",
        },
    )
    assert response.status_code == 201, response.content
    refused = api.post("appointments", assistant, json=booking(at(MONDAY, 13)))
    assert refused.status_code == 422
    rule = api.get(
        f"availability-rules?practitioner_id={clinic.practitioner.id}", clinic.owner
    ).json()
    monday_rule = next(r for r in rule if r["weekday"] == 0)
    assert (
        api.patch(
            f"availability-rules/{monday_rule['id']}", clinic.owner, json={"max_appointments": 1}
        ).status_code
        == 200
    )
    assert api.post("appointments", assistant, json=booking(at(MONDAY, 9))).status_code == 201
    full = api.post(
        "appointments", assistant, json=booking(at(MONDAY, 15), patient_id=clinic.patients[1].id)
    )
    assert full.status_code == 422
    assert full.json()["error"]["details"]["reason"] == "day_full"


def test_practitioner_books_only_their_own_schedule(api, owner_a, practitioner_a):
    from tests.scheduling.conftest import clinic_build

    clinic = clinic_build(owner_a, practitioner_membership=practitioner_a.membership)
    body = {
        "practitioner_id": str(clinic.practitioner.id),
        "patient_id": str(clinic.patients[0].id),
        "service_id": str(clinic.consult.id),
        "start": at(MONDAY, 10).isoformat(),
    }
    assert api.post("appointments", practitioner_a, json=body).status_code == 201
    other = {
        **body,
        "practitioner_id": str(clinic.other_practitioner.id),
        "patient_id": str(clinic.patients[1].id),
    }
    assert api.post("appointments", practitioner_a, json=other).status_code == 404
    # and sees only their own appointments
    assert api.post("appointments", owner_a, json=other).status_code == 201
    listed = api.get(
        f"appointments?start={at(MONDAY, 0).isoformat()}&end={at(MONDAY, 23).isoformat()}".replace(
            "+", "%2B"
        ),
        practitioner_a,
    ).json()
    assert [a["practitioner"]["id"] for a in listed["items"]] == [str(clinic.practitioner.id)]


def test_reschedule_is_atomic_and_checked(api, clinic, booking):
    a = api.post("appointments", clinic.owner, json=booking(at(MONDAY, 10))).json()
    b = api.post(
        "appointments", clinic.owner, json=booking(at(MONDAY, 12), patient_id=clinic.patients[1].id)
    ).json()
    # moving onto an occupied slot: 409, nothing changes
    response = api.patch(
        f"appointments/{a['id']}", clinic.owner, json={"start": at(MONDAY, 12, 30).isoformat()}
    )
    assert response.status_code == 409
    assert response.json()["error"]["details"]["conflicts"][0]["id"] == b["id"]
    # moving by an overlap with itself is fine (10:00 → 10:30)
    response = api.patch(
        f"appointments/{a['id']}", clinic.owner, json={"start": at(MONDAY, 10, 30).isoformat()}
    )
    assert response.status_code == 200, response.content
    (moved,) = response.json()
    assert datetime.fromisoformat(moved["end"]) == at(MONDAY, 11, 30)
    # resize and reassign
    response = api.patch(
        f"appointments/{a['id']}",
        clinic.owner,
        json={
            "end": at(MONDAY, 11, 45).isoformat(),
            "practitioner_id": str(clinic.other_practitioner.id),
        },
    )
    assert response.status_code == 200, response.content
    assert response.json()[0]["practitioner"]["id"] == str(clinic.other_practitioner.id)
    assert [(r.start_at, r.end_at) for r in _rows(clinic)] == [
        (at(MONDAY, 10, 30), at(MONDAY, 11, 45)),
        (at(MONDAY, 12), at(MONDAY, 13)),
    ]


def test_range_query_filters_and_constant_query_count(
    api, clinic, booking, django_assert_max_num_queries
):
    for hour in range(8, 17):
        for i, practitioner in enumerate((clinic.practitioner, clinic.other_practitioner)):
            assert (
                api.post(
                    "appointments",
                    clinic.owner,
                    json=booking(
                        at(MONDAY, hour),
                        practitioner_id=practitioner.id,
                        patient_id=clinic.patients[i].id,
                    ),
                ).status_code
                == 201
            )
    url = (
        f"appointments?start={at(MONDAY, 0).isoformat()}&end={at(MONDAY, 23).isoformat()}".replace(
            "+", "%2B"
        )
    )
    with django_assert_max_num_queries(14) as few:
        small = api.get(url + "&limit=2", clinic.owner)
    with django_assert_max_num_queries(len(few.captured_queries)) as many:
        full = api.get(url, clinic.owner)
    # the read itself is ONE query (the rest is authentication and the tenant's set-up)
    for captured in (few, many):
        reads = [
            q["sql"]
            for q in captured.captured_queries
            if "scheduling_appointment" in q["sql"] or "directory_" in q["sql"]
        ]
        assert len(reads) == 1, reads
    assert small.json()["count"] == 2 and small.json()["truncated"] is True
    assert len(small.json()["items"]) == 2
    assert full.json()["count"] == 18 and full.json()["truncated"] is False
    exact = api.get(url + "&limit=18", clinic.owner).json()
    assert exact["count"] == 18 and exact["truncated"] is False
    assert exact["items"] == full.json()["items"]
    one = api.get(url + f"&practitioner_id={clinic.other_practitioner.id}", clinic.owner).json()
    assert {a["practitioner"]["id"] for a in one["items"]} == {str(clinic.other_practitioner.id)}
    assert api.get(url.replace("end=", "x="), clinic.owner).status_code == 422


def test_range_selector_is_one_query(clinic, django_assert_num_queries):
    from clinic.scheduling import selectors

    actor = clinic.actor()
    with tenant_context(clinic.org.id), django_assert_num_queries(1):
        found = selectors.appointments_range_json(
            actor=actor, start=at(MONDAY, 0), end=at(MONDAY, 23), hide_notes=False
        )
    assert (found.items, found.count, found.truncated) == ("[]", 0, False)


@pytest.mark.parametrize("micro", [0, 5, 120000, 999999])
def test_range_instants_are_written_as_python_isoformat(micro):
    from datetime import UTC

    from django.db import connection

    from clinic.scheduling.selectors import _ts

    value = datetime(2031, 6, 2, 7, 5, 9, micro, tzinfo=UTC)
    with connection.cursor() as cur:
        cur.execute("SET LOCAL TimeZone = 'Asia/Kolkata'")  # not the session's zone
        cur.execute(f"SELECT {_ts('t')} FROM (SELECT %s::timestamptz AS t) x", [value])
        assert cur.fetchone()[0] == value.isoformat()
        cur.execute(f"SELECT {_ts('t')} FROM (SELECT NULL::timestamptz AS t) x")
        assert cur.fetchone()[0] is None


_INSTANTS = ("start", "end", "occupied_start", "occupied_end", "hold_expires_at", "cancelled_at")


def test_range_items_are_the_single_appointment_view(api, clinic, booking, persona_factory):
    """Each item of the range read (JSON built by PostgreSQL) is what the single-appointment
    endpoint answers for the same appointment, field by field, and exactly what
    `appointment_out` writes (same strings, same key order)."""
    import json

    from clinic.directory.models import Patient
    from clinic.scheduling import selectors
    from clinic.scheduling.api import appointment_out

    me = persona_factory("patient")
    with tenant_context(clinic.org.id):
        Patient.objects.filter(id=clinic.patients[0].id).update(
            preferred_name="Jo", membership_id=me.membership.id
        )
        Patient.objects.filter(id=clinic.patients[1].id).update(preferred_name="")
        Patient.objects.filter(id=clinic.patients[2].id).update(
            family_name="", given_name="Rex", species="dog"
        )

    def created(response):
        assert response.status_code == 201, response.content
        return response.json()

    created(
        api.post(
            "appointments",
            clinic.owner,
            json=booking(at(MONDAY, 9), room_id=clinic.room.id, notes='Bring "X-rays" — é'),
        )
    )
    created(
        api.post(
            "appointments",
            clinic.owner,
            json=booking(
                at(MONDAY, 11), patient_id=clinic.patients[1].id, service_id=clinic.short.id
            ),
        )
    )
    created(
        api.post(
            "appointments",
            clinic.owner,
            json={
                "practitioner_id": str(clinic.practitioner.id),
                "kind": "block",
                "start": at(MONDAY, 13).isoformat(),
                "end": at(MONDAY, 14).isoformat(),
                "notes": "lunch",
            },
        )
    )
    created(
        api.post(
            "appointment-series",
            clinic.owner,
            json={
                **booking(at(MONDAY, 15), patient_id=clinic.patients[2].id),
                "rrule": "FREQ=DAILY;COUNT=2",
            },
        )
    )
    cancelled = created(api.post("appointments", clinic.owner, json=booking(at(MONDAY, 16))))
    response = api.post(
        f"appointments/{cancelled['id']}/status",
        clinic.owner,
        json={"status": "cancelled", "reason": "ill"},
    )
    assert response.status_code == 200, response.content
    created(
        api.post(
            "holds",
            clinic.owner,
            json={
                "practitioner_id": str(clinic.other_practitioner.id),
                "patient_id": str(clinic.patients[0].id),
                "service_id": str(clinic.consult.id),
                "start": at(MONDAY, 10).isoformat(),
            },
        )
    )

    url = (
        f"appointments?start={at(MONDAY, 0).isoformat()}&end={at(MONDAY + timedelta(days=2), 0)}"
    ).replace("+", "%2B")
    for persona, expected in ((clinic.owner, 7), (me, 3)):
        response = api.get(url, persona)
        assert response.status_code == 200 and response["Content-Type"] == "application/json"
        body = response.json()
        assert body["count"] == expected and body["truncated"] is False, [
            (i["kind"], i["status"], i["start"]) for i in body["items"]
        ]
        items = body["items"]
        assert len(items) == expected
        order = [(i["start"], i["id"]) for i in items]
        assert order == sorted(order)
        actor = clinic.actor(persona)
        for item in items:
            detail = api.get(f"appointments/{item['id']}", persona)
            assert detail.status_code == 200
            detail = detail.json()
            assert list(item) == list(detail)
            for key, value in item.items():
                if key in _INSTANTS and value is not None:
                    # the endpoint writes "Z" and milliseconds; the same instant
                    got, want = datetime.fromisoformat(value), datetime.fromisoformat(detail[key])
                    assert abs(got - want) < timedelta(milliseconds=1), key
                else:
                    assert value == detail[key], key
            with tenant_context(clinic.org.id):
                one = appointment_out(selectors.appointment_for_actor(actor, item["id"]), actor)
            assert json.dumps(item) == json.dumps(one)
        if persona is me:
            assert all(i["notes"] is None for i in items)
            assert {i["patient"]["name"] for i in items} == {f"Jo {clinic.patients[0].family_name}"}
        else:
            by_kind = {}
            for i in items:
                by_kind.setdefault(i["kind"], []).append(i)
            names = {i["patient"]["name"] for i in items if i["patient"]}
            assert names == {
                f"Jo {clinic.patients[0].family_name}",
                f"Pat1 {clinic.patients[1].family_name}",
                "Rex",
            }
            (block,) = by_kind["block"]
            assert block["patient"] is None and block["service"] is None
            assert block["notes"] == "lunch" and block["allowed_transitions"]
            assert any(
                i["room"] == {"id": str(clinic.room.id), "name": clinic.room.name} for i in items
            )
            series = [i for i in items if i["series_id"]]
            assert len(series) == 2 and series[0]["recurrence_date"] == MONDAY.isoformat()
            (gone,) = [i for i in items if i["status"] == "cancelled"]
            assert gone["cancelled_at"] and gone["allowed_transitions"] == []
            (held,) = [i for i in items if i["status"] == "held"]
            assert held["hold_id"] and held["hold_expires_at"]
            assert any(i["notes"] == 'Bring "X-rays" — é' for i in items)


def test_range_longer_than_62_days_is_refused(api, clinic):
    url = (
        f"appointments?start={at(MONDAY, 0).isoformat()}&end="
        f"{at(MONDAY + timedelta(days=70), 0).isoformat()}"
    ).replace("+", "%2B")
    response = api.get(url, clinic.owner)
    assert response.status_code == 422
    assert "end" in response.json()["error"]["details"]


def test_check_endpoint_reports_without_writing(api, clinic, booking):
    api.post("appointments", clinic.owner, json=booking(at(MONDAY, 10)))
    response = api.post(
        "appointments/check",
        clinic.owner,
        json=booking(at(MONDAY, 10, 30), patient_id=clinic.patients[1].id),
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["ok"] is False and body["conflicts"][0]["on"] == ["practitioner"]
    assert len(body["alternatives"]) == 5
    assert len(_rows(clinic)) == 1


def test_availability_exception_crud(api, clinic):
    body = {
        "practitioner_id": str(clinic.practitioner.id),
        "kind": "blocked",
        "start": at(MONDAY, 12).isoformat(),
        "end": at(MONDAY, 13).isoformat(),
    }
    created = api.post("availability-exceptions", clinic.owner, json=body)
    assert created.status_code == 201, created.content
    exception_id = created.json()["id"]
    moved = api.patch(
        f"availability-exceptions/{exception_id}",
        clinic.owner,
        json={"end": at(MONDAY, 15).isoformat(), "reason": "meeting"},
    )
    assert moved.status_code == 200, moved.content
    assert moved.json()["id"] == exception_id and moved.json()["reason"] == "meeting"
    bad = api.patch(
        f"availability-exceptions/{exception_id}",
        clinic.owner,
        json={"end": at(MONDAY, 11).isoformat()},
    )
    assert bad.status_code == 422 and "end" in bad.json()["error"]["details"]
    extra = api.post("availability-exceptions", clinic.owner, json={**body, "kind": "extra"})
    assert extra.status_code == 422 and "location_id" in extra.json()["error"]["details"]
    listed = api.get(
        f"availability-exceptions?practitioner_id={clinic.practitioner.id}", clinic.owner
    ).json()
    assert [e["id"] for e in listed] == [exception_id]
    assert api.delete(f"availability-exceptions/{exception_id}", clinic.owner).status_code == 204


def test_cancel_with_notify_false_sends_the_patient_nothing_but_staff_are_told(
    api, clinic, booking
):
    """ "Tell the patient" unticked on a cancellation (the clinic phoned them): no cancellation
    message is planned for the patient; the default still plans one."""
    from clinic.directory.models import Patient
    from clinic.notifications.models import Delivery

    with tenant_context(clinic.org.id):
        Patient.objects.filter(id=clinic.patients[0].id).update(email="pat0@example.org")
    quiet = api.post("appointments", clinic.owner, json=booking(at(MONDAY, 10))).json()["id"]
    told = api.post("appointments", clinic.owner, json=booking(at(MONDAY, 14))).json()["id"]
    assert api.delete(f"appointments/{quiet}?notify=false", clinic.owner).status_code == 200
    assert api.delete(f"appointments/{told}", clinic.owner).status_code == 200

    def cancellations(appointment_id):
        with tenant_context(clinic.org.id):
            return Delivery.objects.filter(
                subject_id=appointment_id, event="appointment.cancelled"
            ).count()

    assert cancellations(quiet) == 0
    assert cancellations(told) >= 1
    statuses = {a.id.hex: a.status for a in _rows(clinic)}
    assert statuses[quiet.replace("-", "")] == statuses[told.replace("-", "")] == "cancelled"
