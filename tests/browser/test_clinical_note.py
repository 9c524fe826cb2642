"""Write a SOAP note from the chart, watch it autosave, sign it, add an addendum; and the note
page on a phone in Arabic (no sideways scrolling, no serious accessibility violation)."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from tests.browser.conftest import axe_violations, login


def _setup(committed_persona):
    from tests.clinical.factories import setup_build

    owner = committed_persona("owner")
    doc = committed_persona("practitioner", org=owner.org)
    return setup_build(owner, doc)


def test_write_autosave_sign_and_amend_a_soap_note(browser_page, committed_persona):
    setup = _setup(committed_persona)
    page = browser_page
    login(page, setup.practitioner)
    page.goto(f"/patients/{setup.patient.id}/")
    section = page.locator("#encounters")
    expect(section.locator("#no-encounters")).to_be_visible()
    section.locator("#note-template").select_option("soap")
    section.get_by_role("button", name="New note").click()
    page.wait_for_url(re.compile(r"/notes/[0-9a-f-]+/$"))

    page.get_by_label("Subjective").fill("Knee pain for two weeks, worse on stairs.")
    # autosave: no click, the indicator says when it was saved and the version moves on
    expect(page.locator("#saved-at")).to_contain_text(re.compile(r"Saved \d{1,2}:\d{2}"))
    expect(page.locator("#note-version")).to_have_value("2")
    page.get_by_label("Plan").fill("Physiotherapy twice a week.")
    page.get_by_label("Plan").blur()
    expect(page.locator("#note-version")).to_have_value("3")

    page.locator("#sign-open").click()
    page.locator("#sign-confirm").click()
    expect(page.locator("#note-status")).to_have_text("Signed")
    expect(page.locator("#note-editor")).to_have_count(0)
    expect(page.locator("#section-subjective")).to_have_text(
        "Knee pain for two weeks, worse on stairs."
    )

    page.get_by_label("Add an addendum").fill("Phoned two days later: much better.")
    page.get_by_role("button", name="Add addendum").click()
    expect(page.locator("#addendum-list")).to_contain_text("Phoned two days later: much better.")
    expect(page.locator("#version-list > li")).to_have_count(3)

    page.goto(f"/patients/{setup.patient.id}/")
    expect(page.locator("#encounter-list")).to_contain_text("Signed")


def test_the_note_page_on_a_phone_in_arabic(phone_page, live_server_url, committed_persona):
    from tests.clinical.factories import note_make

    setup = _setup(committed_persona)
    note = note_make(setup)
    page = phone_page
    login(page, setup.practitioner)
    page.context.add_cookies([{"name": "django_language", "value": "ar", "url": live_server_url}])
    page.goto(f"/notes/{note.id}/")
    expect(page.locator("html")).to_have_attribute("dir", "rtl")
    expect(page.locator("#note-editor")).to_be_visible()
    overflow = page.evaluate(
        "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 0, overflow
    assert axe_violations(page) == []


def test_an_aba_session_note_computes_accuracy_as_typed(browser_page, committed_persona):
    setup = _setup(committed_persona)
    page = browser_page
    login(page, setup.practitioner)
    page.goto(f"/patients/{setup.patient.id}/")
    page.locator("#encounters #note-template").select_option("aba")
    page.locator("#encounters").get_by_role("button", name="New note").click()
    page.wait_for_url(re.compile(r"/notes/[0-9a-f-]+/$"))
    targets = page.locator("#aba-targets tbody tr")
    expect(targets).to_have_count(2)
    first = targets.nth(0)
    first.get_by_label("Target 1").fill("Mand for water")
    first.get_by_label("Trials 1").fill("10")
    first.get_by_label("Correct 1").fill("8")
    first.get_by_label("Prompt level 1").select_option("gestural")
    expect(first.locator(".aba-accuracy")).to_have_text("80 %")
    page.locator("#aba-add-target").click()
    expect(targets).to_have_count(3)
    third = targets.nth(2)
    third.get_by_label("Target 3").fill("Match colours")
    third.get_by_label("Trials 3").fill("4")
    third.get_by_label("Correct 3").fill("4")
    page.locator("#aba-behaviours").get_by_label("Behaviour 1").fill("Elopement")
    page.locator("#aba-behaviours").get_by_label("Frequency 1").fill("2")
    # the save of everything typed (an autosave of fewer rows may have answered before it)
    with page.expect_response(lambda r: r.url.endswith("/save/") and r.request.method == "POST"):
        page.locator("#save-now").click()
    page.wait_for_load_state("networkidle")  # and any save still under way
    expect(page.locator("#saved-at")).to_be_visible()
    assert axe_violations(page) == []
    page.reload()
    expect(page.locator("#aba-targets tbody tr")).to_have_count(4)  # two filled, two empty
    expect(page.locator("#aba-targets")).to_contain_text("100 %")
    expect(page.locator("#aba-targets tbody tr").nth(1).get_by_label("Target 2")).to_have_value(
        "Match colours"
    )
