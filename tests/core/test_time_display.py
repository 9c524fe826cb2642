"""Times shown to a person are the wall time of the location concerned (issue 11 §1).

The server runs in UTC (settings.TIME_ZONE); the organizations here are in Asia/Kolkata
(+05:30) and America/St_Johns (−03:30, −02:30 in summer), so a time shown in UTC is off by a
non-whole number of hours and can never pass for the local one. The same consultation or
appointment, at 15:00 local on Tuesday 3 December 2030, is checked on every page and message
that shows it. Fixed dates (2030 in the future, 2025 in the past): nothing depends on the day
the tests run.
"""

from __future__ import annotations

import datetime as dt
import html
import io
import re
from dataclasses import dataclass
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.utils import translation

from clinic.core import timefmt
from clinic.core.tenancy import tenant_context
from tests.conftest import org_create, persona_create, reauthenticated, unique_slug
from tests.directory import factories
from tests.notifications.conftest import run_tasks, smtp  # noqa: F401 - fixtures

pytestmark = pytest.mark.django_db

UTC = dt.UTC
KOLKATA = "Asia/Kolkata"
ST_JOHNS = "America/St_Johns"
# 15:00 local on Tuesday 3 December 2030
START = {
    KOLKATA: dt.datetime(2030, 12, 3, 9, 30, tzinfo=UTC),
    ST_JOHNS: dt.datetime(2030, 12, 3, 18, 30, tzinfo=UTC),
}
# As a French reader sees it (fr; fr_CA in Newfoundland writes "15 h 00")
FR = {
    KOLKATA: {"datetime": "mar. 3 déc. 2030, 15:00", "hm": "{:%H:%M}"},
    ST_JOHNS: {"datetime": "mar. 3 déc. 2030, 15 h 00", "hm": "{0:%H} h {0:%M}"},
}
# As an English reader sees it: the region of the organization's zone (en_IN, en_CA)
EN = {
    KOLKATA: "Tue, 3 Dec 2030, 3:00 PM",
    ST_JOHNS: "Tue, Dec 3, 2030, 3:00 p.m.",
}
# Written out in a message a patient reads
EN_LONG = {
    KOLKATA: "Tuesday, 3 December 2030, 3:00 PM",
    ST_JOHNS: "Tuesday, December 3, 2030, 3:00 p.m.",
}
# What the UTC bug showed instead (any rendering of the UTC wall time)
UTC_WALL = {KOLKATA: ("09:30", "9:30"), ST_JOHNS: ("18:30", "6:30")}


def text(response_or_str) -> str:
    """Page text with entities decoded and CLDR's narrow/no-break spaces as plain spaces."""
    raw = response_or_str if isinstance(response_or_str, str) else response_or_str.content.decode()
    return plain(html.unescape(raw))


def words(response) -> str:
    """The text a person reads: tags removed."""
    return re.sub(r"<[^>]+>", "", text(response))


def plain(value: str) -> str:
    return value.replace("\u202f", " ").replace("\xa0", " ").replace("\u2009", " ")


@dataclass
class World:
    zone: str
    org: object
    owner: object
    location: object
    service: object
    practitioner: object
    patient: object

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.zone)

    @property
    def start(self) -> dt.datetime:
        return START[self.zone]


def world_make(zone: str, *, other_zone: str | None = None) -> World:
    org = org_create(unique_slug("tz"), f"Clinic {zone}", time_zone=zone)
    owner = persona_create(org, "owner")
    location = factories.location(owner, name="Main site", time_zone=zone)
    if other_zone:
        factories.location(owner, name="Far site", time_zone=other_zone)
    service = factories.service(owner, name="Physiotherapy", duration_minutes=45)
    practitioner = factories.practitioner(
        owner,
        display_name="Dr Ada",
        service_ids=[service.id],
        default_location_id=location.id,
    )
    patient = factories.patient(
        owner, given_name="Asha", family_name="Rao", email="asha@example.org"
    )
    return World(zone, org, owner, location, service, practitioner, patient)


@pytest.fixture(params=[KOLKATA, ST_JOHNS])
def world(request) -> World:
    return world_make(request.param)


def login(client, world, language="fr"):
    client.force_login(world.owner.user)
    client.defaults["HTTP_ACCEPT_LANGUAGE"] = language
    return client


def assert_no_utc(page: str, world: World) -> None:
    for wall in UTC_WALL[world.zone]:
        assert wall not in page, f"UTC wall time {wall} shown"


# --- the helper itself ---------------------------------------------------------------------------


