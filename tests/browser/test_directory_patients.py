"""The patient directory in a real browser: search as you type, create (with the duplicate
warning), add a guardian with htmx, archive."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from tests.browser.conftest import login


def _patients(persona, *rows):
    from clinic.accounts.models import Membership
    from clinic.core.tenancy import tenant_context
    from clinic.directory import services

    with tenant_context(persona.org.id, persona.user.id):
        actor = Membership.objects.select_related("organization").get(id=persona.membership.id)
        return [services.patient_create(actor=actor, data=row, force=True) for row in rows]


def test_search_as_you_type_then_open_a_patient(browser_page, committed_persona):
    owner = committed_persona("owner")
    _patients(
        owner,
        {
            "given_name": "Hélène",
            "family_name": "Dupont",
            "date_of_birth": "1980-02-03",
            "phone": "06 12 34 56 78",
        },
        {"given_name": "Marc", "family_name": "Petit", "date_of_birth": "1975-05-06"},
        {"given_name": "Rex", "species": "dog", "microchip": "250269604000001"},
    )
    page = browser_page
    login(page, owner)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Patients").click()
    results = page.locator("#patient-results")
    expect(results).to_contain_text("3 patients")

    page.get_by_label("Search").press_sequentially("helene", delay=30)
    expect(results).to_contain_text("1 patient")
    expect(results).to_contain_text("Dupont")
    expect(results).not_to_contain_text("Petit")
    assert "search=helene" in page.url  # the search is in the address bar (back button, links)

    page.get_by_label("Search").fill("06 12 34")
    expect(results).to_contain_text("Dupont")
    page.get_by_label("Search").fill("250269604")
    expect(results).to_contain_text("Rex")
    expect(results).not_to_contain_text("Dupont")

    results.get_by_role("link", name=re.compile("Rex")).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Rex")
    expect(page.locator("#timeline")).to_contain_text("Nothing in the timeline yet.")


def test_create_a_child_warn_on_duplicate_and_add_a_parent(browser_page, committed_persona):
    owner = committed_persona("owner")
    _patients(owner, {"given_name": "Léo", "family_name": "Roux", "date_of_birth": "2018-03-04"})
    page = browser_page
    login(page, owner)
    page.goto("/patients/new/")
    page.get_by_label("Given name").fill("Leo")
    page.get_by_label("Family name").fill("ROUX")
    page.get_by_label("Date of birth").fill("2018-03-04")
    page.get_by_role("button", name="Create patient").click()
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("already exists")
    page.get_by_label("This is a different person").check()
    page.get_by_role("button", name="Create patient").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Leo ROUX")

    # a parent, added in place with htmx
    page.get_by_text("Add a contact").click()
    page.get_by_label("Relationship").select_option("parent")
    contacts = page.locator("#contacts")
    contacts.get_by_label("Given name").fill("Amélie")
    contacts.get_by_label("Family name").fill("Roux")
    contacts.get_by_label("Phone", exact=True).fill("06 98 76 54 32")
    page.get_by_role("button", name="Add contact").click()
    expect(contacts).to_contain_text("Amélie Roux")
    expect(contacts).to_contain_text("+33698765432")

    # a wrong relationship is refused next to the field, in place
    page.get_by_text("Add a contact").click()
    page.get_by_label("Relationship").select_option("owner")
    contacts.get_by_label("Given name").fill("Paul")
    page.get_by_role("button", name="Add contact").click()
    expect(contacts).to_contain_text("Only animal patients have owners")

    # archive: the record leaves the list but stays readable
    page.get_by_role("button", name="Archive").click()
    expect(page.get_by_role("status").first).to_contain_text("archived")
    page.goto("/patients/?search=leo")
    expect(page.locator("#patient-results")).to_contain_text("1 patient")
