"""A readable and safe calendar (issue 11, section 4): working hours shaded and blocked time
labelled, the "now" line at the clinic's time, drags confirmed (old → new time) with Undo,
Cancel snapping back, the past refused without the override, the conflict message once with the
dialog's buttons in view, blocking time over an appointment listing it first, no axe violation
with the dialogs open."""

from __future__ import annotations

from datetime import timedelta

from playwright.sync_api import expect

from tests.browser.conftest import axe_violations, login
from tests.scheduling.conftest import MONDAY, at, clinic_build


def _book(clinic, patient, start, minutes=None):
    from clinic.core.tenancy import tenant_context
    from clinic.scheduling import services

    with tenant_context(clinic.org.id, clinic.owner.user.id):
        return services.appointment_book(
            actor=clinic.actor(),
            practitioner_id=clinic.practitioner.id,
            patient_id=patient.id,
            service_id=clinic.consult.id,
            start=start,
            end=start + timedelta(minutes=minutes) if minutes else None,
            override=True,
        )


def _start_of(clinic, appointment_id):
    from clinic.core.tenancy import tenant_context
    from clinic.scheduling.models import Appointment

    with tenant_context(clinic.org.id):
        return Appointment.objects.get(id=appointment_id).start_at


def _open_week(page, clinic):
    page.set_viewport_size({"width": 1280, "height": 1500})  # the whole day on screen
    page.goto(f"/calendar/?date={MONDAY.isoformat()}")
    page.select_option("#cal-practitioner", str(clinic.practitioner.id))
    page.wait_for_load_state("networkidle")


def _slot_height(page) -> float:
    return page.eval_on_selector(
        ".ec-main", "e => parseFloat(getComputedStyle(e).getPropertyValue('--ec-slot-height'))"
    )


def _drag(page, event, hours: float):
    """Drag an event down (or up) by `hours` on the 15-minute grid."""
    box = event.bounding_box()
    x, y = box["x"] + box["width"] / 2, box["y"] + 8
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x, y + 10, steps=4)
    page.mouse.move(x, y + hours * 4 * _slot_height(page), steps=15)
    page.mouse.up()


def test_working_hours_shaded_blocked_time_labelled_and_now_in_the_clinics_zone(
    browser_page, committed_persona, clock
):
    from clinic.core.tenancy import tenant_context
    from clinic.scheduling import services

    owner = committed_persona("owner")
    clinic = clinic_build(owner)  # Paris, Monday to Friday 08:00-18:00
    with tenant_context(clinic.org.id, owner.user.id):
        services.availability_exception_create(
            actor=clinic.actor(),
            practitioner_id=clinic.practitioner.id,
            kind="blocked",
            start=at(MONDAY, 13),
            end=at(MONDAY, 14),
            reason="Training",
        )
    short = _book(clinic, clinic.patients[0], at(MONDAY, 9), minutes=15)
    clock.travel(at(MONDAY, 10))  # 08:00 UTC: the browser and the server run in UTC
    page = browser_page
    login(page, owner)
    _open_week(page, clinic)
    # the shading is laid out on the week's grid: column 1 is Monday, 6 Saturday
    expect(page.locator(".ec-bg-event.cal-blocked")).to_contain_text("Training")
    # the shading arrives with the events' fetch and is laid out after: wait for Monday's three
    page.wait_for_function(
        "() => [...document.querySelectorAll('.ec-bg-event.cal-off-hours')]"
        ".filter(e => e.style.gridColumn.split(' ')[0] === '1').length >= 3"
    )
    columns = page.eval_on_selector_all(
        ".ec-bg-event.cal-off-hours", "els => els.map(e => e.style.gridColumn.split(' ')[0])"
    )
    assert columns.count("1") == 3  # Monday: before 08:00, the blocked hour, after 18:00
    assert columns.count("6") == 1 and columns.count("7") == 1  # the weekend entirely
    # the 15-minute appointment shows the patient's name; the time is in its tooltip
    event = page.locator(f'.ec-event[data-appointment-id="{short.id}"]')
    expect(event).to_contain_text(clinic.patients[0].display_name)
    expect(event.locator(".ec-event-title")).to_be_visible()
    assert "09:00" in event.get_attribute("title")
    # "now" is 10:00 in Paris: three hours below the grid's 07:00 start, not one
    indicator = page.locator(".ec-now-indicator")
    expect(indicator).to_be_attached()
    top = indicator.evaluate("e => parseFloat(e.style.insetBlockStart)")
    assert abs(top - 3 * 4 * _slot_height(page)) < 3, top