@dataclass
class Org:
    """Enough of an organization for the formatting functions (no database)."""

    time_zone: str
    default_locale: str = "en"
    pk: int = 0


def test_zone_conversion_and_dst_without_a_database():
    kolkata, st_johns = Org(KOLKATA), Org(ST_JOHNS)
    fmt = {"language": "fr", "name_zone": False}
    assert (
        plain(timefmt.local_datetime(START[KOLKATA], KOLKATA, organization=kolkata, **fmt))
        == "mar. 3 déc. 2030, 15:00"
    )
    # St John's is −03:30 in December and −02:30 in July: 15:00 local both times
    july = dt.datetime(2030, 7, 3, 17, 30, tzinfo=UTC)
    for instant in (START[ST_JOHNS], july):
        assert plain(
            timefmt.local_time(instant, ST_JOHNS, organization=st_johns, language="fr")
        ) == ("15 h 00")
    assert timefmt.localize(START[ST_JOHNS], ST_JOHNS).utcoffset() == dt.timedelta(
        hours=-3, minutes=-30
    )
    with pytest.raises(ValueError):
        timefmt.localize(dt.datetime(2030, 12, 3, 15, 0), KOLKATA)


def test_the_calendar_script_formats_in_the_same_style():
    # the calendar draws its own times (Intl.DateTimeFormat): it gets the locale and hour cycle
    assert timefmt.browser_format("en", Org("Europe/Paris")) == {
        "locale": "en-FR",
        "hourCycle": "h23",
    }
    assert timefmt.browser_format("en", Org("America/New_York")) == {
        "locale": "en-US",
        "hourCycle": "h12",
    }
    assert timefmt.browser_format("fr", Org("America/St_Johns"))["locale"] == "fr-CA"


def test_twelve_or_twenty_four_hours_by_the_organizations_region():
    instant = dt.datetime(2030, 12, 3, 15, 0, tzinfo=UTC)
    shown = {
        org.time_zone: plain(
            timefmt.local_datetime(instant, "UTC", language="en", organization=org, name_zone=False)
        )
        for org in (Org("America/New_York"), Org("Europe/London"), Org("Europe/Paris"))
    }
    assert shown["America/New_York"] == "Tue, Dec 3, 2030, 3:00 PM"  # en-US: 12-hour, month first
    assert shown["Europe/London"] == "Tue, 3 Dec 2030, 15:00"  # en-GB: 24-hour, day first
    assert shown["Europe/Paris"] == "Tue, 3 Dec 2030, 15:00"  # English in a French clinic
    # a locale setting that names a region wins over the zone's country
    us = Org("Europe/London", default_locale="en-US")
    assert "3:00 PM" in plain(timefmt.local_time(instant, "UTC", language="en", organization=us))
    fr = timefmt.local_datetime(
        instant, "UTC", language="fr", organization=Org("Europe/Paris"), name_zone=False
    )
    assert plain(fr) == "mar. 3 déc. 2030, 15:00"


def test_arabic():
    org = Org(KOLKATA)
    shown = plain(timefmt.local_datetime(START[KOLKATA], KOLKATA, language="ar", organization=org))
    assert "ديسمبر" in shown and "الثلاثاء" in shown and "3:00 م" in shown
    # a plain date: no zone, the same locale style (right-to-left marks between the parts)
    assert timefmt.local_date(dt.date(1990, 5, 1), language="ar", organization=org) == (
        "01\u200f/05\u200f/1990"
    )


def test_ranges_and_whole_days():
    org = Org(KOLKATA)
    tz = ZoneInfo(KOLKATA)
    start = dt.datetime(2030, 12, 3, 0, 0, tzinfo=tz)
    fmt = {"language": "en", "organization": org, "name_zone": False}
    # a whole-day block on 3 Dec is 3 Dec, not "2 Dec 18:30 → 3 Dec 18:30" (UTC)
    assert timefmt.local_range(start, start + dt.timedelta(days=1), KOLKATA, **fmt) == (
        "Tue, 3 Dec 2030"
    )
    assert plain(timefmt.local_range(start, start + dt.timedelta(days=3), KOLKATA, **fmt)) == (
        "Tue, 3 Dec – Thu, 5 Dec 2030"
    )
    assert plain(
        timefmt.local_range(START[KOLKATA], START[KOLKATA] + dt.timedelta(hours=1), KOLKATA, **fmt)
    ) == ("Tue, 3 Dec 2030, 3:00 – 4:00 PM")
    fr = {**fmt, "language": "fr"}
    assert plain(
        timefmt.local_range(START[KOLKATA], START[KOLKATA] + dt.timedelta(days=1), KOLKATA, **fr)
    ) == ("mar. 3 déc. 2030, 15:00 – mer. 4 déc. 2030, 15:00")


