"""The calendar in a real browser: book from the calendar (button or empty slot) with the inline
conflict check, a refused drag snaps back with the reason, rescheduling with the keyboard through
the Edit time form, status actions and cancelling with a reason, a series edited "this and
following", Arabic right-to-left."""

from __future__ import annotations

import json
import re
from datetime import timedelta

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
    # the move is confirmed first; the refusal is said in the dialog, once; Cancel snaps back
    confirm = page.get_by_role("dialog", name="Move this appointment?")
    confirm.get_by_role("button", name="Move", exact=True).click()
    message = confirm.locator("#move-errors")
    expect(message).to_contain_text("Not moved:")
    expect(message).to_contain_text("Conflicts with")
    expect(message).to_contain_text("practitioner")
    expect(page.locator("#cal-message")).to_be_hidden()
    confirm.get_by_role("button", name="Cancel").click()
    after = page.locator(".ec-event", has_text=clinic.patients[0].display_name).bounding_box()
    target_after = target.bounding_box()
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


# --- booking from an empty slot, the inline check, keyboard editing, cancel, series, RTL ------


def _appointments(clinic, patient):
    from clinic.core.tenancy import tenant_context
    from clinic.scheduling.models import Appointment

    with tenant_context(clinic.org.id):
        return list(Appointment.objects.filter(patient=patient).order_by("start_at"))


def _click_slot(page, day_class, hour):
    """Click the week grid's first quarter hour of `hour` in a day column (the grid starts at
    07:00)."""
    slot = page.eval_on_selector(
        ".ec-main", "e => parseFloat(getComputedStyle(e).getPropertyValue('--ec-slot-height'))"
    )
    box = page.locator(f".ec-body .ec-day.{day_class}").bounding_box()
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + (hour - 7) * 4 * slot + slot / 2)


def _pick_patient(dialog, patient):
    dialog.get_by_role("searchbox", name="Patient").fill(patient.family_name)
    dialog.get_by_role("button", name=re.compile(patient.given_name)).first.click()


def _tab_to(page, locator, key="Tab", most=6):
    for _ in range(most):
        page.keyboard.press(key)
        if locator.evaluate("e => e === document.activeElement"):
            return
    raise AssertionError(f"{locator} not reached with Tab")


def _type_time(page, hour):
    """Type hh:00 into the focused time field, whether Chromium shows it with 24 hours or with
    AM/PM (then the last key sets it; a 24-hour field ignores it). Hours 1 to 12 only."""
    page.keyboard.type(f"{hour:02d}00{'P' if hour == 12 else 'A'}")


def _is_api(method, path_end):
    return lambda r: r.request.method == method and r.url.split("?")[0].endswith(path_end)


def test_book_by_clicking_an_empty_slot(browser_page, committed_persona):
    owner = committed_persona("owner")
    clinic = clinic_build(owner)
    page = browser_page
    login(page, owner)
    _open_week(page, clinic)

    _click_slot(page, "ec-mon", 14)
    dialog = page.get_by_role("dialog", name="Book an appointment")
    expect(dialog.get_by_label("Start")).to_have_value(f"{MONDAY.isoformat()}T14:00")
    expect(dialog.get_by_label("End", exact=True)).to_have_value("")  # the service's duration
    _pick_patient(dialog, clinic.patients[0])
    dialog.get_by_label("Service").select_option(str(clinic.consult.id))
    expect(dialog.locator("#book-check")).to_have_text("This time is free.")
    with page.expect_response(_is_api("POST", "/api/v1/appointments")) as response:
        dialog.get_by_role("button", name="Book", exact=True).click()
    assert response.value.status == 201
    expect(page.locator(".ec-event", has_text=clinic.patients[0].display_name)).to_have_count(1)
    [booked] = _appointments(clinic, clinic.patients[0])
    assert (booked.start_at, booked.end_at) == (at(MONDAY, 14), at(MONDAY, 15))


def test_booking_dialog_shows_a_conflict_before_saving(browser_page, committed_persona):
    owner = committed_persona("owner")
    clinic = clinic_build(owner)
    _book(clinic, clinic.patients[1], 11)
    page = browser_page
    login(page, owner)
    _open_week(page, clinic)

    page.get_by_role("button", name="Book appointment").click()
    dialog = page.get_by_role("dialog", name="Book an appointment")
    _pick_patient(dialog, clinic.patients[0])
    dialog.get_by_label("Service").select_option(str(clinic.consult.id))
    with page.expect_response(_is_api("POST", "/appointments/check")):
        dialog.get_by_label("Start").fill(f"{MONDAY.isoformat()}T11:30")
    check = dialog.locator("#book-check")
    expect(check).to_contain_text("Taken:")
    expect(check).to_contain_text("11:00")
    expect(check).to_contain_text("practitioner")
    expect(check).to_have_class(re.compile("error"))
    # the time is taken: the patient can go on the waitlist for that service instead
    waitlist = dialog.get_by_role("link", name="Add to waitlist")
    expect(waitlist).to_be_visible()
    waitlist.click()
    expect(page.get_by_label("Service")).to_have_value(str(clinic.consult.id))
    expect(page.locator("main")).to_contain_text(clinic.patients[0].given_name)


