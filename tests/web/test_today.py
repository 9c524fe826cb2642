"""The Today page (home): what each role sees, the front desk's in-place actions through the
page's endpoints, the day in the clinic's zone, and a constant number of queries."""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from clinic.core.tenancy import tenant_context
from tests.conftest import org_create, persona_create, unique_slug
from tests.scheduling.conftest import MONDAY, at, clinic_build

pytestmark = pytest.mark.django_db

# 07:00 in Paris on a Monday well in the future: the day's appointments are still to come
MORNING = at(MONDAY, 7)


def _appointment(clinic, *, start, patient=None, practitioner=None, status="scheduled", **extra):
    """A row written directly (the page reads rows; the services are exercised by the actions)."""
    from clinic.scheduling.models import Appointment

    with tenant_context(clinic.org.id):
        if status == "cancelled":
            extra.setdefault("cancelled_at", start - timedelta(days=1))
        return Appointment.objects.create(
            practitioner=practitioner or clinic.practitioner,
            patient=patient or clinic.patients[0],
            service=clinic.consult,
            location=clinic.location,
            start_at=start,
            end_at=start + timedelta(minutes=30),
            occupied_start=start,
            occupied_end=start + timedelta(minutes=30),
            status=status,
            **extra,
        )


def _status_of(clinic, appointment):
    from clinic.scheduling.models import Appointment

    with tenant_context(clinic.org.id):
        return Appointment.objects.get(id=appointment.id)


@pytest.fixture
def day(owner_a, clock):
    """A Paris clinic on MONDAY at 07:00: Dr One has a confirmed 09:00 (patient 0) and a
    scheduled 10:00 (patient 1); Dr Two a confirmed 11:00 (patient 2) and a cancelled 12:00."""
    clock.travel(MORNING)
    practitioner = persona_create(owner_a.org, "practitioner")
    clinic = clinic_build(owner_a, practitioner_membership=practitioner.membership)
    p = clinic.patients
    rows = {
        "nine": _appointment(clinic, start=at(MONDAY, 9), patient=p[0], status="confirmed"),
        "ten": _appointment(clinic, start=at(MONDAY, 10), patient=p[1]),
        "eleven": _appointment(
            clinic,
            start=at(MONDAY, 11),
            patient=p[2],
            practitioner=clinic.other_practitioner,
            status="confirmed",
        ),
        "noon": _appointment(
            clinic,
            start=at(MONDAY, 12),
            patient=p[0],
            practitioner=clinic.other_practitioner,
            status="cancelled",
        ),
    }
    clinic.rows = rows
    clinic.practitioner_persona = practitioner
    return clinic


def _page(client, persona, path="/"):
    client.force_login(persona.user)
    response = client.get(path)
    return response, response.content.decode()


SECTIONS = ("today-desk", "today-figures", "today-my-day", "today-next", "today-unpaid")


def _sections(html) -> set[str]:
    return {s for s in SECTIONS if f'id="{s}"' in html}


@pytest.mark.parametrize(
    ("role", "expected"),
    [
        ("assistant", {"today-desk", "today-unpaid"}),
        ("manager", {"today-desk", "today-unpaid", "today-figures"}),
        ("admin", {"today-desk", "today-unpaid", "today-figures"}),
        ("owner", {"today-desk", "today-unpaid", "today-figures"}),
    ],
)
def test_each_staff_role_sees_its_sections(client, day, role, expected):
    persona = day.owner if role == "owner" else persona_create(day.org, role)
    response, html = _page(client, persona)
    assert response.status_code == 200
    assert _sections(html) == expected
    # the front desk's list: every practitioner's patients, with their chart links
    for patient in day.patients:
        assert f'href="/patients/{patient.id}/"' in html
    assert day.practitioner.display_name in html and day.other_practitioner.display_name in html