def test_typed_times_are_read_in_the_zone():
    assert timefmt.parse_local("2030-12-03T15:00", KOLKATA) == START[KOLKATA]
    assert timefmt.parse_local("2030-12-03T15:00", ST_JOHNS) == START[ST_JOHNS]
    # an explicit offset is kept; rubbish is None
    assert timefmt.parse_local("2030-12-03T15:00+00:00", KOLKATA).hour == 15
    assert timefmt.parse_local("tomorrow", KOLKATA) is None
    # a wall time skipped by the spring change (02:30 on 9 Mar 2031 in St John's) moves past it
    skipped = timefmt.parse_local("2031-03-09T02:30", ST_JOHNS)
    assert skipped.astimezone(ZoneInfo(ST_JOHNS)).hour == 3


def test_the_zone_is_named_when_more_than_one_is_in_play():
    single = world_make(KOLKATA)
    with tenant_context(single.org.id), translation.override("en"):
        assert timefmt.zone_label() == ""
        assert "(" not in timefmt.local_datetime(single.start)
    several = world_make(KOLKATA, other_zone=ST_JOHNS)
    with tenant_context(several.org.id), translation.override("en"):
        assert timefmt.zones_in_play() == {KOLKATA, ST_JOHNS}
        assert timefmt.local_datetime(several.start).endswith("(Kolkata)")
        # en_IN (the organization's region) writes "St John’s"
        assert re.search(r"\(St\.? John’s\)$", timefmt.local_datetime(START[ST_JOHNS], ST_JOHNS))


def test_records_are_placed_without_a_query_per_row(django_assert_max_num_queries):
    from clinic.scheduling.models import AvailabilityException

    w = world_make(ST_JOHNS)
    with tenant_context(w.org.id):
        for day in (3, 4, 5):
            AvailabilityException.objects.create(
                practitioner=w.practitioner,
                location=w.location,
                kind="blocked",
                start_at=dt.datetime(2030, 12, day, 12, tzinfo=UTC),
                end_at=dt.datetime(2030, 12, day, 13, tzinfo=UTC),
            )
        rows = list(AvailabilityException.objects.all())
        with django_assert_max_num_queries(2):  # the organization, its locations: once
            zones = {timefmt.zone_name_for(e) for e in rows}
    assert zones == {ST_JOHNS}


# --- pages ---------------------------------------------------------------------------------------


def _plan_with_consultation(client, api, w: World) -> tuple[dict, dict]:
    for weekday in range(5):
        response = api.post(
            "availability-rules",
            w.owner,
            json={
                "practitioner_id": str(w.practitioner.id),
                "location_id": str(w.location.id),
                "weekday": weekday,
                "start_time": "08:00",
                "end_time": "18:00",
            },
        )
        assert response.status_code == 201, response.content
    plan = api.post(
        "treatment-plans",
        w.owner,
        json={
            "patient_id": str(w.patient.id),
            "practitioner_id": str(w.practitioner.id),
            "title": "Knee rehabilitation",
            "start_date": "2030-11-01",
            "end_date": "2031-03-31",
            "planned_consultations": 10,
            "service_id": str(w.service.id),
            "location_id": str(w.location.id),
        },
    )
    assert plan.status_code == 201, plan.content
    plan = plan.json()
    consultation = api.post(
        f"treatment-plans/{plan['id']}/consultations",
        w.owner,
        json={"planned_start": w.start.isoformat()},
    )
    assert consultation.status_code == 201, consultation.content
    return plan, consultation.json()


def test_plan_page_next_consultation_and_planner_drawer(client, api, world):
    plan, _c = _plan_with_consultation(client, api, world)
    login(client, world)
    expected = FR[world.zone]["datetime"]

    page = words(client.get(f"/plans/{plan['id']}/"))
    # the consultations table and "Next consultation" both read 15:00 local
    assert page.count(expected) == 2, page
    assert f"Prochaine consultation: {expected}" in page
    assert_no_utc(page, world)

    listing = text(client.get("/plans/"))
    assert expected in listing

    drawer = text(client.get(f"/plans/{plan['id']}/planner/?week=2030-12-02"))
    hm = FR[world.zone]["hm"]
    assert f"#1 {hm.format(world.start.astimezone(world.tz))}" in drawer
    # every free-slot button reads the local wall time of the instant it books
    buttons = re.findall(r'data-start="([^"]+)">([^<]+)</button>', drawer)
    assert buttons, "no free slot shown"
    for start, label in buttons:
        local = dt.datetime.fromisoformat(start).astimezone(world.tz)
        assert label == hm.format(local), (start, label)
    assert any(label == hm.format(dt.time(8, 0)) for _s, label in buttons)


