"""Time off and closures pages in a real browser: a practitioner requests time off, the owner
approves it from the queue (with its affected count) and reassigns the appointment on the
resolve screen; closures are imported from a list of dates. No serious accessibility
violation, in English and Arabic."""

from __future__ import annotations

from datetime import timedelta

import pytest
from playwright.sync_api import expect

from clinic.core.tenancy import tenant_context
from tests.browser.conftest import axe_violations, log_out, login, menu_open
from tests.scheduling.conftest import MONDAY, at, clinic_build


def _appointment(clinic, start):
    from clinic.scheduling.models import Appointment

    with tenant_context(clinic.org.id):
        return Appointment.objects.create(
            practitioner=clinic.practitioner,
            patient=clinic.patients[0],
            service=clinic.consult,
            location=clinic.location,
            start_at=start,
            end_at=start + timedelta(hours=1),
            occupied_start=start,
            occupied_end=start + timedelta(hours=1),
            status="scheduled",
        )


def _language(page, code: str) -> None:
    menu_open(page)
    if page.locator("#language-select").input_value() == code:
        return
    with page.expect_navigation():
        page.select_option("#language-select", code)


def test_request_approve_and_reassign(browser_page, committed_persona, clock):
    clock.travel(at(MONDAY - timedelta(days=7), 9))
    owner = committed_persona("owner")
    member = committed_persona("practitioner", org=owner.org)
    clinic = clinic_build(owner, practitioner_membership=member.membership)
    appointment = _appointment(clinic, at(MONDAY, 10))
    page = browser_page
    login(page, member)
    page.goto("/time-off/")
    page.fill("#to-from", MONDAY.isoformat())
    page.select_option("#to-type", "training")
    page.click("#time-off-form button[type=submit]")
    expect(page.locator("#time-off-list")).to_contain_text("Pending")
    log_out(page)

    login(page, owner)
    page.goto("/time-off/queue/")
    row = page.locator("#time-off-queue tbody tr").first
    expect(row.locator(".affected-count")).to_have_text("1")
    row.get_by_role("button", name="Approve").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Affected appointments")
    choice = page.locator(f"#choice-{appointment.id}")
    choice.select_option(f"reassign:{clinic.other_practitioner.id}")
    page.get_by_role("button", name="Apply").click()
    expect(page.locator("body")).to_contain_text("No appointment is affected.")
    with tenant_context(clinic.org.id):
        from clinic.scheduling.models import Appointment

        assert Appointment.objects.get(id=appointment.id).practitioner_id == (
            clinic.other_practitioner.id
        )


def test_closures_import(browser_page, committed_persona, clock):
    clock.travel(at(MONDAY - timedelta(days=7), 9))
    owner = committed_persona("owner")
    clinic_build(owner)
    page = browser_page
    login(page, owner)
    page.goto("/closures/")
    day = MONDAY + timedelta(days=3)
    page.fill("#cl-lines", f"{day.isoformat()} Founders day\n")
    page.click("#closure-import button[type=submit]")
    expect(page.locator("#closure-list")).to_contain_text("Founders day")


@pytest.mark.parametrize("language", ["en", "ar"])
def test_time_off_pages_have_no_serious_accessibility_violation(
    browser_page, committed_persona, clock, language
):
    clock.travel(at(MONDAY - timedelta(days=7), 9))
    owner = committed_persona("owner")
    clinic = clinic_build(owner)
    _appointment(clinic, at(MONDAY, 10))
    from clinic.scheduling.models import TimeOff

    with tenant_context(clinic.org.id):
        pending = TimeOff.objects.create(
            practitioner=clinic.practitioner, start_at=at(MONDAY, 0), end_at=at(MONDAY, 23)
        )
    page = browser_page
    login(page, owner)
    _language(page, language)
    found = {}
    for name, url in (
        ("time off", "/time-off/"),
        ("queue", "/time-off/queue/"),
        ("resolve", f"/time-off/{pending.id}/resolve/"),
        ("closures", "/closures/"),
    ):
        page.goto(url)
        page.locator("h1").wait_for()
        found[name] = axe_violations(page)
    assert {name: v for name, v in found.items() if v} == {}
