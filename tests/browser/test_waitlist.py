"""The waitlist board (scores, breakdown, matches, a manual offer), "add to waitlist" from the
chart, and the patient's offer page, in English and Arabic, without a serious accessibility
violation."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import axe_violations, login


def _clinic(committed_persona):
    from clinic.accounts.models import Membership
    from clinic.core.tenancy import tenant_context
    from clinic.waitlist import services
    from tests.scheduling.conftest import MONDAY, clinic_build

    owner = committed_persona("owner")
    clinic = clinic_build(owner)
    with tenant_context(owner.org.id, owner.user.id):
        actor = Membership.objects.select_related("organization", "user").get(
            id=owner.membership.id
        )
        patient = clinic.patients[0]
        patient.email = "waiting@example.org"
        patient.save(update_fields=["email"])
        entry = services.entry_create(
            actor=actor,
            data={
                "patient_id": clinic.patients[0].id,
                "service_id": clinic.consult.id,
                "earliest_date": MONDAY,
                "latest_date": MONDAY,
                "urgency": "high",
                "preferred_times": ["morning"],
            },
        )
    return owner, clinic, entry


@pytest.mark.parametrize("language", ["en", "ar"])
def test_waitlist_board_offer_and_answer(
    browser_page, committed_persona, live_server_url, language
):
    owner, clinic, entry = _clinic(committed_persona)
    page = browser_page
    login(page, owner)
    page.context.add_cookies(
        [{"name": "django_language", "value": language, "url": live_server_url}]
    )
    found = {}
    page.goto(f"/patients/{clinic.patients[1].id}/")
    page.locator("#add-to-waitlist").click()
    page.wait_for_url(re.compile(r"/waitlist/add/"))
    found["add"] = axe_violations(page)
    page.goto(f"/waitlist/?entry={entry.id}")
    expect(page.locator(f"#entry-{entry.id}")).to_be_visible()
    page.locator(f"#entry-{entry.id} summary").click()
    expect(page.locator(f"#entry-{entry.id} .score-breakdown")).to_be_visible()
    found["board"] = axe_violations(page)
    page.locator("#matches form button").first.click()
    page.wait_for_url(re.compile(r"/waitlist/\?entry="))
    expect(page.locator(f"#entry-{entry.id} .status-offered")).to_be_visible()
    # the patient's page behind the link in the message
    from clinic.core.tenancy import tenant_context
    from clinic.notifications.models import Delivery

    with tenant_context(owner.org.id):
        delivery = Delivery.objects.filter(event="waitlist.offer").first()
    path = "/" + delivery.context["offer_url"].split("/", 3)[3]
    page.goto(path)
    found["offer"] = axe_violations(page)
    page.locator("button[value=accept]").click()
    expect(page.locator("#offer-outcome")).to_be_visible()
    if language == "ar":
        assert page.locator("html").get_attribute("dir") == "rtl"
    assert found == {"add": [], "board": [], "offer": []}
