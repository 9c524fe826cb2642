"""The calendar in a real browser: book from the calendar, a refused drag snaps back with the
reason, status actions and the keyboard, Arabic right-to-left."""

from __future__ import annotations

import json
import re

from django.test import Client
from playwright.sync_api import expect

from tests.browser.conftest import login
from tests.scheduling.conftest import MONDAY, at, clinic_build


def _book(clinic, patient, hour):
    response = Client(HTTP_HOST="localhost").post(
        "/api/v1/appointments",
        data=json.dumps(
            {
                "practitioner_id": str(clinic.practitioner.id),
                "patient_id": str(patient.id),
                "service_id": str(clinic.consult.id),
                "start": at(MONDAY, hour).isoformat(),
            }
        ),
        content_type="application/json",
        **clinic.owner.headers,
    )
    assert response.status_code == 201, response.content
    return response.json()


def _open_week(page, clinic):
    page.set_viewport_size({"width": 1280, "height": 1500})  # the whole day on screen
    page.goto(f"/calendar/?date={MONDAY.isoformat()}")
    page.select_option("#cal-practitioner", str(clinic.practitioner.id))
    page.wait_for_load_state("networkidle")


def test_book_from_the_calendar_then_a_refused_drag_snaps_back(browser_page, committed_persona):
    owner = committed_persona("owner")
    clinic = clinic_build(owner)
    page = browser_page
    login(page, owner)
    _open_week(page, clinic)

    page.get_by_role("button", name="Book appointment").click()
    dialog = page.get_by_role("dialog", name="Book an appointment")
    expect(dialog).to_be_visible()
    dialog.get_by_role("searchbox", name="Patient").fill(clinic.patients[0].family_name)
    dialog.get_by_role("button", name=re.compile(clinic.patients[0].given_name)).first.click()
    dialog.get_by_label("Practitioner").select_option(str(clinic.practitioner.id))
    dialog.get_by_label("Service").select_option(str(clinic.consult.id))
    dialog.get_by_label("Start").fill(f"{MONDAY.isoformat()}T10:00")
    expect(dialog.locator("#book-check")).to_have_text("This time is free.")
    dialog.get_by_role("button", name="Book", exact=True).click()
    expect(page.locator("#cal-message")).to_have_text("Booked.")
    booked = page.locator(".ec-event", has_text=clinic.patients[0].display_name)
    expect(booked).to_have_count(1)

    # another appointment at 12:00, then drag the 10:00 one onto it: refused, snaps back
    other = _book(clinic, clinic.patients[1], 12)
    page.reload()
    _open_week(page, clinic)
    source = page.locator(".ec-event", has_text=clinic.patients[0].display_name)
    target = page.locator(f'.ec-event[data-appointment-id="{other["id"]}"]')
    expect(source).to_be_visible()
    expect(target).to_be_visible()
    before = source.bounding_box()
    box = target.bounding_box()
    page.mouse.move(before["x"] + before["width"] / 2, before["y"] + 8)
    page.mouse.down()
    page.mouse.move(before["x"] + before["width"] / 2, before["y"] + 30, steps=5)
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + 8, steps=15)
    page.mouse.up()
    message = page.locator("#cal-message")
    expect(message).to_contain_text("Not moved:")
    expect(message).to_contain_text("Conflicts with")
    expect(message).to_contain_text("practitioner")
    after = page.locator(".ec-event", has_text=clinic.patients[0].display_name).bounding_box()
    target_after = target.bounding_box()  # the message above the calendar moved both down
    assert abs((target_after["y"] - after["y"]) - (box["y"] - before["y"])) < 2  # snapped back
    from clinic.core.tenancy import tenant_context
    from clinic.scheduling.models import Appointment

    with tenant_context(clinic.org.id):
        mine = Appointment.objects.get(patient=clinic.patients[0])
    assert mine.start_at == at(MONDAY, 10)


def test_status_actions_by_keyboard_and_arabic_layout(browser_page, committed_persona):
    owner = committed_persona("owner")
    clinic = clinic_build(owner)
    appointment = _book(clinic, clinic.patients[0], 9)
    page = browser_page
    login(page, owner)
    _open_week(page, clinic)
    event = page.locator(f'.ec-event[data-appointment-id="{appointment["id"]}"]')
    event.focus()
    page.keyboard.press("Enter")
    dialog = page.locator("#event-dialog")
    expect(dialog).to_be_visible()
    expect(dialog.get_by_role("button", name="Confirm")).to_be_visible()
    dialog.get_by_role("button", name="Confirm").click()
    expect(page.locator("#cal-message")).to_have_text("Updated.")
    from clinic.core.tenancy import tenant_context
    from clinic.scheduling.models import Appointment

    with tenant_context(clinic.org.id):
        assert Appointment.objects.get(id=appointment["id"]).status == "confirmed"

    with page.expect_navigation():
        page.select_option("#language-select", "ar")
    page.goto(f"/calendar/?date={MONDAY.isoformat()}")
    expect(page.locator("html")).to_have_attribute("dir", "rtl")
    expect(page.locator(".ec")).to_be_visible()
