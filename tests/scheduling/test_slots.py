"""Slot search: against a brute-force reference on random data (hypothesis), through the API with
buffers/holds/exceptions, and with a constant number of queries."""

from __future__ import annotations

import random
import uuid
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clinic.core.tenancy import tenant_context
from clinic.scheduling import slots as slotmath
from clinic.scheduling.recurrence import wall_to_instant
from tests.scheduling.conftest import MONDAY, at

ZONES = [ZoneInfo("Europe/Paris"), ZoneInfo("America/New_York"), ZoneInfo("Asia/Kolkata")]
BASE = date(2030, 3, 25)  # the week of Paris's spring change (and NY's summer time)


def reference(
    *,
    rules,
    exceptions,
    busy,
    range_start,
    range_end,
    duration,
    before,
    after,
    granularity,
    not_before,
):
    """Minute-by-minute brute force, written from the definition, not from slots.py."""
    found = set()
    windows = []
    for r in rules:
        day = range_start.astimezone(r.tz).date() - timedelta(days=2)
        while day <= range_end.astimezone(r.tz).date() + timedelta(days=2):
            if (
                day.weekday() == r.weekday
                and (not r.effective_from or day >= r.effective_from)
                and (not r.effective_to or day <= r.effective_to)
            ):
                ws = wall_to_instant(day, r.start_time, r.tz)
                we = wall_to_instant(day, r.end_time, r.tz)
                if we > ws:
                    windows.append((r.practitioner_id, ws, we, day, r.tz, r.max_appointments))
            day += timedelta(days=1)
    for e in exceptions:
        if e.kind == "extra":
            windows.append(
                (e.practitioner_id, e.start, e.end, e.start.astimezone(e.tz).date(), e.tz, None)
            )
    for practitioner_id, ws, we, day, tz, maximum in windows:
        if maximum is not None:
            taken = sum(
                1
                for b in busy
                if b.practitioner_id == practitioner_id
                and b.counts_for_day is not None
                and b.counts_for_day.astimezone(tz).date() == day
            )
            if taken >= maximum:
                continue
        s = ws
        while s < we:
            occ_start, occ_end = s - before, s + duration + after
            ok = (
                range_start <= s < range_end
                and s >= not_before
                and ws <= occ_start
                and occ_end <= we
            )
            ok = ok and not any(
                e.practitioner_id == practitioner_id
                and e.kind == "blocked"
                and e.start < occ_end
                and occ_start < e.end
                for e in exceptions
            )
            ok = ok and not any(
                b.practitioner_id == practitioner_id and b.start < occ_end and occ_start < b.end
                for b in busy
            )
            if ok:
                found.add((practitioner_id, s))
            s += granularity
    return found