def test_drag_asks_first_then_undo_puts_it_back_and_cancel_snaps_back(
    browser_page, committed_persona, clock
):
    owner = committed_persona("owner")
    clinic = clinic_build(owner)
    booked = _book(clinic, clinic.patients[0], at(MONDAY, 10))
    clock.travel(at(MONDAY, 8))
    page = browser_page
    login(page, owner)
    _open_week(page, clinic)
    event = page.locator(f'.ec-event[data-appointment-id="{booked.id}"]')
    expect(event).to_be_visible()
    before = event.bounding_box()

    _drag(page, event, 2)
    dialog = page.get_by_role("dialog", name="Move this appointment?")
    expect(dialog).to_be_visible()
    expect(dialog.locator("#move-facts")).to_contain_text("10:00")
    expect(dialog.locator("#move-facts")).to_contain_text("12:00")
    expect(dialog.locator("#move-facts")).to_contain_text(clinic.practitioner.display_name)
    expect(dialog.get_by_label("Tell the patient")).to_be_checked()
    assert axe_violations(page) == []
    dialog.get_by_role("button", name="Cancel").click()
    expect(dialog).to_be_hidden()
    assert abs(event.bounding_box()["y"] - before["y"]) < 2  # snapped back
    assert _start_of(clinic, booked.id) == at(MONDAY, 10)

    _drag(page, event, 2)
    dialog.get_by_label("Tell the patient").uncheck()
    dialog.get_by_role("button", name="Move", exact=True).click()
    undo = page.get_by_role("button", name="Undo")
    expect(undo).to_be_visible()
    expect(page.locator("#cal-undo")).to_contain_text("Moved.")
    assert _start_of(clinic, booked.id) == at(MONDAY, 12)
    undo.click()
    expect(page.locator("#cal-message")).to_have_text("Moved back.")
    assert _start_of(clinic, booked.id) == at(MONDAY, 10)
    expect(undo).to_be_hidden()


def test_moving_into_the_past_is_refused_without_the_override(
    browser_page, committed_persona, clock
):
    owner = committed_persona("owner")
    clinic = clinic_build(owner)
    assistant = committed_persona("assistant", org=owner.org)
    booked = _book(clinic, clinic.patients[0], at(MONDAY, 14))
    clock.travel(at(MONDAY, 12))
    page = browser_page
    login(page, assistant)
    _open_week(page, clinic)
    event = page.locator(f'.ec-event[data-appointment-id="{booked.id}"]')
    expect(event).to_be_visible()
    _drag(page, event, -4)  # to 10:00, two hours ago
    expect(page.locator("#cal-message")).to_have_text("Not moved: That time is in the past.")
    expect(page.locator("#move-dialog")).to_be_hidden()
    assert _start_of(clinic, booked.id) == at(MONDAY, 14)


def test_the_owner_moves_into_the_past_only_when_choosing_it(
    browser_page, committed_persona, clock
):
    owner = committed_persona("owner")
    clinic = clinic_build(owner)
    booked = _book(clinic, clinic.patients[0], at(MONDAY, 14))
    clock.travel(at(MONDAY, 12))
    page = browser_page
    login(page, owner)
    _open_week(page, clinic)
    event = page.locator(f'.ec-event[data-appointment-id="{booked.id}"]')
    _drag(page, event, -4)
    dialog = page.get_by_role("dialog", name="Move this appointment?")
    expect(dialog.locator("#move-warning")).to_have_text("That time is in the past.")
    choice = dialog.get_by_label("Move into the past")
    expect(choice).not_to_be_checked()
    dialog.get_by_role("button", name="Move", exact=True).click()
    expect(dialog.locator("#move-errors")).to_have_text("Not moved: That time is in the past.")
    assert _start_of(clinic, booked.id) == at(MONDAY, 14)
    choice.check()
    dialog.get_by_role("button", name="Move", exact=True).click()
    expect(dialog).to_be_hidden()
    expect(page.get_by_role("button", name="Undo")).to_be_visible()
    assert _start_of(clinic, booked.id) == at(MONDAY, 10)


def _buttons_in_view(page, dialog, height):
    for name in ("Book", "Close"):
        box = dialog.get_by_role("button", name=name, exact=True).bounding_box()
        assert box is not None and box["y"] >= 0 and box["y"] + box["height"] <= height, box