def test_front_desk_sees_the_day_with_its_buttons(client, day):
    assistant = persona_create(day.org, "assistant")
    _, html = _page(client, assistant)
    nine = _row_html(html, day.rows["nine"])
    assert "09:00" in nine and "Confirmed" in nine and day.consult.name in nine
    assert "Check in" in nine and "Cancel" in nine
    assert "No-show" not in nine  # not before the appointment's start
    ten = _row_html(html, day.rows["ten"])
    assert ">Confirm<" in ten and ">Check in<" in ten  # confirm, or check in on arrival
    noon = _row_html(html, day.rows["noon"])
    assert "Cancelled" in noon and "<form" not in noon
    # the unconfirmed list names the 10:00 patient; nobody is waiting yet
    unconfirmed = html.split('id="today-unconfirmed"')[1].split("</section>")[0]
    assert day.patients[1].display_name in unconfirmed
    assert day.patients[0].display_name not in unconfirmed
    assert "Nobody is waiting." in html


def _row_html(html: str, appointment) -> str:
    match = re.search(rf'<li[^>]*id="appointment-{appointment.id}".*?</li>', html, re.S)
    assert match, f"no row for {appointment.id}"
    return match.group(0)


def test_practitioner_sees_my_day_only(client, day):
    response, html = _page(client, day.practitioner_persona)
    assert response.status_code == 200
    assert _sections(html) == {"today-my-day"}
    assert f'href="/patients/{day.patients[0].id}/"' in html
    assert f'href="/patients/{day.patients[1].id}/"' in html
    # Dr Two's patient is not on Dr One's day
    assert day.patients[2].display_name not in html
    assert f'data-alerts-for="{day.patients[0].id}"' in html
    # the clinical record's paperwork: nothing to write on this day's data
    assert "Notes still to write" in html and 'id="no-notes-to-write"' in html
    assert "Check in" not in html


def test_patient_sees_their_appointments_balance_and_invoices(client, day):
    from clinic.directory.models import Patient
    from tests.billing import factories as billing

    patient = persona_create(day.org, "patient")
    with tenant_context(day.org.id):
        Patient.objects.filter(id=day.patients[0].id).update(membership_id=patient.membership.id)
    issued = billing.issued_invoice(
        day.owner, day.patients[0], lines=[billing.line(unit_price="80.00")]
    )
    billing.issued_invoice(day.owner, day.patients[1])  # someone else's
    response, html = _page(client, patient)
    assert response.status_code == 200
    assert _sections(html) == {"today-next"}
    assert 'id="today-balance"' in html and "80,00\xa0€" in html  # English in France: en_FR
    assert f'href="/billing/invoices/{issued.id}/"' in html
    assert len(re.findall(r'href="/billing/invoices/[0-9a-f-]{36}/"', html)) == 1
    # their 09:00 is listed, the cancelled 12:00 and other patients' appointments are not
    assert "09:00" in html and "12:00" not in html and "10:00" not in html
    assert "Previous day" not in html
    # the invoice link opens for the patient
    assert client.get(f"/billing/invoices/{issued.id}/").status_code == 200


def test_figures_for_the_day(client, day, clock):
    from tests.billing import factories as billing

    billing.issued_invoice(
        day.owner, day.patients[0], lines=[billing.line(unit_price="120.00")], issue_date=MONDAY
    )
    billing.issued_invoice(
        day.owner,
        day.patients[1],
        lines=[billing.line(unit_price="999.00")],
        issue_date=MONDAY - timedelta(days=1),
    )
    billing.payment(day.owner, day.patients[0], amount="45.50")
    _, html = _page(client, day.owner)

    def figure(name):
        return re.search(rf'data-figure="{name}">(.*?)</div>', html, re.S).group(1)

    assert figure("booked") == "3"
    assert figure("cancellations") == "1"
    assert figure("arrived") == "0" and figure("no_shows") == "0"
    assert "120,00\xa0€" in figure("issued")
    assert "45,50\xa0€" in figure("collected")