def test_no_waitlist_link_while_the_time_is_free(browser_page, committed_persona):
    owner = committed_persona("owner")
    clinic = clinic_build(owner)
    page = browser_page
    login(page, owner)
    _open_week(page, clinic)
    page.get_by_role("button", name="Book appointment").click()
    dialog = page.get_by_role("dialog", name="Book an appointment")
    _pick_patient(dialog, clinic.patients[0])
    dialog.get_by_label("Service").select_option(str(clinic.consult.id))
    with page.expect_response(_is_api("POST", "/appointments/check")):
        dialog.get_by_label("Start").fill(f"{MONDAY.isoformat()}T11:30")
    expect(dialog.locator("#book-check")).to_have_class(re.compile("ok"))
    expect(dialog.get_by_role("link", name="Add to waitlist")).to_be_hidden()


def test_reschedule_with_the_keyboard_only(browser_page, committed_persona):
    owner = committed_persona("owner")
    clinic = clinic_build(owner)
    appointment = _book(clinic, clinic.patients[0], 9)
    _book(clinic, clinic.patients[1], 12)
    page = browser_page
    login(page, owner)
    _open_week(page, clinic)
    event = page.locator(f'.ec-event[data-appointment-id="{appointment["id"]}"]')
    event.focus()
    page.keyboard.press("Enter")
    dialog = page.locator("#event-dialog")
    toggle = dialog.get_by_role("button", name="Edit time")
    expect(toggle).to_be_focused()  # the dialog's first control
    page.keyboard.press("Enter")
    expect(toggle).to_have_attribute("aria-expanded", "true")
    expect(dialog.get_by_label("Date")).to_be_focused()
    start = dialog.get_by_label("Start time")
    _tab_to(page, start)  # past the date's day, month and year
    _type_time(page, 12)  # onto the 12:00 appointment
    expect(dialog.get_by_label("End time")).to_have_value("13:00")  # the end follows
    with page.expect_response(_is_api("PATCH", appointment["id"])) as refused:
        page.keyboard.press("Enter")
    assert refused.value.status == 409
    errors = dialog.locator("#edit-errors")
    expect(errors).to_contain_text("Not moved:")
    expect(errors).to_contain_text("Conflicts with")
    expect(errors).to_contain_text("12:00")
    expect(start).to_have_value("12:00")  # what was typed is kept
    expect(start).to_be_focused()
    assert _appointments(clinic, clinic.patients[0])[0].start_at == at(MONDAY, 9)

    _tab_to(page, dialog.get_by_label("Date"), key="Shift+Tab")  # to the start's first part
    _tab_to(page, start)
    _type_time(page, 11)
    with page.expect_response(_is_api("PATCH", appointment["id"])) as moved:
        page.keyboard.press("Enter")
    assert moved.value.status == 200
    expect(page.locator("#cal-message")).to_have_text("Moved.")
    expect(dialog).to_be_hidden()
    expect(page.locator(f'.ec-event[data-appointment-id="{appointment["id"]}"]')).to_be_focused()
    [mine] = _appointments(clinic, clinic.patients[0])
    assert (mine.start_at, mine.end_at) == (at(MONDAY, 11), at(MONDAY, 12))


def test_cancel_with_a_reason(browser_page, committed_persona):
    owner = committed_persona("owner")
    clinic = clinic_build(owner)
    appointment = _book(clinic, clinic.patients[0], 9)
    page = browser_page
    login(page, owner)
    _open_week(page, clinic)
    page.locator(f'.ec-event[data-appointment-id="{appointment["id"]}"]').click()
    dialog = page.locator("#event-dialog")
    dialog.get_by_label("Reason (for a cancellation)").fill("Owner is ill")
    with page.expect_response(_is_api("POST", "/status")) as response:
        dialog.get_by_role("button", name="Cancel appointment").click()
    assert response.value.status == 200
    expect(page.locator("#cal-message")).to_have_text("Updated.")
    expect(page.locator(f'.ec-event[data-appointment-id="{appointment["id"]}"]')).to_have_count(0)
    [cancelled] = _appointments(clinic, clinic.patients[0])
    assert (cancelled.status, cancelled.cancel_reason) == ("cancelled", "Owner is ill")


