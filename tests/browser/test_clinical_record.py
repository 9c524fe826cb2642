"""The chart's clinical summary in a browser: the banner says allergies are not recorded, a
life-threatening allergy added in the card turns it red at once (htmx, out of band), vital signs
draw their trend (chart.js under the CSP), a problem is coded; axe finds nothing serious in
English or in Arabic (RTL)."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone
from playwright.sync_api import expect

from tests.browser.conftest import axe_violations, login


def _setup(committed_persona):
    from tests.clinical.factories import setup_build

    owner = committed_persona("owner")
    doc = committed_persona("practitioner", org=owner.org)
    return setup_build(owner, doc)


def test_the_clinical_summary_card_and_banner(browser_page, live_server_url, committed_persona):
    setup = _setup(committed_persona)
    page = browser_page
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    login(page, setup.practitioner)
    page.goto(f"/patients/{setup.patient.id}/")
    banner = page.locator("#alerts")
    expect(banner.locator("#banner-allergy-state")).to_contain_text("Allergies not recorded")
    card = page.locator("#clinical-summary")
    expect(card.locator("#no-allergies")).to_be_visible()
    expect(card.locator("#no-vitals")).to_be_visible()
    assert axe_violations(page) == []  # the empty states and the "No known allergies" button

    card.locator("#allergy-add summary").click()
    card.get_by_label("Substance").fill("Penicillin")
    card.get_by_label("Severity").select_option("life_threatening")
    card.get_by_label("Reaction").fill("Anaphylaxis")
    card.locator("#allergy-save").click()
    expect(page.locator("#banner-urgent")).to_contain_text("Penicillin")
    expect(page.locator("#allergy-list")).to_contain_text("Anaphylaxis")

    earlier = timezone.localtime(timezone.now() - timedelta(days=2)).strftime("%Y-%m-%dT%H:%M")
    for value, when in (("70.5", earlier), ("71.2", "")):
        page.locator("#vital-add summary").click()
        page.locator("#vital-code").select_option("weight")
        page.locator("#vital-value").fill(value)
        if when:
            page.locator("#vital-at").fill(when)
        page.locator("#vital-save").click()
        expect(page.locator("#vital-list")).to_contain_text(f"{value} kg")
    expect(page.locator('canvas.vital-trend[data-vital="weight"]')).to_be_visible()
    assert page.evaluate("typeof window.Chart") == "function"

    page.locator("#vital-add summary").click()
    page.locator("#vital-code").select_option("temperature")
    page.locator("#vital-value").fill("52")
    page.locator("#vital-save").click()
    expect(page.locator("#record-error")).to_contain_text("Body temperature must be between")

    page.locator("#condition-add summary").click()
    page.locator("#condition-code").fill("J45.0")
    page.locator("#condition-save").click()
    expect(page.locator("#condition-list")).to_contain_text("Predominantly allergic asthma")
    assert axe_violations(page) == []
    assert not [p for p in problems if "Content Security Policy" in p], problems

    page.context.add_cookies([{"name": "django_language", "value": "ar", "url": live_server_url}])
    page.goto(f"/patients/{setup.patient.id}/")
    expect(page.locator("html")).to_have_attribute("dir", "rtl")
    expect(page.locator("#banner-urgent")).to_contain_text("Penicillin")
    expect(page.locator("#clinical-summary")).to_contain_text("الملخص السريري")
    expect(page.locator('canvas.vital-trend[data-vital="weight"]')).to_be_visible()
    assert axe_violations(page) == []
