"""The patient chart in a real browser, at a desktop size and on a phone (390×844): every section
is there, and the timeline's "Older" link brings the next page in place (htmx)."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import login
from tests.directory.chart_rows import history_build, plan_make

NOW = "2031-03-03T12:00:00+00:00"


@pytest.mark.parametrize(
    "viewport", [{"width": 1366, "height": 900}, {"width": 390, "height": 844}], ids=str
)
def test_open_the_chart_and_follow_older(browser_page, committed_persona, clock, viewport):
    from clinic.core.tenancy import tenant_context
    from clinic.scheduling.models import Appointment

    clock.travel(NOW)
    owner = committed_persona("owner")
    history = history_build(owner, appointments=4, payments=22, deliveries=2)
    plan_make(owner, history, title="Knee programme")
    with tenant_context(owner.org.id):
        Appointment.objects.filter(patient=history.patient, start_at__gt=NOW).update(
            status="scheduled"
        )
    page = browser_page
    page.set_viewport_size(viewport)
    login(page, owner)
    page.goto(f"/patients/{history.patient.id}/")

    expect(page.get_by_role("heading", level=1)).to_contain_text(history.patient.given_name)
    expect(page.locator("#patient-age")).to_be_visible()
    expect(page.locator("#balance-due")).to_be_visible()
    for heading in (
        "Upcoming appointments",
        "Past appointments",
        "Treatment plans",
        "Invoices and payments",
        "Messages sent",
        "Timeline",
    ):
        expect(page.get_by_role("heading", name=heading, exact=True)).to_be_visible()
    expect(page.locator("#upcoming-appointments li")).to_have_count(2)
    expect(page.locator("#plan-list")).to_contain_text("Knee programme")
    expect(page.locator("#book-appointment")).to_be_visible()

    # cancelling asks first: the confirm button appears only when asked for
    first = page.locator("#upcoming-appointments li").first
    expect(first.get_by_role("button", name="Confirm cancellation")).to_be_hidden()
    first.locator("summary", has_text="Cancel").click()
    expect(first.get_by_role("button", name="Confirm cancellation")).to_be_visible()

    items = page.locator("#timeline-items .timeline-item")
    expect(items).to_have_count(20)
    older = page.get_by_role("link", name="Older")
    older.scroll_into_view_if_needed()
    older.click()
    expect(items).to_have_count(4 + 22 + 2 + 1)
    expect(page.get_by_role("link", name="Older")).to_have_count(0)
    # the oldest item is the first appointment
    expect(items.last).to_have_attribute("data-kind", "appointment")

    # the filter keeps to one kind
    page.locator("#timeline-kinds").get_by_role("link", name="Payments").click()
    expect(page.locator("#timeline-items .timeline-item[data-kind=payment]")).to_have_count(20)
    expect(page.locator("#timeline-items .timeline-item[data-kind=appointment]")).to_have_count(0)
