"""ICS feeds (parsed back with a real iCalendar parser) and the scheduling pages."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from icalendar import Calendar

from clinic.core.tenancy import tenant_context
from tests.scheduling.conftest import at, in_days

pytestmark = pytest.mark.django_db


def _book(api, clinic, start, **extra):
    body = {
        "practitioner_id": str(clinic.practitioner.id),
        "patient_id": str(clinic.patients[0].id),
        "service_id": str(clinic.consult.id),
        "start": start.isoformat(),
        **extra,
    }
    response = api.post("appointments", clinic.owner, json=body)
    assert response.status_code == 201, response.content
    return response.json()


def test_feed_serves_the_practitioners_appointments_with_initials_only(api, client, clinic):
    a = _book(api, clinic, in_days(3, 10))
    b = _book(api, clinic, in_days(3, 14), patient_id=str(clinic.patients[1].id))
    api.post(f"appointments/{b['id']}/status", clinic.owner, json={"status": "cancelled"})
    _book(
        api,
        clinic,
        in_days(3, 10),
        practitioner_id=str(clinic.other_practitioner.id),
        patient_id=str(clinic.patients[2].id),
    )
    created = api.post(
        "ics-feeds",
        clinic.owner,
        json={"practitioner_id": str(clinic.practitioner.id), "name": "phone"},
    )
    assert created.status_code == 201, created.content
    url = created.json()["url"]
    assert created.json()["token"] in url and url.endswith(".ics")
    response = client.get(url.split("testserver")[-1])
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/calendar")
    calendar = Calendar.from_ical(response.content)
    events = {str(e["UID"]): e for e in calendar.walk("VEVENT")}
    assert set(events) == {f"{a['id']}@clinic", f"{b['id']}@clinic"}
    event = events[f"{a['id']}@clinic"]
    patient = clinic.patients[0]
    assert str(event["SUMMARY"]) == f"{clinic.consult.name} · P.{patient.family_name[0]}."
    assert patient.family_name not in response.content.decode()
    assert event.decoded("DTSTART") == in_days(3, 10)
    assert event.decoded("DTEND") == in_days(3, 11)
    # written in the location's wall time with its zone, which the file carries
    text = response.content.decode()
    assert f"DTSTART;TZID=Europe/Paris:{in_days(3, 10):%Y%m%dT%H%M%S}" in text
    assert "BEGIN:VTIMEZONE" in text and "TZID:Europe/Paris" in text
    assert str(events[f"{b['id']}@clinic"]["STATUS"]) == "CANCELLED"
    # busy-only detail hides even the service
    api.patch("scheduling-settings", clinic.owner, json={"ics_detail": "busy"})
    calendar = Calendar.from_ical(client.get(url.split("testserver")[-1]).content)
    assert {str(e["SUMMARY"]) for e in calendar.walk("VEVENT")} == {"Busy"}
    # revoked: gone
    assert api.delete(f"ics-feeds/{created.json()['id']}", clinic.owner).status_code == 200
    assert client.get(url.split("testserver")[-1]).status_code == 404
    assert client.get("/ics/ics_not-a-token.ics").status_code == 404


def test_practitioner_manages_only_their_own_feed(api, owner_a, practitioner_a):
    from tests.scheduling.conftest import clinic_build

    clinic = clinic_build(owner_a, practitioner_membership=practitioner_a.membership)
    mine = api.post(
        "ics-feeds", practitioner_a, json={"practitioner_id": str(clinic.practitioner.id)}
    )
    assert mine.status_code == 201
    theirs = api.post(
        "ics-feeds", practitioner_a, json={"practitioner_id": str(clinic.other_practitioner.id)}
    )
    assert theirs.status_code == 404


def test_calendar_page_renders_with_constant_queries(
    client, clinic, api, django_assert_max_num_queries
):
    client.force_login(clinic.owner.user)
    with django_assert_max_num_queries(30) as few:
        response = client.get("/calendar/")
    assert response.status_code == 200
    html = response.content.decode()
    assert 'id="calendar"' in html and "event-calendar.min.js" in html
    assert clinic.practitioner.display_name in html
    from tests.scheduling.conftest import clinic_build

    clinic_build(clinic.owner)  # more practitioners, services, rooms
    with django_assert_max_num_queries(len(few.captured_queries)):
        assert client.get("/calendar/").status_code == 200


def test_calendar_navigation_is_permission_gated(client, clinic, persona_factory):
    patient = persona_factory("patient")
    client.force_login(patient.user)
    assert client.get("/calendar/").status_code == 403
    assert 'href="/calendar/"' not in client.get("/").content.decode()
    client.force_login(clinic.owner.user)
    assert 'href="/calendar/"' in client.get("/").content.decode()


def test_patient_picker_searches(client, clinic):
    client.force_login(clinic.owner.user)
    response = client.get(f"/calendar/patients/?q={clinic.patients[1].family_name}")
    assert response.status_code == 200
    assert str(clinic.patients[1].id) in {p["id"] for p in response.json()["items"]}


def test_weekly_availability_editor(client, clinic):
    from clinic.scheduling.models import AvailabilityRule

    client.force_login(clinic.owner.user)
    url = f"/availability/{clinic.practitioner.id}/"
    page = client.get(url)
    assert page.status_code == 200 and 'name="d0_0_start"' in page.content.decode()
    data = {
        "location_id": str(clinic.location.id),
        "d1_0_start": "09:00",
        "d1_0_end": "12:00",
        "d1_1_start": "13:00",
        "d1_1_end": "17:30",
        "d3_0_start": "10:00",
        "d3_0_end": "16:00",
    }
    response = client.post(url, data)
    assert response.status_code == 200, response.content
    with tenant_context(clinic.org.id):
        rules = sorted(
            (r.weekday, str(r.start_time), str(r.end_time))
            for r in AvailabilityRule.objects.filter(practitioner=clinic.practitioner)
        )
    assert rules == [
        (1, "09:00:00", "12:00:00"),
        (1, "13:00:00", "17:30:00"),
        (3, "10:00:00", "16:00:00"),
    ]
    bad = client.post(
        url, {"location_id": str(clinic.location.id), "d2_0_start": "15:00", "d2_0_end": "09:00"}
    )
    assert bad.status_code == 422
    assert 'id="d2_0_error"' in bad.content.decode()
    with tenant_context(clinic.org.id):
        assert AvailabilityRule.objects.filter(practitioner=clinic.practitioner).count() == 3


def test_weekly_editor_keeps_what_it_does_not_show(client, clinic):
    """Saving the week replaces only plain periods: rules with a modality or a daily maximum are
    listed apart and survive, and a day with three periods shows (and keeps) all three."""
    from datetime import time as t

    from clinic.scheduling.models import AvailabilityRule

    with tenant_context(clinic.org.id):
        AvailabilityRule.objects.filter(practitioner=clinic.practitioner).delete()
        base = dict(practitioner=clinic.practitioner, location=clinic.location)
        for start, end in ((t(8), t(10)), (t(11), t(13)), (t(14), t(16))):
            AvailabilityRule.objects.create(**base, weekday=0, start_time=start, end_time=end)
        AvailabilityRule.objects.create(
            **base, weekday=2, start_time=t(9), end_time=t(12), modality="telehealth"
        )
        AvailabilityRule.objects.create(
            **base, weekday=4, start_time=t(9), end_time=t(17), max_appointments=3
        )
    client.force_login(clinic.owner.user)
    url = f"/availability/{clinic.practitioner.id}/"
    page = client.get(url).content.decode()
    assert 'name="spans" value="4"' in page and 'value="14:00"' in page
    assert 'name="d0_2_start"' in page and 'name="d0_3_start"' in page
    # the form as the page shows it, saved unchanged
    form = {"location_id": str(clinic.location.id), "spans": "4"}
    for i, (start, end) in enumerate((("08:00", "10:00"), ("11:00", "13:00"), ("14:00", "16:00"))):
        form[f"d0_{i}_start"], form[f"d0_{i}_end"] = start, end
    assert client.post(url, form).status_code == 200
    with tenant_context(clinic.org.id):
        kept = sorted(
            (r.weekday, str(r.start_time), r.modality, r.max_appointments)
            for r in AvailabilityRule.objects.filter(practitioner=clinic.practitioner)
        )
    assert kept == [
        (0, "08:00:00", "", None),
        (0, "11:00:00", "", None),
        (0, "14:00:00", "", None),
        (2, "09:00:00", "telehealth", None),
        (4, "09:00:00", "", 3),
    ]
    overlapping = dict(form, d0_3_start="15:00", d0_3_end="17:00")
    refused = client.post(url, overlapping)
    assert refused.status_code == 422 and 'id="d0_3_error"' in refused.content.decode()


def test_availability_exception_from_the_page(client, clinic):
    from clinic.scheduling.models import AvailabilityException

    client.force_login(clinic.owner.user)
    day = (timezone.now() + timedelta(days=10)).date()
    response = client.post(
        f"/availability/{clinic.practitioner.id}/exceptions/",
        {
            "kind": "blocked",
            "date": day.isoformat(),
            "start_time": "",
            "end_time": "",
            "location_id": str(clinic.location.id),
            "reason": "holiday",
        },
    )
    assert response.status_code == 302
    with tenant_context(clinic.org.id):
        exception = AvailabilityException.objects.get()
    assert exception.start_at == at(day, 0) and exception.end_at == at(day + timedelta(1), 0)


def test_copy_hours_from_the_weekly_page(client, clinic):
    """The page's copy form: Monday onto Tuesday and Thursday, then the week onto a colleague;
    a clash is told in words on the page and nothing is copied."""
    from datetime import time as t

    from clinic.scheduling.models import AvailabilityRule

    with tenant_context(clinic.org.id):
        AvailabilityRule.objects.all().delete()
        AvailabilityRule.objects.create(
            practitioner=clinic.practitioner,
            location=clinic.location,
            weekday=0,
            start_time=t(9),
            end_time=t(12),
        )
    client.force_login(clinic.owner.user)
    url = f"/availability/{clinic.practitioner.id}/"
    page = client.get(url).content.decode()
    assert 'id="copy-form"' in page and clinic.other_practitioner.display_name in page
    copy = f"/availability/{clinic.practitioner.id}/copy/"
    location = str(clinic.location.id)
    done = client.post(
        copy, {"location_id": location, "from_weekday": "0", "to_weekdays": ["1", "3"]}
    )
    assert done.status_code == 302
    assert "2 periods of hours copied." in client.get(done["Location"]).content.decode()
    client.post(
        copy,
        {"location_id": location, "to_practitioner_ids": [str(clinic.other_practitioner.id)]},
    )

    def days(practitioner):
        with tenant_context(clinic.org.id):
            return sorted(
                AvailabilityRule.objects.filter(practitioner=practitioner).values_list(
                    "weekday", flat=True
                )
            )

    assert days(clinic.practitioner) == days(clinic.other_practitioner) == [0, 1, 3]
    # Monday onto Tuesday again: it overlaps, nothing is copied, the reason is on the page
    again = client.post(
        copy,
        {"location_id": location, "from_weekday": "0", "to_weekdays": ["1", "2"]},
        follow=True,
    )
    assert "overlap" in again.content.decode()
    assert days(clinic.practitioner) == [0, 1, 3]