def test_the_conflict_message_once_with_the_buttons_in_view(phone_page, committed_persona, clock):
    owner = committed_persona("owner")
    clinic = clinic_build(owner)
    _book(clinic, clinic.patients[1], at(MONDAY, 10))
    clock.travel(at(MONDAY, 8))
    page = phone_page
    login(page, owner)
    page.goto(f"/calendar/?date={MONDAY.isoformat()}")
    for size in ({"width": 390, "height": 844}, {"width": 1366, "height": 900}):
        page.set_viewport_size(size)
        page.get_by_role("button", name="Book appointment").click()
        dialog = page.get_by_role("dialog", name="Book an appointment")
        dialog.get_by_role("searchbox", name="Patient").fill(clinic.patients[0].family_name)
        dialog.get_by_role("button", name=clinic.patients[0].given_name).first.click()
        dialog.get_by_label("Practitioner").select_option(str(clinic.practitioner.id))
        dialog.get_by_label("Service").select_option(str(clinic.consult.id))
        dialog.get_by_label("Start").fill(f"{MONDAY.isoformat()}T10:00")
        dialog.get_by_label("Notes").fill("A long note. " * 40)
        expect(dialog.locator("#book-check")).to_contain_text("Taken:")
        _buttons_in_view(page, dialog, size["height"])
        dialog.get_by_role("button", name="Book", exact=True).click()
        expect(dialog.locator("#book-errors")).to_contain_text("Conflicts with")
        # once: the inline check made way for the refusal
        expect(dialog.locator("#book-check")).to_have_text("")
        assert page.get_by_text("Conflicts with").count() == 1
        _buttons_in_view(page, dialog, size["height"])
        if size["width"] == 390:
            assert axe_violations(page) == []
        dialog.get_by_role("button", name="Close", exact=True).click()


def test_blocking_time_over_an_appointment_lists_it_first(browser_page, committed_persona, clock):
    from clinic.core.tenancy import tenant_context
    from clinic.scheduling.models import AvailabilityException

    owner = committed_persona("owner")
    clinic = clinic_build(owner)
    _book(clinic, clinic.patients[0], at(MONDAY, 10))
    clock.travel(at(MONDAY - timedelta(days=3), 9))
    page = browser_page
    login(page, owner)
    page.goto(f"/availability/{clinic.practitioner.id}/")
    page.select_option("#exc-kind", "blocked")
    page.fill("#exc-date", MONDAY.isoformat())
    page.fill("#exc-start", "09:00")
    page.fill("#exc-end", "12:00")
    page.fill("#exc-reason", "Training")
    page.get_by_role("button", name="Add exception").click()
    warning = page.locator("#block-warning")
    expect(warning).to_contain_text("1 appointment is booked in this time.")
    expect(warning.locator("#block-appointments")).to_contain_text(clinic.patients[0].display_name)
    expect(warning.locator("#block-appointments")).to_contain_text("10:00")
    with tenant_context(clinic.org.id):
        assert not AvailabilityException.objects.exists()
    assert axe_violations(page) == []
    page.get_by_role("button", name="Block anyway").click()
    expect(page.locator(".exception-when")).to_have_count(1)
    with tenant_context(clinic.org.id):
        assert AvailabilityException.objects.get().reason == "Training"


def test_a_time_the_clocks_skip_is_refused_in_words_not_moved_to_another_hour(
    browser_page, committed_persona, clock
):
    """New York, 9 March 2031: the clocks go from 02:00 to 03:00. Typing 02:30 in the Edit time
    form or the booking form is refused in words (the browser's zone arithmetic would otherwise
    make it 01:30 silently); the appointment stays where it was."""
    from datetime import datetime
    from zoneinfo import ZoneInfo

    new_york = ZoneInfo("America/New_York")
    owner = committed_persona("owner")
    clinic = clinic_build(owner, time_zone="America/New_York")
    start = datetime(2031, 3, 9, 9, 0, tzinfo=new_york)
    booked = _book(clinic, clinic.patients[0], start)
    clock.travel(datetime(2031, 3, 7, 12, 0, tzinfo=new_york))
    page = browser_page
    login(page, owner)
    page.set_viewport_size({"width": 1280, "height": 1500})
    page.goto("/calendar/?date=2031-03-09")
    page.select_option("#cal-practitioner", str(clinic.practitioner.id))
    page.locator(f'.ec-event[data-appointment-id="{booked.id}"]').click()
    dialog = page.locator("#event-dialog")
    dialog.get_by_role("button", name="Edit time").click()
    dialog.get_by_label("Start time").fill("02:30")
    dialog.get_by_role("button", name="Save new time").click()
    errors = dialog.locator("#edit-errors")
    expect(errors).to_contain_text("Not moved:")
    expect(errors).to_contain_text("02:30 does not exist on 9 Mar 2031 in America/New_York")
    assert _start_of(clinic, booked.id) == start
    dialog.get_by_label("Start time").fill("03:00")
    if page.get_by_label("Move outside working hours or into the past").count():
        dialog.get_by_label("Move outside working hours or into the past").check()
    dialog.get_by_role("button", name="Save new time").click()
    expect(page.locator("#cal-message")).to_have_text("Moved.")
    assert _start_of(clinic, booked.id) == datetime(2031, 3, 9, 3, 0, tzinfo=new_york)
    assert axe_violations(page) == []
