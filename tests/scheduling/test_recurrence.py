"""Recurrence in wall time across DST (two zones with different rules), the gap and the fold,
series creation (all-or-nothing / skip) and edit scopes."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from clinic.core.tenancy import tenant_context
from clinic.scheduling import recurrence
from tests.scheduling.conftest import at, clinic_build

PARIS = ZoneInfo("Europe/Paris")
NEW_YORK = ZoneInfo("America/New_York")


def _expand(rule, wall, tz, minutes=60, **kw):
    parsed = recurrence.rule_parse(rule, tz)
    return recurrence.expand(
        parsed, wall_start=wall, duration=timedelta(minutes=minutes), tz=tz, **kw
    )


@pytest.mark.parametrize(
    ("tz", "first", "spring", "autumn"),
    [
        # Paris: last Sunday of March and October; New York: 2nd Sunday of March, 1st of November
        (PARIS, date(2030, 3, 19), date(2030, 3, 31), date(2030, 10, 27)),
        (NEW_YORK, date(2030, 3, 5), date(2030, 3, 10), date(2030, 11, 3)),
    ],
)
def test_weekly_nine_oclock_stays_nine_oclock_across_both_changes(tz, first, spring, autumn):
    result = _expand("FREQ=WEEKLY;COUNT=40", datetime.combine(first, time(9)), tz)
    assert len(result.occurrences) == 40
    offsets = set()
    for occ in result.occurrences:
        local = occ.start.astimezone(tz)
        assert (local.hour, local.minute) == (9, 0), occ
        assert occ.end - occ.start == timedelta(hours=1)
        offsets.add(local.utcoffset())
    assert len(offsets) == 2  # it crossed DST: the UTC instant moved, the wall time did not
    before = [o for o in result.occurrences if o.wall.date() < spring]
    after = [o for o in result.occurrences if spring < o.wall.date() < autumn]
    assert before and after
    assert before[-1].start.astimezone(UTC).hour != after[0].start.astimezone(UTC).hour


def test_spring_gap_moves_forward_by_the_gap():
    # 02:30 does not exist in Paris on 2030-03-31: read with the offset before the gap
    result = _expand("FREQ=DAILY;COUNT=3", datetime(2030, 3, 30, 2, 30), PARIS)
    starts = [o.start.astimezone(PARIS) for o in result.occurrences]
    assert [(s.day, s.hour, s.minute) for s in starts] == [(30, 2, 30), (31, 3, 30), (1, 2, 30)]
    assert result.occurrences[1].start == datetime(2030, 3, 31, 1, 30, tzinfo=UTC)
    # New York's gap is 02:00–03:00 on 2030-03-10
    gap = recurrence.wall_to_instant(date(2030, 3, 10), time(2, 15), NEW_YORK)
    assert gap.astimezone(NEW_YORK).strftime("%H:%M %Z") == "03:15 EDT"


def test_autumn_fold_takes_the_first_occurrence():
    # 02:30 happens twice in Paris on 2030-10-27: the first (still summer time, UTC+2)
    instant = recurrence.wall_to_instant(date(2030, 10, 27), time(2, 30), PARIS)
    assert instant == datetime(2030, 10, 27, 0, 30, tzinfo=UTC)
    ny = recurrence.wall_to_instant(date(2030, 11, 3), time(1, 30), NEW_YORK)
    assert ny == datetime(2030, 11, 3, 5, 30, tzinfo=UTC)  # EDT, UTC-4


def test_rule_features_and_limits():
    wall = datetime(2030, 1, 6, 10)  # a Sunday
    byday = _expand("FREQ=WEEKLY;BYDAY=MO,WE;COUNT=4", wall, PARIS)
    assert [o.wall.strftime("%a %d") for o in byday.occurrences] == [
        "Mon 07",
        "Wed 09",
        "Mon 14",
        "Wed 16",
    ]
    interval = _expand("FREQ=WEEKLY;INTERVAL=2;UNTIL=20300301", datetime(2030, 1, 7, 10), PARIS)
    assert [o.wall.day for o in interval.occurrences] == [7, 21, 4, 18]
    monthly = _expand("FREQ=MONTHLY;BYDAY=-1FR;COUNT=3", datetime(2030, 1, 1, 10), PARIS)
    assert [o.wall.date() for o in monthly.occurrences] == [
        date(2030, 1, 25),
        date(2030, 2, 22),
        date(2030, 3, 29),
    ]
    exdate = _expand(
        "FREQ=DAILY;COUNT=3", datetime(2030, 1, 7, 10), PARIS, exdates=frozenset({date(2030, 1, 8)})
    )
    assert [o.wall.day for o in exdate.occurrences] == [7, 9]
    utc_until = _expand("FREQ=DAILY;UNTIL=20300109T090000Z", datetime(2030, 1, 7, 10), PARIS)
    assert [o.wall.day for o in utc_until.occurrences] == [7, 8, 9]  # 09:00Z is 10:00 Paris
    endless = _expand("FREQ=DAILY", datetime(2030, 1, 7, 10), PARIS)
    assert len(endless.occurrences) == 500 and endless.truncated
    two_years = _expand("FREQ=WEEKLY", datetime(2030, 1, 7, 10), PARIS)
    assert two_years.truncated and two_years.occurrences[-1].wall < datetime(2032, 1, 8)
    # a count that reaches past two years stops at the horizon too, and says so
    counted = _expand("FREQ=WEEKLY;COUNT=300", datetime(2030, 1, 7, 10), PARIS)
    assert counted.truncated and counted.occurrences[-1].wall < datetime(2032, 1, 8)
    assert len(counted.occurrences) == len(two_years.occurrences)
    within = _expand("FREQ=WEEKLY;COUNT=100", datetime(2030, 1, 7, 10), PARIS)
    assert len(within.occurrences) == 100 and not within.truncated


@pytest.mark.parametrize(
    "rule",
    [
        "",
        "FREQ=YEARLY",
        "FREQ=WEEKLY;COUNT=0",
        "FREQ=WEEKLY;COUNT=2;UNTIL=20300101",
        "FREQ=WEEKLY;BYDAY=XX",
        "FREQ=WEEKLY;BYHOUR=9",
        "FREQ=WEEKLY;BYDAY=2TU",
        "nonsense",
        "FREQ=WEEKLY;INTERVAL=abc",
        "FREQ=WEEKLY;UNTIL=tomorrow",
    ],
)
def test_bad_rules_are_refused(rule):
    with pytest.raises(recurrence.RecurrenceError):
        recurrence.rule_parse(rule, PARIS)


# --- series through the API -----------------------------------------------------------------


@pytest.fixture
def ny_clinic(owner_b):
    return clinic_build(owner_b, time_zone="America/New_York")


def _series_body(clinic, start, rrule, **extra):
    body = {
        "practitioner_id": str(clinic.practitioner.id),
        "patient_id": str(clinic.patients[0].id),
        "service_id": str(clinic.consult.id),
        "start": start.isoformat(),
        "rrule": rrule,
    }
    body.update(extra)
    return body


@pytest.mark.django_db
@pytest.mark.parametrize("zone", ["paris", "new_york"])
def test_series_across_dst_books_real_rows_at_the_same_wall_time(api, clinic, ny_clinic, zone):
    c, tz = (clinic, PARIS) if zone == "paris" else (ny_clinic, NEW_YORK)
    first = datetime(2030, 3, 4, 9, tzinfo=tz)  # a Monday before both spring changes
    response = api.post(
        "appointment-series", c.owner, json=_series_body(c, first, "FREQ=WEEKLY;COUNT=8")
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert len(body["occurrences"]) == 8 and body["skipped"] == []
    for occurrence in body["occurrences"]:
        local = datetime.fromisoformat(occurrence["start"]).astimezone(tz)
        assert local.strftime("%a %H:%M") == "Mon 09:00"
    assert body["series"]["time_zone"] == str(tz)
    assert body["series"]["wall_time"] == "09:00:00"


@pytest.mark.django_db
def test_series_is_all_or_nothing_by_default_and_can_skip(api, clinic):
    monday = date(2031, 6, 2)
    # the third Monday is taken
    api.post(
        "appointments",
        clinic.owner,
        json={
            "practitioner_id": str(clinic.practitioner.id),
            "patient_id": str(clinic.patients[2].id),
            "service_id": str(clinic.consult.id),
            "start": at(monday + timedelta(days=14), 10, 30).isoformat(),
        },
    )
    body = _series_body(clinic, at(monday, 10), "FREQ=WEEKLY;COUNT=4")
    response = api.post("appointment-series", clinic.owner, json=body)
    assert response.status_code == 409
    details = response.json()["error"]["details"]
    assert details["dates"] == [at(monday + timedelta(days=14), 10).isoformat()]
    assert details["conflicts"][0]["on"] == ["practitioner"]
    from clinic.scheduling.models import Appointment, AppointmentSeries

    with tenant_context(clinic.org.id):
        assert AppointmentSeries.objects.count() == 0
        assert Appointment.objects.count() == 1
    response = api.post("appointment-series", clinic.owner, json={**body, "on_conflict": "skip"})
    assert response.status_code == 201, response.content
    created = response.json()
    assert len(created["occurrences"]) == 3
    assert created["skipped"] == [
        {
            "date": str(monday + timedelta(days=14)),
            "start": at(monday + timedelta(days=14), 10).isoformat(),
            "reason": "conflict",
        }
    ]


@pytest.mark.django_db
def test_series_refuses_bad_rule_with_the_field(api, clinic):
    response = api.post(
        "appointment-series",
        clinic.owner,
        json=_series_body(clinic, at(date(2031, 6, 2), 10), "FREQ=HOURLY"),
    )
    assert response.status_code == 422
    assert "rrule" in response.json()["error"]["details"]


@pytest.mark.django_db
class TestEditScopes:
    @pytest.fixture
    def series(self, api, clinic):
        response = api.post(
            "appointment-series",
            clinic.owner,
            json=_series_body(clinic, at(date(2031, 6, 2), 10), "FREQ=WEEKLY;COUNT=6"),
        )
        assert response.status_code == 201, response.content
        return response.json()

    def _rows(self, clinic):
        from clinic.scheduling.models import Appointment

        with tenant_context(clinic.org.id):
            return list(Appointment.objects.order_by("recurrence_date"))

    def test_this_moves_one_occurrence(self, api, clinic, series):
        third = series["occurrences"][2]
        response = api.patch(
            f"appointments/{third['id']}?scope=this",
            clinic.owner,
            json={"start": at(date(2031, 6, 17), 14).isoformat()},
        )
        assert response.status_code == 200, response.content
        rows = self._rows(clinic)
        assert [r.start_at.astimezone(PARIS).strftime("%a %H") for r in rows] == [
            "Mon 10",
            "Mon 10",
            "Tue 14",
            "Mon 10",
            "Mon 10",
            "Mon 10",
        ]
        assert rows[2].series_exception and rows[2].series_id == rows[0].series_id

    def test_following_splits_the_series(self, api, clinic, series):
        fourth = series["occurrences"][3]
        response = api.patch(
            f"appointments/{fourth['id']}?scope=following",
            clinic.owner,
            json={"start": at(date(2031, 6, 23), 11).isoformat()},
        )
        assert response.status_code == 200, response.content
        assert len(response.json()) == 3
        rows = self._rows(clinic)
        assert [r.start_at.astimezone(PARIS).hour for r in rows] == [10, 10, 10, 11, 11, 11]
        old, new = rows[0].series_id, rows[3].series_id
        assert old != new and {r.series_id for r in rows[3:]} == {new}
        from clinic.scheduling.models import AppointmentSeries

        with tenant_context(clinic.org.id):
            old_series = AppointmentSeries.objects.get(id=old)
            new_series = AppointmentSeries.objects.get(id=new)
        assert old_series.ended_on == date(2031, 6, 22)
        assert new_series.split_from_id == old and new_series.wall_time == time(11)
        assert "COUNT=3" in new_series.rrule

    def test_all_moves_every_future_occurrence_but_never_the_past(self, api, clinic, series):
        from clinic.scheduling.models import Appointment

        first = series["occurrences"][0]
        with tenant_context(clinic.org.id):  # the first one is in the past and done
            Appointment.objects.filter(id=first["id"]).update(
                start_at=datetime(2020, 1, 6, 9, tzinfo=UTC),
                end_at=datetime(2020, 1, 6, 10, tzinfo=UTC),
                occupied_start=datetime(2020, 1, 6, 9, tzinfo=UTC),
                occupied_end=datetime(2020, 1, 6, 10, tzinfo=UTC),
                status="completed",
            )
        second = series["occurrences"][1]
        response = api.patch(
            f"appointments/{second['id']}?scope=all",
            clinic.owner,
            json={
                "start": at(date(2031, 6, 9), 15).isoformat(),
                "practitioner_id": str(clinic.other_practitioner.id),
            },
        )
        assert response.status_code == 200, response.content
        assert len(response.json()) == 5
        rows = self._rows(clinic)
        assert rows[0].start_at.year == 2020 and rows[0].practitioner_id == clinic.practitioner.id
        assert all(r.start_at.astimezone(PARIS).hour == 15 for r in rows[1:])
        assert {r.practitioner_id for r in rows[1:]} == {clinic.other_practitioner.id}

    def test_all_is_refused_whole_when_one_occurrence_conflicts(self, api, clinic, series):
        api.post(
            "appointments",
            clinic.owner,
            json={
                "practitioner_id": str(clinic.practitioner.id),
                "patient_id": str(clinic.patients[2].id),
                "service_id": str(clinic.consult.id),
                "start": at(date(2031, 6, 30), 12).isoformat(),
            },
        )
        before = {r.id: r.start_at for r in self._rows(clinic) if r.series_id}
        response = api.patch(
            f"appointments/{series['occurrences'][0]['id']}?scope=all",
            clinic.owner,
            json={"start": at(date(2031, 6, 2), 12).isoformat()},
        )
        assert response.status_code == 409
        assert response.json()["error"]["details"]["dates"] == [
            at(date(2031, 6, 30), 12).isoformat()
        ]
        assert {r.id: r.start_at for r in self._rows(clinic) if r.series_id} == before

    def test_cancel_following_and_all(self, api, clinic, series):
        response = api.delete(
            f"appointments/{series['occurrences'][4]['id']}?scope=following&reason=moving",
            clinic.owner,
        )
        assert response.status_code == 200 and len(response.json()) == 2
        response = api.delete(
            f"appointments/{series['occurrences'][1]['id']}?scope=all", clinic.owner
        )
        assert response.status_code == 200 and len(response.json()) == 4
        assert [r.status for r in self._rows(clinic)] == ["cancelled"] * 6

    def test_past_occurrences_stay_as_they_were_even_when_still_scheduled(
        self, api, clinic, series
    ):
        """The guard is the time, not the status: a past occurrence nobody checked in (still
        scheduled, so movable) is neither moved nor cancelled by following/all, and editing it
        with following/all is refused rather than half-applied."""
        from clinic.scheduling.models import Appointment

        first = series["occurrences"][0]
        past = datetime(2020, 1, 6, 9, tzinfo=UTC)
        with tenant_context(clinic.org.id):
            Appointment.objects.filter(id=first["id"]).update(
                start_at=past,
                end_at=past + timedelta(hours=1),
                occupied_start=past,
                occupied_end=past + timedelta(hours=1),
            )
        for scope in ("following", "all"):
            refused = api.patch(
                f"appointments/{first['id']}?scope={scope}",
                clinic.owner,
                json={"start": at(date(2031, 6, 2), 12).isoformat()},
            )
            assert refused.status_code == 422, refused.content
            assert "scope" in refused.json()["error"]["details"]
        moved = api.patch(
            f"appointments/{series['occurrences'][1]['id']}?scope=all",
            clinic.owner,
            json={"start": at(date(2031, 6, 9), 15).isoformat()},
        )
        assert moved.status_code == 200 and len(moved.json()) == 5
        cancelled = api.delete(
            f"appointments/{series['occurrences'][2]['id']}?scope=all", clinic.owner
        )
        assert cancelled.status_code == 200 and len(cancelled.json()) == 5
        rows = self._rows(clinic)
        assert rows[0].start_at == past and rows[0].status == "scheduled"
        assert [r.status for r in rows[1:]] == ["cancelled"] * 5

    def test_scope_must_be_known(self, api, clinic, series):
        response = api.patch(
            f"appointments/{series['occurrences'][0]['id']}?scope=some",
            clinic.owner,
            json={"start": at(date(2031, 6, 2), 12).isoformat()},
        )
        assert response.status_code == 422 and "scope" in response.json()["error"]["details"]