def test_planner_move_to_is_read_in_the_plans_zone(client, api, world):
    from clinic.care.models import Consultation

    plan, c = _plan_with_consultation(client, api, world)
    login(client, world)
    response = client.post(
        f"/plans/{plan['id']}/planner/bulk/",
        {"action": "move", "ids": [c["id"]], "move_to": "2030-12-05T10:00", "week": "2030-12-02"},
    )
    assert response.status_code == 200, response.content
    with tenant_context(world.org.id):
        moved = Consultation.objects.get(id=c["id"]).planned_start
    assert moved == dt.datetime(2030, 12, 5, 10, 0, tzinfo=world.tz)


def test_availability_exceptions_whole_day_and_partial(client, world):
    login(client, world)
    url = f"/availability/{world.practitioner.id}/"
    for date, start, end in (("2030-12-03", "", ""), ("2030-12-04", "15:00", "16:30")):
        response = client.post(
            f"{url}exceptions/",
            {
                "kind": "blocked",
                "date": date,
                "start_time": start,
                "end_time": end,
                "location_id": str(world.location.id),
                "reason": "",
            },
        )
        assert response.status_code == 302
    cells = re.findall(r'class="exception-when">([^<]+)</td>', text(client.get(url)))
    partial = (
        "mer. 4 déc. 2030, 15:00 – 16:30"
        if world.zone == KOLKATA
        else "mer. 4 déc. 2030, 15 h 00 – 16 h 30"
    )
    assert cells == ["mar. 3 déc. 2030", partial]


def test_audit_log_in_the_organizations_zone(client, world):
    login(client, world)
    page = text(client.get("/audit/"))
    stamps = re.findall(r'<time datetime="([^"]+)">([^<]+)</time>', page)
    assert stamps
    offset = "+05:30" if world.zone == KOLKATA else "-03:30"  # December and the summer alike
    hm = FR[world.zone]["hm"]
    for iso, shown in stamps:
        local = dt.datetime.fromisoformat(iso)
        assert iso.endswith(offset) or iso.endswith("-02:30"), iso
        assert shown.endswith(hm.format(local)), (iso, shown)


def test_notifications_list_in_the_organizations_zone(client, world):
    from clinic.notifications.models import Notification
    from clinic.notifications.services import notification_create

    with tenant_context(world.org.id, world.owner.user.id):
        n = notification_create(
            user_id=world.owner.user.id,
            event="staff.patient_booking",
            context={"patient_name": "Asha Rao", "when": "x"},
            language="fr",
            category="patient_bookings",
        )
        Notification.objects.filter(id=n.id).update(created_at=world.start)
    page = text(login(client, world).get("/notifications/"))
    assert FR[world.zone]["datetime"] in page
    assert world.start.astimezone(world.tz).isoformat() in page  # the machine attribute
    assert_no_utc(page, world)


def _booked(world):
    """An appointment at 15:00 local with its confirmation and reminders planned."""
    from clinic.notifications.services import appointment_notifications_plan
    from clinic.scheduling.models import Appointment

    with tenant_context(world.org.id, world.owner.user.id):
        end = world.start + dt.timedelta(minutes=45)
        appt = Appointment.objects.create(
            practitioner=world.practitioner,
            patient=world.patient,
            service=world.service,
            location=world.location,
            start_at=world.start,
            end_at=end,
            occupied_start=world.start,
            occupied_end=end,
            status="scheduled",
        )
        appointment_notifications_plan(appointment=appt, event="booked")
    return appt


def test_deliveries_detail_and_patient_preferences(client, world):
    from clinic.notifications.models import Delivery

    _booked(world)
    with tenant_context(world.org.id):
        reminders = list(
            Delivery.objects.filter(event="appointment.reminder", channel="email").order_by(
                "scheduled_for"
            )
        )
    assert reminders
    login(client, world)
    hm = FR[world.zone]["hm"]
    pages = {
        "list": text(client.get("/notifications/deliveries/")),
        "detail": text(client.get(f"/notifications/deliveries/{reminders[-1].id}/")),
        "patient": text(client.get(f"/notifications/patients/{world.patient.id}/preferences/")),
    }
    for name, page in pages.items():
        local = reminders[-1].scheduled_for.astimezone(world.tz)
        assert f"{local.day} déc. 2030, {hm.format(local)}" in page, name


