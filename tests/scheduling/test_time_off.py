"""Time off: requests and decisions, affected appointments, coverage suggestions (never a busy,
off or unqualified practitioner; constant queries), all-or-nothing resolve, DST-safe whole days,
and the slot search honouring approved time off and closures."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from clinic.core.tenancy import tenant_context
from tests.scheduling.conftest import MONDAY, PARIS, at, clinic_build

pytestmark = pytest.mark.django_db


def _off(api, persona, clinic, start, end, **extra):
    body = {
        "practitioner_id": str(clinic.practitioner.id),
        "start": start.isoformat(),
        "end": end.isoformat(),
        "type": "vacation",
    }
    body.update(extra)
    return api.post("time-off", persona, json=body)


def _book(api, persona, clinic, start, practitioner=None, patient=0):
    response = api.post(
        "appointments",
        persona,
        json={
            "practitioner_id": str((practitioner or clinic.practitioner).id),
            "patient_id": str(clinic.patients[patient].id),
            "service_id": str(clinic.consult.id),
            "start": start.isoformat(),
        },
    )
    assert response.status_code == 201, response.content
    return response.json()["id"]


def _slots(api, persona, clinic, day, practitioner=None, location=None):
    params = (
        f"slots?service_id={clinic.consult.id}"
        f"&start={at(day, 0).isoformat()}&end={at(day + timedelta(days=1), 0).isoformat()}"
        f"&practitioner_id={(practitioner or clinic.practitioner).id}"
    ).replace("+", "%2B")
    if location:
        params += f"&location_id={location}"
    response = api.get(params, persona)
    assert response.status_code == 200, response.content
    return response.json()["slots"]


def test_request_overlap_is_refused_naming_the_other(api, owner_a):
    clinic = clinic_build(owner_a)
    first = _off(api, owner_a, clinic, at(MONDAY, 8), at(MONDAY, 12))
    assert first.status_code == 201, first.content
    assert first.json()["status"] == "pending"
    again = _off(api, owner_a, clinic, at(MONDAY, 11), at(MONDAY, 14))
    assert again.status_code == 409
    error = again.json()["error"]
    assert error["code"] == "time_off_overlap"
    assert error["details"]["time_off"]["id"] == first.json()["id"]
    # a denied request frees its time
    assert api.post(f"time-off/{first.json()['id']}/deny", owner_a).json()["status"] == "denied"
    assert _off(api, owner_a, clinic, at(MONDAY, 11), at(MONDAY, 14)).status_code == 201


def test_practitioner_requests_own_and_cannot_decide(api, owner_a, practitioner_a):
    clinic = clinic_build(owner_a, practitioner_membership=practitioner_a.membership)
    mine = _off(api, practitioner_a, clinic, at(MONDAY, 8), at(MONDAY, 12))
    assert mine.status_code == 201, mine.content
    other = api.post(
        "time-off",
        practitioner_a,
        json={
            "practitioner_id": str(clinic.other_practitioner.id),
            "start": at(MONDAY, 8).isoformat(),
            "end": at(MONDAY, 9).isoformat(),
        },
    )
    assert other.status_code == 404
    time_off_id = mine.json()["id"]
    assert api.post(f"time-off/{time_off_id}/approve", practitioner_a).status_code == 403
    # recording one already approved is for those who decide
    early = _off(api, practitioner_a, clinic, at(MONDAY, 14), at(MONDAY, 15), status="approved")
    assert early.status_code == 403
    approved = api.post(f"time-off/{time_off_id}/approve", owner_a)
    assert approved.status_code == 200 and approved.json()["status"] == "approved"
    assert api.post(f"time-off/{time_off_id}/deny", owner_a).status_code == 409
    listed = api.get(f"time-off?status=approved&practitioner_id={clinic.practitioner.id}", owner_a)
    assert [t["id"] for t in listed.json()["items"]] == [time_off_id]
    assert listed.json()["count"] == 1
    assert api.post(f"time-off/{time_off_id}/cancel", practitioner_a).json()["status"] == (
        "cancelled"
    )


def test_approved_time_off_removes_slots_and_booking_pending_only_shows(api, owner_a):
    clinic = clinic_build(owner_a)
    day = MONDAY + timedelta(days=1)
    assert any(
        s["start"].startswith(f"{day}T09") or True for s in _slots(api, owner_a, clinic, day)
    )
    before = len(_slots(api, owner_a, clinic, day))
    created = _off(api, owner_a, clinic, at(day, 8), at(day, 13))
    time_off_id = created.json()["id"]
    # pending: slots unchanged, but the calendar shows it
    assert len(_slots(api, owner_a, clinic, day)) == before
    query = (
        f"working-time?start={at(day, 0).isoformat()}&end={at(day, 23).isoformat()}"
        f"&practitioner_id={clinic.practitioner.id}"
    ).replace("+", "%2B")
    shown = api.get(query, owner_a).json()
    assert any("pending" in b["label"] for b in shown["blocked"])
    api.post(f"time-off/{time_off_id}/approve", owner_a)
    after = _slots(api, owner_a, clinic, day)
    assert after and len(after) < before
    assert all(datetime.fromisoformat(s["start"]) >= at(day, 13) for s in after)
    windows = api.get(query, owner_a).json()["windows"]
    assert all(datetime.fromisoformat(w["start"]) >= at(day, 13) for w in windows)
    refused = api.post(
        "appointments",
        owner_a,
        json={
            "practitioner_id": str(clinic.practitioner.id),
            "patient_id": str(clinic.patients[0].id),
            "service_id": str(clinic.consult.id),
            "start": at(day, 9).isoformat(),
        },
    )
    assert refused.status_code == 422, refused.content


def test_affected_lists_appointments_and_holds_before_and_after_approval(api, owner_a):
    clinic = clinic_build(owner_a)
    booked = _book(api, owner_a, clinic, at(MONDAY, 9))
    hold = api.post(
        "holds",
        owner_a,
        json={
            "practitioner_id": str(clinic.practitioner.id),
            "patient_id": str(clinic.patients[1].id),
            "service_id": str(clinic.consult.id),
            "start": at(MONDAY, 11).isoformat(),
        },
    )
    assert hold.status_code == 201, hold.content
    _book(api, owner_a, clinic, at(MONDAY, 9), practitioner=clinic.other_practitioner, patient=2)
    time_off_id = _off(api, owner_a, clinic, at(MONDAY, 8), at(MONDAY, 18)).json()["id"]
    found = api.get(f"time-off/{time_off_id}/affected", owner_a).json()
    assert found[0]["id"] == booked and len(found) == 2
    assert found[1]["status"] == "held"
    listed = api.get("time-off", owner_a).json()["items"]
    assert listed[0]["affected_count"] == 2
    api.post(f"time-off/{time_off_id}/approve", owner_a)
    assert len(api.get(f"time-off/{time_off_id}/affected", owner_a).json()) == 2


def _third_practitioners(clinic):
    """A third practitioner who delivers the service (to be put on time off) and a fourth who
    does not; both work the same hours."""
    from clinic.directory.models import Practitioner, PractitionerService
    from clinic.scheduling.models import AvailabilityRule

    with tenant_context(clinic.org.id):
        off = Practitioner.objects.create(display_name="Dr Off", default_location=clinic.location)
        PractitionerService.objects.create(practitioner=off, service=clinic.consult)
        unqualified = Practitioner.objects.create(
            display_name="Dr Other Trade", default_location=clinic.location
        )
        for p in (off, unqualified):
            for weekday in range(5):
                AvailabilityRule.objects.create(
                    practitioner=p,
                    location=clinic.location,
                    weekday=weekday,
                    start_time=time(8),
                    end_time=time(18),
                )
    return off, unqualified


def test_coverage_never_suggests_busy_off_or_unqualified(api, owner_a):
    clinic = clinic_build(owner_a)
    off, unqualified = _third_practitioners(clinic)
    at_nine = _book(api, owner_a, clinic, at(MONDAY, 9))
    at_eleven = _book(api, owner_a, clinic, at(MONDAY, 11), patient=1)
    # the other practitioner is busy at 11
    _book(api, owner_a, clinic, at(MONDAY, 11), practitioner=clinic.other_practitioner, patient=2)
    # the third is away all day (approved)
    away = api.post(
        "time-off",
        owner_a,
        json={
            "practitioner_id": str(off.id),
            "start": at(MONDAY, 0).isoformat(),
            "end": at(MONDAY + timedelta(days=1), 0).isoformat(),
            "status": "approved",
        },
    )
    assert away.status_code == 201 and away.json()["status"] == "approved"
    time_off_id = _off(api, owner_a, clinic, at(MONDAY, 8), at(MONDAY, 18)).json()["id"]
    coverage = api.get(f"time-off/{time_off_id}/coverage", owner_a)
    assert coverage.status_code == 200, coverage.content
    by_id = {c["appointment"]["id"]: c["candidates"] for c in coverage.json()}
    assert [c["practitioner_id"] for c in by_id[at_nine]] == [str(clinic.other_practitioner.id)]
    assert by_id[at_nine][0]["reasons"]
    assert by_id[at_eleven] == []
    for candidates in by_id.values():
        ids = {c["practitioner_id"] for c in candidates}
        assert str(off.id) not in ids and str(unqualified.id) not in ids


def test_coverage_queries_are_constant(api, owner_a, django_assert_max_num_queries):
    clinic = clinic_build(owner_a)
    counts = []
    for n, day in ((2, MONDAY), (20, MONDAY + timedelta(days=7))):
        for i in range(n):
            when = at(day + timedelta(days=i // 8), 8 + i % 8)
            _book(api, owner_a, clinic, when, patient=i % 3)
        off = _off(api, owner_a, clinic, at(day, 0), at(day + timedelta(days=5), 0))
        assert off.status_code == 201, off.content
        url = f"time-off/{off.json()['id']}/coverage"
        with django_assert_max_num_queries(30) as captured:
            response = api.get(url, owner_a)
        assert response.status_code == 200
        assert len(response.json()) == n
        counts.append(len(captured.captured_queries))
    assert counts[0] == counts[1], counts


def test_resolve_rolls_back_on_one_conflicting_item(api, owner_a):
    clinic = clinic_build(owner_a)
    at_nine = _book(api, owner_a, clinic, at(MONDAY, 9))
    at_eleven = _book(api, owner_a, clinic, at(MONDAY, 11), patient=1)
    _book(api, owner_a, clinic, at(MONDAY, 11), practitioner=clinic.other_practitioner, patient=2)
    time_off_id = _off(api, owner_a, clinic, at(MONDAY, 8), at(MONDAY, 18)).json()["id"]
    api.post(f"time-off/{time_off_id}/approve", owner_a)
    other = str(clinic.other_practitioner.id)
    response = api.post(
        f"time-off/{time_off_id}/resolve",
        owner_a,
        json={
            "actions": [
                {"appointment_id": at_nine, "action": "reassign", "practitioner_id": other},
                {"appointment_id": at_eleven, "action": "reassign", "practitioner_id": other},
            ]
        },
    )
    assert response.status_code == 409, response.content
    error = response.json()["error"]
    assert error["code"] == "resolve_conflict"
    assert error["details"]["appointment_id"] == at_eleven and error["details"]["index"] == 1
    # nothing applied: the 9:00 appointment is still the first practitioner's
    first = api.get(f"appointments/{at_nine}", owner_a).json()
    assert first["practitioner"]["id"] == str(clinic.practitioner.id)
    # the valid plan applies: reassign one, cancel the other
    response = api.post(
        f"time-off/{time_off_id}/resolve",
        owner_a,
        json={
            "actions": [
                {"appointment_id": at_nine, "action": "reassign", "practitioner_id": other},
                {"appointment_id": at_eleven, "action": "cancel"},
            ]
        },
    )
    assert response.status_code == 200, response.content
    assert api.get(f"appointments/{at_nine}", owner_a).json()["practitioner"]["id"] == other
    assert api.get(f"appointments/{at_eleven}", owner_a).json()["status"] == "cancelled"
    assert api.get(f"time-off/{time_off_id}/affected", owner_a).json() == []


def test_whole_days_across_dst_keep_wall_clock_bounds(api, owner_a):
    clinic = clinic_build(owner_a)
    # Paris moves to summer time on Sunday 30 March 2031.
    response = api.post(
        "time-off",
        owner_a,
        json={
            "practitioner_id": str(clinic.practitioner.id),
            "start_date": "2031-03-28",
            "end_date": "2031-04-01",
            "type": "training",
        },
    )
    assert response.status_code == 201, response.content
    body = response.json()
    start = datetime.fromisoformat(body["start"]).astimezone(PARIS)
    end = datetime.fromisoformat(body["end"]).astimezone(PARIS)
    assert body["all_day"] is True
    assert (start.date(), start.time()) == (date(2031, 3, 28), time(0))
    assert (end.date(), end.time()) == (date(2031, 4, 2), time(0))
    assert start.utcoffset() != end.utcoffset()
    # five local days, one of them 23 hours long
    assert end.astimezone(ZoneInfo("UTC")) - start.astimezone(ZoneInfo("UTC")) == timedelta(
        days=5, hours=-1
    )


def test_closures_remove_slots_where_they_apply(api, owner_a):
    clinic = clinic_build(owner_a)
    day = MONDAY + timedelta(days=2)
    assert _slots(api, owner_a, clinic, day)
    imported = api.post(
        "closures/import",
        owner_a,
        json={
            "location_id": str(clinic.location.id),
            "dates": [{"date": day.isoformat(), "name": "Local holiday"}],
        },
    )
    assert imported.status_code == 201, imported.content
    assert len(imported.json()) == 1
    assert _slots(api, owner_a, clinic, day) == []
    # the same list again adds nothing
    again = api.post(
        "closures/import",
        owner_a,
        json={
            "location_id": str(clinic.location.id),
            "dates": [{"date": day.isoformat(), "name": "Local holiday"}],
        },
    )
    assert again.json() == []
    # a closure of another location leaves this one open
    other = clinic_build(owner_a)
    next_day = day + timedelta(days=1)
    booked = _book(api, owner_a, other, at(next_day, 10), practitioner=other.practitioner)
    closed = api.post(
        "closures",
        owner_a,
        json={"name": "Works", "location_id": str(other.location.id), "start_date": str(next_day)},
    )
    assert closed.status_code == 201, closed.content
    assert _slots(api, owner_a, clinic, next_day)
    assert _slots(api, owner_a, other, next_day) == []
    # organization-wide, hours only
    whole = api.post(
        "closures",
        owner_a,
        json={
            "name": "Staff meeting",
            "start": at(MONDAY, 8).isoformat(),
            "end": at(MONDAY, 12).isoformat(),
        },
    )
    assert whole.status_code == 201, whole.content
    left = _slots(api, owner_a, clinic, MONDAY)
    assert left and all(datetime.fromisoformat(s["start"]) >= at(MONDAY, 12) for s in left)
    closure_id = whole.json()["id"]
    assert api.get(f"closures/{closure_id}/affected", owner_a).json() == []
    # booked appointments inside a closure are counted and listed (to be moved)
    listed = api.get("closures", owner_a).json()["items"]
    counts = {c["name"]: c["affected_count"] for c in listed}
    assert counts == {"Local holiday": 0, "Works": 1, "Staff meeting": 0}
    works = closed.json()["id"]
    assert [a["id"] for a in api.get(f"closures/{works}/affected", owner_a).json()] == [booked]
    assert api.delete(f"closures/{closure_id}", owner_a).status_code == 204
    assert api.get(f"closures/{closure_id}", owner_a).status_code == 404


def test_closure_in_a_new_york_location_is_read_in_its_zone(api, owner_a):
    clinic = clinic_build(owner_a, time_zone="America/New_York")
    response = api.post(
        "closures",
        owner_a,
        json={
            "name": "Holiday",
            "location_id": str(clinic.location.id),
            "start_date": "2031-07-04",
        },
    )
    start = datetime.fromisoformat(response.json()["start"]).astimezone(
        ZoneInfo("America/New_York")
    )
    assert (start.date(), start.time()) == (date(2031, 7, 4), time(0))


def test_holds_are_refused_and_reschedule_moves_out_of_approved_time_off(
    api, owner_a, practitioner_a
):
    clinic = clinic_build(owner_a, practitioner_membership=practitioner_a.membership)
    booked = _book(api, owner_a, clinic, at(MONDAY, 9))
    created = _off(api, owner_a, clinic, at(MONDAY, 0), at(MONDAY + timedelta(days=1), 0))
    time_off_id = created.json()["id"]
    api.post(f"time-off/{time_off_id}/approve", owner_a)
    # (those who may override availability may still hold outside it, as everywhere)
    hold = api.post(
        "holds",
        practitioner_a,
        json={
            "practitioner_id": str(clinic.practitioner.id),
            "patient_id": str(clinic.patients[1].id),
            "service_id": str(clinic.consult.id),
            "start": at(MONDAY, 14).isoformat(),
        },
    )
    assert hold.status_code == 422, hold.content
    # rescheduling into the time off is refused (and nothing applied); the next day is fine
    into = api.post(
        f"time-off/{time_off_id}/resolve",
        owner_a,
        json={
            "actions": [
                {
                    "appointment_id": booked,
                    "action": "reschedule",
                    "start": at(MONDAY, 15).isoformat(),
                }
            ]
        },
    )
    assert into.status_code == 409, into.content
    tuesday = at(MONDAY + timedelta(days=1), 9)
    moved = api.post(
        f"time-off/{time_off_id}/resolve",
        owner_a,
        json={
            "actions": [
                {"appointment_id": booked, "action": "reschedule", "start": tuesday.isoformat()}
            ],
            "notify": False,
        },
    )
    assert moved.status_code == 200, moved.content
    start = api.get(f"appointments/{booked}", owner_a).json()["start"]
    assert datetime.fromisoformat(start) == tuesday


def test_a_practitioner_sees_only_their_own_time_off(api, owner_a, practitioner_a):
    clinic = clinic_build(owner_a, practitioner_membership=practitioner_a.membership)
    mine = _off(api, owner_a, clinic, at(MONDAY, 8), at(MONDAY, 9)).json()["id"]
    theirs = api.post(
        "time-off",
        owner_a,
        json={
            "practitioner_id": str(clinic.other_practitioner.id),
            "start": at(MONDAY, 8).isoformat(),
            "end": at(MONDAY, 9).isoformat(),
        },
    ).json()["id"]
    assert [t["id"] for t in api.get("time-off", practitioner_a).json()["items"]] == [mine]
    assert api.get(f"time-off/{theirs}", practitioner_a).status_code == 404
    assert api.post(f"time-off/{theirs}/cancel", practitioner_a).status_code == 404


def test_practitioner_is_told_in_app_of_the_decision_in_their_language(
    api, owner_a, practitioner_a
):
    """Approve and deny each give the requesting practitioner one in-app notice (their
    language, the period in the location's wall time, the decision note); their own
    withdrawal tells nobody."""
    from clinic.notifications.models import Notification

    practitioner_a.user.preferred_locale = "fr"
    practitioner_a.user.save(update_fields=["preferred_locale"])
    clinic = clinic_build(owner_a, practitioner_membership=practitioner_a.membership)

    def notices():
        with tenant_context(clinic.org.id):
            return list(
                Notification.objects.filter(
                    user_id=practitioner_a.user.id, event="staff.time_off_decided"
                ).order_by("created_at", "id")
            )

    morning = _off(api, practitioner_a, clinic, at(MONDAY, 8), at(MONDAY, 12)).json()["id"]
    afternoon = _off(api, practitioner_a, clinic, at(MONDAY, 14), at(MONDAY, 17)).json()["id"]
    later = _off(
        api,
        practitioner_a,
        clinic,
        at(MONDAY + timedelta(days=1), 8),
        at(MONDAY + timedelta(days=1), 12),
    )
    assert notices() == []
    assert api.post(f"time-off/{morning}/approve", owner_a).status_code == 200
    (approved,) = notices()
    assert "Absence approuvée" in approved.title
    assert "12:00" in approved.title  # Paris wall time, not UTC (10:00)
    assert approved.link.endswith("/time-off/")
    denied = api.post(f"time-off/{afternoon}/deny", owner_a, json={"note": "Équipe réduite"})
    assert denied.status_code == 200, denied.content
    _approved, second = notices()
    assert "refusée" in second.title and "17:00" in second.title
    assert "Équipe réduite" in second.body
    # a request withdrawn by the practitioner: nobody to tell
    assert later.status_code == 201, later.content
    cancelled = api.post(f"time-off/{later.json()['id']}/cancel", practitioner_a)
    assert cancelled.json()["status"] == "cancelled"
    assert len(notices()) == 2


def test_without_a_login_whoever_filed_is_told_but_never_of_their_own_decision(api, owner_a):
    from clinic.notifications.models import Notification
    from tests.conftest import persona_create

    clinic = clinic_build(owner_a)
    assert clinic.practitioner.membership_id is None
    admin = persona_create(owner_a.org, "admin")
    by_admin = _off(api, admin, clinic, at(MONDAY, 8), at(MONDAY, 12)).json()["id"]
    by_owner = _off(api, owner_a, clinic, at(MONDAY, 14), at(MONDAY, 17)).json()["id"]
    assert api.post(f"time-off/{by_admin}/approve", owner_a).status_code == 200
    assert api.post(f"time-off/{by_owner}/deny", owner_a).status_code == 200
    with tenant_context(clinic.org.id):
        told = list(
            Notification.objects.filter(event="staff.time_off_decided").values_list(
                "user_id", flat=True
            )
        )
    assert told == [admin.user.id]
