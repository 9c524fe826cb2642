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


@pytest.mark.parametrize("language", ["en", "ar"])
@pytest.mark.parametrize(
    "viewport", [{"width": 1366, "height": 900}, {"width": 390, "height": 844}], ids=str
)
def test_the_section_links_stay_in_view_and_are_reached_by_keyboard(
    browser_page, live_server_url, committed_persona, clock, viewport, language
):
    from tests.browser.conftest import axe_violations

    clock.travel(NOW)
    owner = committed_persona("owner")
    history = history_build(owner, appointments=4, payments=22, deliveries=2)
    plan_make(owner, history, title="Knee programme")
    page = browser_page
    page.set_viewport_size(viewport)
    login(page, owner)
    page.context.add_cookies(
        [{"name": "django_language", "value": language, "url": live_server_url}]
    )
    page.goto(f"/patients/{history.patient.id}/")
    nav = page.locator("#chart-nav")
    links = nav.get_by_role("link")
    expect(links).to_have_count(9)  # the owner sees every section
    targets = links.evaluate_all("links => links.map(a => a.getAttribute('href'))")
    assert targets == [
        "#clinical-summary",
        "#documents",
        "#consents",
        "#appointments",
        "#plans",
        "#encounters",
        "#billing",
        "#messages",
        "#timeline",
    ]
    # one row whatever the width: on a phone it scrolls sideways, the page itself does not
    tops = links.evaluate_all("links => links.map(a => Math.round(a.getBoundingClientRect().top))")
    assert len(set(tops)) == 1, tops
    overflow = page.evaluate(
        "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 0, overflow
    if viewport["width"] == 390:
        assert nav.evaluate("n => n.scrollWidth > n.clientWidth")

    # keyboard: Tab reaches the links; Enter on the last one jumps to the timeline, and the row
    # is still at the top of the window (sticky)
    last = links.last
    for _ in range(60):
        page.keyboard.press("Tab")
        if last.evaluate("a => a === document.activeElement"):
            break
    expect(last).to_be_focused()
    page.keyboard.press("Enter")
    page.wait_for_url(f"**/patients/{history.patient.id}/#timeline")
    # (Bootstrap scrolls smoothly: wait until the scroll has arrived)
    page.wait_for_function(
        "() => document.getElementById('timeline').getBoundingClientRect().top < 200"
    )
    top = nav.evaluate("n => n.getBoundingClientRect().top")
    assert -1 <= top <= 1, top
    expect(page.locator("#timeline-title")).to_be_in_viewport()
    expect(last).to_be_in_viewport()  # on a phone the row scrolled to the focused link
    assert axe_violations(page) == []
