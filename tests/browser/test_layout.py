"""The shared layout in a real browser: the navigation fits one row on a desktop in every
language and collapses behind a menu button on a phone, no page scrolls sideways at 390 px
(wide tables scroll inside their own box), booking works from the calendar on a phone, and
axe-core finds no critical or serious accessibility violation on the key pages in English and
Arabic (issue 11, sections 5, 7 and Accessibility)."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import axe_violations, login, menu_open
from tests.scheduling.conftest import MONDAY, clinic_build


def _language(page, code: str) -> None:
    menu_open(page)
    if page.locator("#language-select").input_value() == code:
        return
    with page.expect_navigation():
        page.select_option("#language-select", code)


LONG_LOCATION_NAME = "Scheduling site 12345 – Rue du Faubourg Saint-Antoine"


def _location_rename(owner, location, name):
    from clinic.core.tenancy import tenant_context

    with tenant_context(owner.org.id):
        location.name = name
        location.save(update_fields=["name"])


def _invoice(owner, patient):
    from tests.billing import factories as billing

    return billing.issued_invoice(owner, patient=patient)


@pytest.mark.parametrize("language", ["en", "fr", "ar"])
def test_desktop_navigation_fits_one_row(browser_page, committed_persona, language):
    owner = committed_persona("owner")
    page = browser_page
    page.set_viewport_size({"width": 1366, "height": 900})
    login(page, owner)
    _language(page, language)
    expect(page.locator(".navbar-toggler")).to_be_hidden()
    nav = page.locator("nav.mainnav")
    expect(nav).to_be_visible()
    # one row: the bar is no taller than a single line of links plus its padding
    assert page.locator("header.topbar").bounding_box()["height"] < 70
    assert page.evaluate("document.documentElement.scrollWidth") <= 1366


def test_phone_menu_collapses_and_no_page_scrolls_sideways(phone_page, committed_persona):
    owner = committed_persona("owner")
    clinic = clinic_build(owner)
    invoice = _invoice(owner, clinic.patients[0])
    # names as long as a busy clinic's: a select sizes itself to its longest option
    _location_rename(owner, clinic.location, LONG_LOCATION_NAME)
    page = phone_page
    login(page, owner)
    nav = page.get_by_role("navigation", name="Main")
    expect(page.locator(".navbar-toggler")).to_be_visible()
    expect(nav.get_by_role("link", name="Patients")).to_be_hidden()
    page.locator(".navbar-toggler").click()
    expect(nav.get_by_role("link", name="Patients")).to_be_visible()
    nav.get_by_role("button", name="Clinic").click()
    expect(nav.get_by_role("link", name="Practitioners")).to_be_visible()
    nav.get_by_role("link", name="Practitioners").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Practitioners")

    for path in (
        "/",
        "/calendar/",
        "/patients/",
        "/billing/invoices/",
        f"/billing/invoices/{invoice.id}/",
        "/plans/",
        "/practitioners/",
        "/audit/",
        f"/patients/{clinic.patients[0].id}/privacy/",
        "/waitlist/settings/",
        f"/availability/{clinic.practitioner.id}/",
    ):
        page.goto(path)
        page.wait_for_load_state("networkidle")
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"{path} is {width}px wide on a 390px phone"
    # the invoice list's table is wider than the phone: it scrolls inside its own box
    page.goto("/billing/invoices/")
    box = page.locator(".table-responsive").first
    assert box.evaluate("e => e.scrollWidth > e.clientWidth")


def test_book_from_the_calendar_on_a_phone(phone_page, committed_persona):
    owner = committed_persona("owner")
    clinic = clinic_build(owner)
    page = phone_page
    login(page, owner)
    page.goto(f"/calendar/?date={MONDAY.isoformat()}")
    page.wait_for_load_state("networkidle")
    # a phone opens on one day, with the day and list views only
    expect(page.locator(".ec-time-grid.ec-day-view")).to_have_count(1)
    expect(page.locator(".ec-toolbar button", has_text="list")).to_be_visible()
    expect(page.locator(".ec-toolbar button", has_text="week by column")).to_have_count(0)

    page.get_by_role("button", name="Book appointment").click()
    dialog = page.get_by_role("dialog", name="Book an appointment")
    expect(dialog).to_be_visible()
    box = dialog.bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= 390
    dialog.get_by_role("searchbox", name="Patient").fill(clinic.patients[0].family_name)
    dialog.get_by_role("button", name=re.compile(clinic.patients[0].given_name)).first.click()
    dialog.get_by_label("Practitioner").select_option(str(clinic.practitioner.id))
    dialog.get_by_label("Service").select_option(str(clinic.consult.id))
    dialog.get_by_label("Start").fill(f"{MONDAY.isoformat()}T10:00")
    expect(dialog.locator("#book-check")).to_have_text("This time is free.")
    dialog.get_by_role("button", name="Book", exact=True).scroll_into_view_if_needed()
    dialog.get_by_role("button", name="Book", exact=True).click()
    expect(page.locator("#cal-message")).to_have_text("Booked.")
    expect(page.locator(".ec-event", has_text=clinic.patients[0].display_name)).to_have_count(1)


@pytest.mark.parametrize("language", ["en", "ar"])
def test_key_pages_have_no_serious_accessibility_violation(
    browser_page, committed_persona, language
):
    from clinic.care import services as care
    from clinic.core.tenancy import tenant_context

    owner = committed_persona("owner")
    clinic = clinic_build(owner)
    patient = clinic.patients[0]
    invoice = _invoice(owner, patient)
    with tenant_context(owner.org.id, owner.user.id):
        plan = care.plan_create(
            actor=clinic.actor(),
            data={
                "patient_id": patient.id,
                "practitioner_id": clinic.practitioner.id,
                "title": "Knee rehab",
                "start_date": MONDAY,
                "service_id": clinic.consult.id,
                "location_id": clinic.location.id,
                "planned_consultations": 4,
            },
        )
    page = browser_page
    page.goto("/login/")
    pages = {"login": []}
    pages["login"] = axe_violations(page)
    login(page, owner)
    _language(page, language)
    for name, path in {
        "today": "/",
        "calendar": f"/calendar/?date={MONDAY.isoformat()}",
        "patients": "/patients/",
        "chart": f"/patients/{patient.id}/",
        "invoice editor": "/billing/invoices/new/",
        "invoice": f"/billing/invoices/{invoice.id}/",
        "plan": f"/plans/{plan.id}/",
        "planner": f"/plans/{plan.id}/planner/",
        "members": "/members/",
        "settings": "/settings/organization/",
        "audit log": "/audit/",
        "personal data": f"/patients/{patient.id}/privacy/",
        "waitlist settings": "/waitlist/settings/",
        "availability": f"/availability/{clinic.practitioner.id}/",
    }.items():
        page.goto(path)
        page.wait_for_load_state("networkidle")
        pages[name] = axe_violations(page)
    assert {name: found for name, found in pages.items() if found} == {}