def test_money_follows_the_language(client, day):
    from tests.billing import factories as billing

    billing.issued_invoice(
        day.owner, day.patients[0], lines=[billing.line(unit_price="1234.50")], issue_date=MONDAY
    )
    client.force_login(day.owner.user)
    client.post("/i18n/setlang/", {"language": "fr", "next": "/"})
    html = client.get("/").content.decode()
    assert "1\u202f234,50\xa0€" in html and "Aujourd’hui" in html


# --- actions ---------------------------------------------------------------------------------


def _post(client, persona, appointment, action, data):
    client.force_login(persona.user)
    return client.post(
        f"/today/appointments/{appointment.id}/{action}/", data, headers={"HX-Request": "true"}
    )


def test_check_in_re_renders_the_row(client, day):
    assistant = persona_create(day.org, "assistant")
    response = _post(client, assistant, day.rows["nine"], "status", {"status": "checked_in"})
    assert response.status_code == 200
    html = response.content.decode()
    assert html.lstrip().startswith(
        f'<li class="list-group-item" id="appointment-{day.rows["nine"].id}"'
    )
    assert "Checked in" in html and "Check in<" not in html
    assert _status_of(day, day.rows["nine"]).status == "checked_in"
    # now waiting, since 07:00
    _, page = _page(client, assistant)
    waiting = page.split('id="today-waiting"')[1].split("</section>")[0]
    assert day.patients[0].display_name in waiting and "07:00" in waiting


def test_check_in_an_unconfirmed_appointment_then_refuse_a_second_check_in(client, day):
    # a patient who arrives without having confirmed is checked in at once, in one click
    assistant = persona_create(day.org, "assistant")
    ten = day.rows["ten"]
    assert _status_of(day, ten).status == "scheduled"
    assert _post(client, assistant, ten, "status", {"status": "checked_in"}).status_code == 200
    assert _status_of(day, ten).status == "checked_in"
    refused = _post(client, assistant, ten, "status", {"status": "checked_in"})
    assert refused.status_code == 409
    assert "Not changed: the appointment’s status is “Checked in”." in refused.content.decode()
    assert _status_of(day, ten).status == "checked_in"


def test_no_show_refused_before_the_start_and_recorded_after(client, day, clock):
    from clinic.audit.models import AuditEvent

    assistant = persona_create(day.org, "assistant")
    nine = day.rows["nine"]

    def audits():
        with tenant_context(day.org.id):
            return AuditEvent.objects.filter(object_id=str(nine.id)).count()

    before = audits()
    response = _post(client, assistant, nine, "status", {"status": "no_show"})
    assert response.status_code == 409
    html = response.content.decode()
    assert "A no-show can only be recorded once the appointment has started." in html
    assert 'role="alert"' in html and "No-show<" not in html
    row = _status_of(day, nine)
    assert row.status == "confirmed" and row.status_changed_at is None
    assert audits() == before  # nothing written

    clock.travel(at(MONDAY, 9, 20))
    _, page = _page(client, assistant)
    assert "No-show" in _row_html(page, nine)
    response = _post(client, assistant, nine, "status", {"status": "no_show"})
    assert response.status_code == 200 and "No-show" in response.content.decode()
    assert _status_of(day, nine).status == "no_show"


def test_cancel_with_a_reason(client, day):
    assistant = persona_create(day.org, "assistant")
    eleven = day.rows["eleven"]
    response = _post(client, assistant, eleven, "cancel", {"reason": "Called: has the flu"})
    assert response.status_code == 200
    assert "Cancelled" in response.content.decode()
    row = _status_of(day, eleven)
    assert row.status == "cancelled" and row.cancel_reason == "Called: has the flu"
    # twice: refused in words, nothing changed
    again = _post(client, assistant, eleven, "cancel", {"reason": "again"})
    assert again.status_code == 409
    assert "Not changed: the appointment’s status is “Cancelled”." in again.content.decode()
    assert _status_of(day, eleven).cancel_reason == "Called: has the flu"