@st.composite
def scenario(draw):
    practitioners = [uuid.UUID(int=i + 1) for i in range(draw(st.integers(1, 3)))]
    location = uuid.UUID(int=99)
    tz = draw(st.sampled_from(ZONES))
    rules = []
    for p in practitioners:
        for _ in range(draw(st.integers(0, 4))):
            start_q = draw(st.integers(0, 90))  # quarter hours
            length_q = draw(st.integers(1, 40))
            end_q = min(start_q + length_q, 95)
            if end_q <= start_q:
                continue
            effective_from = draw(st.none() | st.just(BASE + timedelta(days=2)))
            rules.append(
                slotmath.RuleRow(
                    p,
                    location,
                    tz,
                    draw(st.integers(0, 6)),
                    time(start_q // 4, start_q % 4 * 15),
                    time(end_q // 4, end_q % 4 * 15),
                    effective_from,
                    None,
                    draw(st.none() | st.integers(1, 3)),
                )
            )
    origin = wall_to_instant(BASE, time(0), tz)

    def instant(minutes):
        return origin + timedelta(minutes=minutes)

    exceptions = []
    for p in practitioners:
        for _ in range(draw(st.integers(0, 3))):
            s = draw(st.integers(0, 7 * 1440)) // 5 * 5
            length = draw(st.integers(5, 600)) // 5 * 5
            kind = draw(st.sampled_from(["blocked", "extra"]))
            exceptions.append(
                slotmath.ExceptionRow(p, kind, instant(s), instant(s + length), location, tz)
            )
    busy = []
    for p in practitioners:
        for _ in range(draw(st.integers(0, 12))):
            s = draw(st.integers(0, 7 * 1440)) // 5 * 5
            length = draw(st.integers(5, 240)) // 5 * 5
            busy.append(
                slotmath.BusyRow(
                    p,
                    instant(s),
                    instant(s + length),
                    instant(s + 5) if draw(st.booleans()) else None,
                )
            )
    range_start = instant(draw(st.integers(0, 3 * 1440)) // 15 * 15)
    range_end = range_start + timedelta(minutes=draw(st.integers(60, 5 * 1440)))
    return dict(
        rules=rules,
        exceptions=exceptions,
        busy=busy,
        range_start=range_start,
        range_end=range_end,
        duration=timedelta(minutes=draw(st.sampled_from([15, 30, 45, 60]))),
        before=timedelta(minutes=draw(st.sampled_from([0, 5, 10]))),
        after=timedelta(minutes=draw(st.sampled_from([0, 5, 15]))),
        granularity=timedelta(minutes=draw(st.sampled_from([5, 15, 30]))),
        not_before=range_start + timedelta(minutes=draw(st.sampled_from([0, 0, 90]))),
    )


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenario())
def test_slots_match_the_brute_force_reference(case):
    windows = slotmath.windows_build(
        case["rules"],
        case["exceptions"],
        case["range_start"] - case["before"],
        case["range_end"] + case["duration"] + case["after"],
    )
    computed = slotmath.slots_compute(
        windows=windows,
        busy=case["busy"],
        range_start=case["range_start"],
        range_end=case["range_end"],
        duration=case["duration"],
        before=case["before"],
        after=case["after"],
        granularity=case["granularity"],
        not_before=case["not_before"],
    )
    expected = reference(**case)
    assert {(s.practitioner_id, s.start) for s in computed} == expected
    assert [s.start for s in computed] == sorted(s.start for s in computed)
    # with a limit: the first `limit` of the same ordering (start, then practitioner)
    limit = max(1, len(expected) // 3)
    limited = slotmath.slots_compute(
        windows=windows,
        busy=case["busy"],
        range_start=case["range_start"],
        range_end=case["range_end"],
        duration=case["duration"],
        before=case["before"],
        after=case["after"],
        granularity=case["granularity"],
        not_before=case["not_before"],
        limit=limit,
    )
    ordered = sorted(expected, key=lambda ps: (ps[1], str(ps[0])))[:limit]
    assert [(s.practitioner_id, s.start) for s in limited] == ordered


# --- through the database and the API --------------------------------------------------------


def _url(clinic, start, end, **extra):
    params = {
        "service_id": clinic.consult.id,
        "start": start.isoformat(),
        "end": end.isoformat(),
        **extra,
    }
    query = "&".join(f"{k}={v}" for k, v in params.items() if not isinstance(v, list))
    for k, values in params.items():
        if isinstance(values, list):
            query += "".join(f"&{k}={v}" for v in values)
    return "slots?" + query.replace("+", "%2B")


@pytest.mark.django_db
def test_slots_respect_appointments_buffers_blocks_and_granularity(api, clinic, booking):
    api.post("appointments", clinic.owner, json=booking(at(MONDAY, 10)))
    api.post(
        "availability-exceptions",
        clinic.owner,
        json={
            "practitioner_id": str(clinic.practitioner.id),
            "kind": "blocked",
            "start": at(MONDAY, 13).isoformat(),
            "end": at(MONDAY, 14).isoformat(),
        },
    )
    response = api.get(
        _url(clinic, at(MONDAY, 8), at(MONDAY, 18), practitioner_id=[clinic.practitioner.id]),
        clinic.owner,
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["granularity_minutes"] == 15 and body["duration_minutes"] == 60
    starts = [
        datetime.fromisoformat(s["start"]).astimezone(ZoneInfo("Europe/Paris")).strftime("%H:%M")
        for s in body["slots"]
    ]
    # 08:00–09:00 fits, 09:15 would overlap 10:00, 11:00 onwards until 12:00 (13:00 blocked),
    # then 14:00–17:00
    assert starts[:5] == ["08:00", "08:15", "08:30", "08:45", "09:00"]
    assert "09:15" not in starts and "10:30" not in starts and "11:00" in starts
    assert "12:15" not in starts and "12:00" in starts and "14:00" in starts
    assert starts[-1] == "17:00"
    # granularity from the organization's settings
    api.patch("scheduling-settings", clinic.owner, json={"slot_granularity_minutes": 30})
    body = api.get(
        _url(clinic, at(MONDAY, 8), at(MONDAY, 9, 1), practitioner_id=[clinic.practitioner.id]),
        clinic.owner,
    ).json()
    assert [datetime.fromisoformat(s["start"]) for s in body["slots"]] == [
        at(MONDAY, 8),
        at(MONDAY, 8, 30),
        at(MONDAY, 9),
    ]


@pytest.mark.django_db
def test_slots_across_dst_keep_the_wall_time(api, owner_a):
    from tests.scheduling.conftest import clinic_build

    clinic = clinic_build(owner_a)
    paris = ZoneInfo("Europe/Paris")
    friday, monday = date(2030, 3, 29), date(2030, 4, 1)
    response = api.get(
        _url(
            clinic,
            datetime.combine(friday, time(0), paris),
            datetime.combine(monday, time(23), paris),
            practitioner_id=[clinic.practitioner.id],
            limit=1000,
        ),
        clinic.owner,
    )
    by_day = {}
    for s in response.json()["slots"]:
        local = datetime.fromisoformat(s["start"]).astimezone(paris)
        by_day.setdefault(local.date(), []).append(local.strftime("%H:%M"))
    assert by_day[friday][0] == "08:00" and by_day[monday][0] == "08:00"
    assert by_day[friday][-1] == "17:00" and by_day[monday][-1] == "17:00"


@pytest.mark.django_db
def test_slots_exclude_the_patients_other_appointments(api, clinic, booking):
    api.post(
        "appointments",
        clinic.owner,
        json=booking(at(MONDAY, 10), practitioner_id=clinic.other_practitioner.id),
    )
    url = _url(clinic, at(MONDAY, 9), at(MONDAY, 12), practitioner_id=[clinic.practitioner.id])
    everyone = {s["start"] for s in api.get(url, clinic.owner).json()["slots"]}
    for_patient = {
        s["start"]
        for s in api.get(url + f"&patient_id={clinic.patients[0].id}", clinic.owner).json()["slots"]
    }
    assert for_patient < everyone
    assert not any(at(MONDAY, 9) < datetime.fromisoformat(s) < at(MONDAY, 11) for s in for_patient)


@pytest.mark.django_db
def test_slot_search_has_constant_queries(api, owner_a, django_assert_max_num_queries):
    from clinic.directory.models import Practitioner, PractitionerService
    from clinic.scheduling.models import AvailabilityRule
    from tests.scheduling.conftest import clinic_build

    clinic = clinic_build(owner_a)
    url = _url(clinic, at(MONDAY, 0), at(MONDAY + timedelta(days=1), 0), limit=1000)
    with django_assert_max_num_queries(20) as small:
        assert api.get(url, clinic.owner).status_code == 200
    # ten more practitioners with rules and appointments, and four weeks instead of a day
    with tenant_context(clinic.org.id):
        for i in range(10):
            p = Practitioner.objects.create(display_name=f"Extra {i}")
            PractitionerService.objects.create(practitioner=p, service=clinic.consult)
            for weekday in range(5):
                AvailabilityRule.objects.create(
                    practitioner=p,
                    location=clinic.location,
                    weekday=weekday,
                    start_time="09:00",
                    end_time="17:00",
                )
    url = _url(clinic, at(MONDAY, 0), at(MONDAY + timedelta(days=28), 0), limit=1000)
    with django_assert_max_num_queries(len(small.captured_queries)):
        response = api.get(url, clinic.owner)
    assert len(response.json()["slots"]) == 1000


@pytest.mark.django_db
def test_slots_selector_uses_three_queries(owner_a, django_assert_num_queries):
    from clinic.scheduling.selectors import slots_find
    from tests.scheduling.conftest import clinic_build

    clinic = clinic_build(owner_a)
    with tenant_context(clinic.org.id), django_assert_num_queries(3):
        found = slots_find(
            service_id=clinic.consult.id,
            start=at(MONDAY, 0),
            end=at(MONDAY + timedelta(days=28), 0),
        )
    assert found.slots


@pytest.mark.django_db
def test_slots_from_the_database_match_the_reference(owner_a):
    """Random appointments written to the database; slots_find vs the brute force."""
    from clinic.scheduling.models import Appointment
    from clinic.scheduling.selectors import slots_find
    from tests.scheduling.conftest import clinic_build

    clinic = clinic_build(owner_a)
    rng = random.Random(7)
    start, end = at(MONDAY, 0), at(MONDAY + timedelta(days=5), 0)
    with tenant_context(clinic.org.id):
        for p in (clinic.practitioner, clinic.other_practitioner):
            t = at(MONDAY, 8)
            while t < end:
                t += timedelta(minutes=rng.choice([15, 45, 90, 240]))
                length = timedelta(minutes=rng.choice([15, 30, 60]))
                Appointment.objects.create(
                    practitioner=p,
                    patient=None,
                    service=clinic.consult,
                    kind="block",
                    location=clinic.location,
                    start_at=t,
                    end_at=t + length,
                    occupied_start=t,
                    occupied_end=t + length,
                )
                t += length
        found = slots_find(
            service_id=clinic.short.id, start=start, end=end, limit=100000, not_before=start
        )
        rows = list(
            Appointment.objects.values_list("practitioner_id", "occupied_start", "occupied_end")
        )
    from clinic.scheduling.slots import BusyRow, RuleRow

    paris = ZoneInfo("Europe/Paris")
    rules = [
        RuleRow(p.id, clinic.location.id, paris, wd, time(8), time(18))
        for p in (clinic.practitioner, clinic.other_practitioner)
        for wd in range(5)
    ]
    expected = reference(
        rules=rules,
        exceptions=[],
        busy=[BusyRow(p, s, e) for p, s, e in rows],
        range_start=start,
        range_end=end,
        duration=timedelta(minutes=30),
        before=timedelta(minutes=10),
        after=timedelta(minutes=5),
        granularity=timedelta(minutes=15),
        not_before=start,
    )
    assert {(s.practitioner_id, s.start) for s in found.slots} == expected
    assert expected