def test_edit_one_occurrence_and_the_following_of_a_series(browser_page, committed_persona):
    owner = committed_persona("owner")
    clinic = clinic_build(owner)
    response = Client(HTTP_HOST="localhost").post(
        "/api/v1/appointment-series",
        data=json.dumps(
            {
                "practitioner_id": str(clinic.practitioner.id),
                "patient_id": str(clinic.patients[0].id),
                "service_id": str(clinic.consult.id),
                "start": at(MONDAY, 9).isoformat(),
                "rrule": "FREQ=WEEKLY;COUNT=3",
            }
        ),
        content_type="application/json",
        **clinic.owner.headers,
    )
    assert response.status_code == 201, response.content
    second = response.json()["occurrences"][1]
    page = browser_page
    login(page, owner)
    page.set_viewport_size({"width": 1280, "height": 1500})
    page.goto(f"/calendar/?date={(MONDAY + timedelta(days=7)).isoformat()}")
    page.select_option("#cal-practitioner", str(clinic.practitioner.id))
    page.locator(f'.ec-event[data-appointment-id="{second["id"]}"]').click()
    dialog = page.locator("#event-dialog")
    dialog.get_by_role("button", name="Edit time").click()
    dialog.get_by_label("Start time").fill("11:00")
    dialog.get_by_role("button", name="Save new time").click()
    scope = page.get_by_role("dialog", name="Move a recurring appointment")
    with page.expect_response(_is_api("PATCH", second["id"])) as patched:
        scope.get_by_role("button", name="This and following").click()
    assert patched.value.status == 200
    assert "scope=following" in patched.value.url
    expect(page.locator("#cal-message")).to_have_text("Moved.")
    starts = [a.start_at for a in _appointments(clinic, clinic.patients[0])]
    assert starts == [
        at(MONDAY, 9),
        at(MONDAY + timedelta(days=7), 11),
        at(MONDAY + timedelta(days=14), 11),
    ]


def test_arabic_dialogs_and_calendar_are_right_to_left(browser_page, committed_persona):
    owner = committed_persona("owner")
    clinic = clinic_build(owner)
    appointment = _book(clinic, clinic.patients[0], 9)
    page = browser_page
    login(page, owner)
    with page.expect_navigation():
        page.select_option("#language-select", "ar")
    _open_week(page, clinic)
    direction = "e => getComputedStyle(e).direction"
    assert page.eval_on_selector(".ec", direction) == "rtl"
    monday = page.locator(".ec-col-head.ec-mon").bounding_box()
    tuesday = page.locator(".ec-col-head.ec-tue").bounding_box()
    assert monday["x"] > tuesday["x"]  # the week runs from right to left

    page.locator("#cal-book").click()
    expect(page.locator("#book-dialog")).to_be_visible()
    assert page.eval_on_selector("#book-dialog", direction) == "rtl"
    page.keyboard.press("Escape")
    expect(page.locator("#book-dialog")).to_be_hidden()

    page.locator(f'.ec-event[data-appointment-id="{appointment["id"]}"]').focus()
    page.keyboard.press("Enter")
    page.locator("#edit-toggle").click()
    expect(page.locator("#edit-form legend")).to_have_text("تعديل الوقت")
    assert page.eval_on_selector("#event-dialog", direction) == "rtl"
    assert page.eval_on_selector("#edit-form", direction) == "rtl"


def test_times_in_the_appointments_zone_and_field_errors_inline(browser_page, committed_persona):
    owner = committed_persona("owner")  # the organisation is in Europe/Paris
    clinic = clinic_build(owner, time_zone="America/New_York")
    appointment = _book(clinic, clinic.patients[0], 16)  # 16:00 in Paris, 10:00 in New York
    page = browser_page
    login(page, owner)
    _open_week(page, clinic)
    page.locator(f'.ec-event[data-appointment-id="{appointment["id"]}"]').click()
    dialog = page.locator("#event-dialog")
    expect(dialog.locator("#event-facts")).to_contain_text(re.compile(r"10:00.*America/New_York"))
    dialog.get_by_role("button", name="Edit time").click()
    expect(dialog.get_by_label("Start time")).to_have_value("10:00")
    expect(dialog.locator("#edit-zone")).to_have_text("Time zone: America/New_York")

    end = dialog.get_by_label("End time")
    end.fill("09:00")  # before the start: 422, the message next to the field
    with page.expect_response(_is_api("PATCH", appointment["id"])) as refused:
        dialog.get_by_role("button", name="Save new time").click()
    assert refused.value.status == 422
    expect(dialog.locator("#edit-end-error")).not_to_be_empty()
    expect(end).to_have_attribute("aria-invalid", "true")
    expect(end).to_have_value("09:00")
    expect(end).to_be_focused()


def test_location_filter_shows_practitioners_working_there_by_rule(browser_page, committed_persona):
    from datetime import time

    from clinic.core.tenancy import tenant_context
    from clinic.directory.models import Location
    from clinic.scheduling.models import AvailabilityRule

    owner = committed_persona("owner")
    clinic = clinic_build(owner)
    with tenant_context(owner.org.id, owner.user.id):
        annex = Location.objects.create(name="Annex", time_zone="Europe/Paris")
        AvailabilityRule.objects.create(
            practitioner=clinic.other_practitioner,
            location=annex,
            weekday=5,
            start_time=time(9),
            end_time=time(12),
        )
    page = browser_page
    login(page, owner)
    page.goto(f"/calendar/?date={MONDAY.isoformat()}")
    page.get_by_role("button", name="day by column").click()
    page.select_option("#cal-location", str(annex.id))
    heads = page.locator(".ec-header .ec-col-head")
    expect(heads.filter(has_text=clinic.other_practitioner.display_name)).to_have_count(1)
    expect(heads.filter(has_text=clinic.practitioner.display_name)).to_have_count(0)