def test_actions_refuse_bad_input_other_clinics_and_roles(client, day, owner_b):
    assistant = persona_create(day.org, "assistant")
    nine = day.rows["nine"]
    bad = _post(client, assistant, nine, "status", {"status": "completed"})
    assert bad.status_code == 400 and "Choose confirm, check in or no-show." in bad.content.decode()
    assert _status_of(day, nine).status == "confirmed"
    # another clinic's owner: not found
    assert _post(client, owner_b, nine, "status", {"status": "checked_in"}).status_code == 404
    assert _post(client, owner_b, nine, "cancel", {}).status_code == 404
    # a practitioner acts on their own schedule only
    other = day.rows["eleven"]
    practitioner = day.practitioner_persona
    assert _post(client, practitioner, other, "status", {"status": "checked_in"}).status_code == 404
    # a patient may not
    patient = persona_create(day.org, "patient")
    assert _post(client, patient, nine, "status", {"status": "checked_in"}).status_code == 403
    assert _post(client, patient, nine, "cancel", {}).status_code == 403
    # GET is not an action
    client.force_login(assistant.user)
    assert client.get(f"/today/appointments/{nine.id}/status/").status_code == 405
    assert _status_of(day, nine).status == "confirmed"
    assert _status_of(day, other).status == "confirmed"


def test_without_htmx_the_action_returns_to_the_day(client, day):
    assistant = persona_create(day.org, "assistant")
    client.force_login(assistant.user)
    response = client.post(
        f"/today/appointments/{day.rows['nine'].id}/status/", {"status": "checked_in"}
    )
    assert response.status_code == 302 and response["Location"] == f"/?day={MONDAY}"


# --- the day -----------------------------------------------------------------------------------


def test_day_switcher(client, day):
    assistant = persona_create(day.org, "assistant")
    _, html = _page(client, assistant, f"/?day={MONDAY + timedelta(days=1)}")
    assert "No appointments on this day." in html
    assert f'href="?day={MONDAY}"' in html and "Nobody is waiting." not in html
    _, html = _page(client, assistant, f"/?day={MONDAY}")
    assert day.patients[0].display_name in html
    response, html = _page(client, assistant, "/?day=2031-02-30")
    assert response.status_code == 400
    assert "“2031-02-30” is not a date (YYYY-MM-DD): showing today." in html
    assert day.patients[0].display_name in html  # today's page
    response, html = _page(client, assistant, "/?day=0202-06-02")
    assert response.status_code == 400 and "too far from today" in html


def test_an_appointment_at_half_past_midnight_in_kolkata_is_on_that_day(client, clock):
    org = org_create(unique_slug("kolkata"), "Kolkata Clinic", time_zone="Asia/Kolkata")
    owner = persona_create(org, "owner")
    kolkata = ZoneInfo("Asia/Kolkata")
    clinic = clinic_build(owner, time_zone="Asia/Kolkata")
    the_day = date(2031, 6, 3)
    clock.travel(datetime.combine(the_day - timedelta(days=1), time(20), tzinfo=kolkata))
    start = datetime.combine(the_day, time(0, 30), tzinfo=kolkata)  # 19:00 UTC the day before
    late = datetime.combine(the_day, time(23, 45), tzinfo=kolkata)  # 18:15 UTC that day
    first = _appointment(clinic, start=start, patient=clinic.patients[0])
    last = _appointment(clinic, start=late, patient=clinic.patients[1])
    _, html = _page(client, owner, f"/?day={the_day}")
    assert f'id="appointment-{first.id}"' in html and f'id="appointment-{last.id}"' in html
    assert "00:30" in _row_html(html, first)
    _, html = _page(client, owner, f"/?day={the_day - timedelta(days=1)}")
    assert f'id="appointment-{first.id}"' not in html
    # "today" is the clinic's day (20:00 in Kolkata), whatever the server's UTC date
    _, html = _page(client, owner)
    assert 'aria-current="date"' in html and f'datetime="{the_day - timedelta(days=1)}"' in html


