"""The Today page in a real browser, at a desk and on a phone: the front desk checks a patient in
from the page (the row re-renders in place), and no-show is not offered before the start."""

from __future__ import annotations

from datetime import timedelta

import pytest
from playwright.sync_api import expect

from clinic.core.tenancy import tenant_context
from tests.browser.conftest import login
from tests.scheduling.conftest import MONDAY, at, clinic_build


def _appointment(clinic, patient, start, status="confirmed"):
    from clinic.scheduling.models import Appointment

    with tenant_context(clinic.org.id):
        return Appointment.objects.create(
            practitioner=clinic.practitioner,
            patient=patient,
            service=clinic.consult,
            location=clinic.location,
            start_at=start,
            end_at=start + timedelta(hours=1),
            occupied_start=start,
            occupied_end=start + timedelta(hours=1),
            status=status,
        )


@pytest.mark.parametrize(
    "viewport", [{"width": 1366, "height": 900}, {"width": 390, "height": 844}], ids=str
)
def test_check_a_patient_in_from_the_today_page(browser_page, committed_persona, clock, viewport):
    clock.travel(at(MONDAY, 9, 15))
    owner = committed_persona("owner")
    assistant = committed_persona("assistant", org=owner.org)
    clinic = clinic_build(owner)
    started = _appointment(clinic, clinic.patients[0], at(MONDAY, 9))
    later = _appointment(clinic, clinic.patients[1], at(MONDAY, 11))
    page = browser_page
    page.set_viewport_size(viewport)
    login(page, assistant)

    expect(page.get_by_role("heading", level=1)).to_have_text("Today")
    row = page.locator(f"#appointment-{started.id}")
    expect(row).to_contain_text(clinic.patients[0].display_name)
    expect(row).to_contain_text("09:00")
    expect(row.get_by_role("button", name="No-show")).to_be_visible()  # it has started
    future = page.locator(f"#appointment-{later.id}")
    expect(future.get_by_role("button", name="Check in")).to_be_visible()
    expect(future.get_by_role("button", name="No-show")).to_have_count(0)

    button = row.get_by_role("button", name="Check in")
    button.scroll_into_view_if_needed()
    box = button.bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= viewport["width"]  # reachable on a phone
    button.click()
    row = page.locator(f"#appointment-{started.id}")
    expect(row.locator(".badge")).to_have_text("Checked in")
    expect(row.get_by_role("button", name="Check in")).to_have_count(0)
    with tenant_context(clinic.org.id):
        from clinic.scheduling.models import Appointment

        assert Appointment.objects.get(id=started.id).status == "checked_in"

    page.reload()
    waiting = page.locator("#today-waiting")
    expect(waiting).to_contain_text(clinic.patients[0].display_name)
    expect(waiting).to_contain_text("09:15")


def test_cancel_asks_for_a_reason_first(browser_page, committed_persona, clock):
    clock.travel(at(MONDAY, 8))
    owner = committed_persona("owner")
    clinic = clinic_build(owner)
    appointment = _appointment(clinic, clinic.patients[0], at(MONDAY, 10))
    page = browser_page
    login(page, owner)
    row = page.locator(f"#appointment-{appointment.id}")
    row.get_by_text("Cancel…").click()
    row.get_by_label("Reason (optional)").fill("Rang to say she is ill")
    row.get_by_role("button", name="Cancel this appointment").click()
    row = page.locator(f"#appointment-{appointment.id}")
    expect(row.locator(".badge")).to_have_text("Cancelled")
    with tenant_context(clinic.org.id):
        from clinic.scheduling.models import Appointment

        saved = Appointment.objects.get(id=appointment.id)
        assert saved.status == "cancelled" and saved.cancel_reason == "Rang to say she is ill"


def test_wall_times_do_not_follow_the_browsers_zone(
    chromium, live_server_url, live_db, committed_persona, clock
):
    """A browser set to Los Angeles (-07:00 in June) sees the Paris clinic's wall times on the
    Today page and on the calendar: 10:00, never 01:00 (issue 11, section 1)."""
    from tests.browser.conftest import _browser_clock_follow

    clock.travel(at(MONDAY, 8))
    owner = committed_persona("owner")
    clinic = clinic_build(owner)
    booked = _appointment(clinic, clinic.patients[0], at(MONDAY, 10))
    context = chromium.new_context(
        base_url=live_server_url, locale="en-GB", timezone_id="America/Los_Angeles"
    )
    _browser_clock_follow(context, clock)
    page = context.new_page()
    try:
        assert page.evaluate("Intl.DateTimeFormat().resolvedOptions().timeZone") == (
            "America/Los_Angeles"
        )
        login(page, owner)
        row = page.locator(f"#appointment-{booked.id}")
        expect(row).to_contain_text("10:00")
        expect(row).not_to_contain_text("01:00")
        page.goto(f"/calendar/?date={MONDAY.isoformat()}")
        page.select_option("#cal-practitioner", str(clinic.practitioner.id))
        event = page.locator(f'.ec-event[data-appointment-id="{booked.id}"]')
        expect(event).to_contain_text("10:00")
    finally:
        context.close()