def test_reminder_email_reads_the_local_wall_time(world, smtp, run_tasks):  # noqa: F811
    from clinic.notifications.models import Delivery

    appt = _booked(world)
    with tenant_context(world.org.id):
        reminder = (
            Delivery.objects.filter(event="appointment.reminder", channel="email")
            .order_by("scheduled_for")
            .first()
        )
    run_tasks(now=reminder.scheduled_for + dt.timedelta(seconds=1))
    bodies = [
        plain(m.get_body(("plain",)).get_content())
        for m in smtp.parsed()
        if "Reminder" in m["Subject"]
    ]
    assert bodies, [m["Subject"] for m in smtp.parsed()]
    assert EN_LONG[world.zone] in bodies[0]
    assert appt.start_at == world.start


def test_an_appointment_in_a_second_zone_is_named_in_messages(smtp, run_tasks):  # noqa: F811
    from clinic.directory.models import Location

    w = world_make(KOLKATA, other_zone=ST_JOHNS)
    with tenant_context(w.org.id):
        far = Location.objects.get(name="Far site")
    w.location = far
    w.zone = ST_JOHNS
    # the confirmation goes out at once only outside the patient's quiet hours (21:00–08:00 at
    # the location): book at a fixed daytime moment, whatever hour the suite runs
    with time_machine.travel(dt.datetime(2026, 12, 1, 14, 0, tzinfo=UTC), tick=True):
        _booked(w)
    run_tasks()
    subjects = [plain(m["Subject"]) for m in smtp.parsed()]
    assert any("Tuesday, 3 December 2030, 3:00 PM (St John’s)" in s for s in subjects), subjects


def test_payment_dates_statement_csv_and_invoice_pdf(client, world):
    from pypdf import PdfReader

    from tests.billing import factories as billing

    # 20:00 UTC on 1 June 2025 is already 2 June in Kolkata; 01:00 UTC on 2 June is still
    # 1 June in St John's (−02:30 in summer)
    received = (
        dt.datetime(2025, 6, 1, 20, 0, tzinfo=UTC)
        if world.zone == KOLKATA
        else dt.datetime(2025, 6, 2, 1, 0, tzinfo=UTC)
    )
    local_day = received.astimezone(world.tz).date()
    invoice = billing.issued_invoice(world.owner, world.patient, issue_date=dt.date(2025, 6, 2))
    billing.payment(world.owner, world.patient, amount="10.00", received_at=received.isoformat())
    login(client, world)
    account = text(client.get(f"/billing/accounts/patient/{world.patient.id}/"))
    assert f"{local_day.day} juin 2025" in account
    reauthenticated(client)
    csv = client.get(
        f"/billing/accounts/patient/{world.patient.id}/statement/"
        "?date_from=2025-05-01&date_to=2025-06-30&format=csv"
    ).content.decode()
    payment_rows = [row for row in csv.splitlines() if ",payment," in row]
    assert payment_rows and payment_rows[0].startswith(local_day.isoformat()), csv
    pdf = client.get(f"/billing/invoices/{invoice.id}/pdf/")
    assert pdf.status_code == 200
    content = "".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf.content)).pages)
    issued = "2 Jun 2025" if world.zone == KOLKATA else "Jun 2, 2025"  # en_IN / en_CA
    assert issued in plain(content), content


def test_english_pages_twelve_or_twenty_four_hours(client):
    from clinic.notifications.models import Notification
    from clinic.notifications.services import notification_create

    instant = dt.datetime(2030, 12, 3, 15, 0, tzinfo=UTC)
    shown = {}
    for zone in ("America/New_York", "Europe/London"):
        w = world_make(zone)
        with tenant_context(w.org.id, w.owner.user.id):
            n = notification_create(
                user_id=w.owner.user.id,
                event="staff.patient_booking",
                context={"patient_name": "Asha Rao", "when": "x"},
                language="en",
                category="patient_bookings",
            )
            Notification.objects.filter(id=n.id).update(created_at=instant)
        client.logout()
        shown[zone] = text(login(client, w, "en").get("/notifications/"))
    assert "Tue, Dec 3, 2030, 10:00 AM" in shown["America/New_York"]
    assert "Tue, 3 Dec 2030, 15:00" in shown["Europe/London"]
    arabic = text(client.get("/notifications/", HTTP_ACCEPT_LANGUAGE="ar"))
    assert "ديسمبر" in arabic and "3:00 م" in arabic