# --- failed messages -------------------------------------------------------------------------


def test_failed_messages_of_the_last_week(client, day):
    from clinic.notifications.models import Delivery

    def delivery(status, subject):
        with tenant_context(day.org.id):
            return Delivery.objects.create(
                event="appointment.reminder",
                template="appointment_reminder",
                channel="sms",
                status=status,
                recipient_kind="patient",
                patient=day.patients[0],
                recipient_name="Pat Zero",
                to_address="+33600000000",
                language="en",
                scheduled_for=MORNING,
                idempotency_key=subject,
                rendered_subject=subject,
                sent_at=MORNING if status == "sent" else None,
            )

    delivery("failed", "Reminder that failed")
    delivery("sent", "Reminder that went")
    old = delivery("bounced", "Bounced long ago")
    with tenant_context(day.org.id):
        Delivery.objects.filter(id=old.id).update(updated_at=MORNING - timedelta(days=8))
    assistant = persona_create(day.org, "assistant")
    _, html = _page(client, assistant)
    failed = html.split('id="today-failed"')[1].split("</section>")[0]
    assert "Reminder that failed" in failed
    assert "Reminder that went" not in failed and "Bounced long ago" not in failed


# --- queries -----------------------------------------------------------------------------------


def _busy_day(clinic, n: int):
    """`n` appointments on MONDAY, each with its own patient, and an unpaid invoice for some."""
    from clinic.directory.models import Patient
    from tests.billing import factories as billing

    with tenant_context(clinic.org.id):
        patients = Patient.objects.bulk_create(
            Patient(
                organization_id=clinic.org.id,
                mrn=f"Q{n}-{i}-{unique_slug('m')}",
                given_name=f"Busy{i}",
                family_name="Day",
                date_of_birth=date(1990, 1, 1),
            )
            for i in range(n)
        )
    for i, patient in enumerate(patients):
        practitioner = clinic.practitioner if i % 2 else clinic.other_practitioner
        start = at(MONDAY, 8) + timedelta(minutes=10 * i)
        _appointment(
            clinic,
            start=start,
            patient=patient,
            practitioner=practitioner,
            status=["scheduled", "confirmed", "checked_in"][i % 3],
            allows_overlap=True,
            status_changed_at=MORNING,
        )
    for patient in patients[:3]:
        billing.issued_invoice(clinic.owner, patient, lines=[billing.line(unit_price="10.00")])


def _queries(client, persona) -> int:
    client.force_login(persona.user)
    with CaptureQueriesContext(connection) as ctx:
        response = client.get("/")
    assert response.status_code == 200
    return len(ctx.captured_queries)


@pytest.mark.parametrize("role", ["owner", "assistant", "practitioner"])
def test_constant_number_of_queries(client, owner_a, owner_b, clock, role):
    clock.travel(MORNING)
    counts = []
    for owner, n in ((owner_a, 3), (owner_b, 60)):
        practitioner = persona_create(owner.org, "practitioner")
        clinic = clinic_build(owner, practitioner_membership=practitioner.membership)
        _busy_day(clinic, n)
        persona = {
            "owner": owner,
            "assistant": persona_create(owner.org, "assistant"),
            "practitioner": practitioner,
        }[role]
        counts.append(_queries(client, persona))
    assert counts[0] == counts[1], counts
    assert counts[1] <= 16


def test_page_lists_sixty_appointments(client, owner_a, clock):
    clock.travel(MORNING)
    clinic = clinic_build(owner_a)
    _busy_day(clinic, 60)
    _, html = _page(client, owner_a)
    assert html.count('class="list-group-item" id="appointment-') == 60
    assert html.count("Busy") >= 60
    assert "08:00" in _row_html(html, _first_of(clinic))  # the clinic's wall time


def _first_of(clinic):
    from clinic.scheduling.models import Appointment

    with tenant_context(clinic.org.id):
        return Appointment.objects.order_by("start_at").first()
