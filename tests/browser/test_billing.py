"""The invoice editor in a real browser: the patient found by search, lines from the patient's
completed appointments and typed by hand with live totals, confirmation before issuing, the PDF,
a payment; the invoice page on a phone; no serious accessibility violation in English and
Arabic."""

from __future__ import annotations

import datetime as dt
import io
import re

import pytest
from playwright.sync_api import expect
from pypdf import PdfReader

from tests.browser.conftest import PHONE, axe_violations, login, menu_open
from tests.directory import factories as directory


def _completed_visit(owner, patient, price="60.00"):
    from tests.billing.test_appointments import appointment

    return appointment(
        owner,
        practitioner=directory.practitioner(owner, display_name="Dr Claire Martin"),
        patient=patient,
        service=directory.service(owner, name="Consultation", price=price, tax_rate="0"),
        location=directory.location(owner),
        day=dt.date(2026, 4, 14),
    )


def _language(page, code: str) -> None:
    menu_open(page)
    if page.locator("#language-select").input_value() == code:
        return
    with page.expect_navigation():
        page.select_option("#language-select", code)


def test_invoice_editor_live_totals_issue_pdf_and_payment(browser_page, committed_persona):
    owner = committed_persona("owner")
    patient = directory.patient(owner, given_name="Amel", family_name="Haddad")
    directory.patient(owner, given_name="Jules", family_name="Bernard")
    _completed_visit(owner, patient)
    page = browser_page
    login(page, owner)
    page.get_by_role("link", name="Invoices").first.click()
    page.get_by_role("link", name="New invoice").click()
    # the patient is searched, not picked from a list of everyone
    expect(page.get_by_label("Jules Bernard")).to_have_count(0)
    page.get_by_label("Search a patient").fill("hadd")
    page.get_by_label("Amel Haddad").check()
    expect(page.get_by_label("Jules Bernard")).to_have_count(0)
    page.get_by_role("button", name="Create draft").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Draft invoice")

    # the patient's completed appointment, not invoiced yet, becomes a line
    appointments = page.locator("#appointments-form")
    appointments.get_by_role("checkbox").check()
    appointments.get_by_role("button", name="Add the chosen appointments").click()
    expect(page.locator('[data-total="gross"]')).to_contain_text("60.00")
    expect(page.locator("#lines")).to_contain_text("Dr Claire Martin")
    expect(page.locator("#no-billable-appointments")).to_be_visible()

    page.get_by_label("Description").fill("Physiotherapy session")
    page.get_by_label("Quantity").fill("2")
    page.get_by_label("Unit price").fill("45.50")
    # live totals while typing (htmx preview, nothing saved yet)
    expect(page.locator("#preview-totals")).to_contain_text("151.00")
    page.get_by_role("button", name="Add line").click()
    expect(page.locator('[data-total="gross"]')).to_contain_text("151.00")
    page.get_by_label("Description").fill("Report")
    page.get_by_label("Unit price").fill("10.00")
    page.get_by_label("Quantity").fill("1")
    page.get_by_role("button", name="Add line").click()
    expect(page.locator('[data-total="gross"]')).to_contain_text("161.00")
    page.get_by_role("button", name="Remove Report").click()
    expect(page.locator('[data-total="gross"]')).to_contain_text("151.00")

    # issuing asks first: payer, total, due date
    page.get_by_role("button", name="Issue invoice").click()
    summary = page.locator("#issue-summary")
    expect(summary).to_contain_text("Amel Haddad")
    expect(summary.locator('[data-summary="total"]')).to_contain_text("151.00")
    expect(page.locator("#invoice-status")).to_have_text("Draft")
    summary.get_by_role("button", name="Confirm and issue").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(re.compile(r"INV-\d{4}-\d{6}"))
    number = re.search(r"INV-\d{4}-\d{6}", page.get_by_role("heading", level=1).inner_text())[0]
    with page.expect_download() as download:
        page.get_by_role("link", name="Download PDF").click()
    text = PdfReader(io.BytesIO(open(download.value.path(), "rb").read())).pages[0].extract_text()
    assert number in text and "Dr Claire Martin" in text

    page.locator('main a[href*="/billing/payments/new/?"]').click()
    expect(page.get_by_label("Payer: patient")).to_have_value(str(patient.id))
    page.locator("#id_amount").fill("160.00")
    page.get_by_role("button", name="Record payment").click()
    expect(page.locator('[data-total="credit"]')).to_contain_text("9.00")
    expect(page.locator('[data-total="outstanding"]')).to_contain_text("0.00")


def test_invoice_page_on_a_phone(phone_page, committed_persona):
    from tests.billing import factories as billing

    owner = committed_persona("owner")
    patient = directory.patient(owner, given_name="Amel", family_name="Haddad")
    _completed_visit(owner, patient)
    draft = billing.invoice(owner, patient, lines=[billing.line("A rather long description")])
    page = phone_page
    login(page, owner)
    page.goto(f"/billing/invoices/{draft.id}/")
    expect(page.locator("#appointments-form")).to_contain_text("Consultation")
    page.get_by_role("button", name="Issue invoice").click()
    confirm = page.get_by_role("button", name="Confirm and issue")
    confirm.scroll_into_view_if_needed()
    expect(confirm).to_be_in_viewport()
    # nothing wider than the phone: the lines table scrolls inside its own box
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    confirm.click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(re.compile(r"INV-"))
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    expect(page.get_by_role("link", name="Download PDF")).to_be_visible()


@pytest.mark.parametrize("language", ["en", "ar"])
def test_invoice_editor_and_invoice_have_no_serious_accessibility_violation(
    browser_page, committed_persona, language
):
    from tests.billing import factories as billing

    owner = committed_persona("owner")
    patient = directory.patient(owner, given_name="Amel", family_name="Haddad")
    _completed_visit(owner, patient)
    draft = billing.invoice(owner, patient, lines=[billing.line("Session")])
    issued = billing.issued_invoice(owner, patient)
    page = browser_page
    login(page, owner)
    _language(page, language)
    found = {}
    page.goto("/billing/invoices/new/?q=Haddad")
    expect(page.locator("#patient-results input[type=radio]")).to_have_count(1)
    found["new invoice"] = axe_violations(page)
    page.goto(f"/billing/invoices/{draft.id}/")
    page.locator("#issue-button").click()
    page.locator("#issue-summary").wait_for()
    found["editor"] = axe_violations(page)
    page.goto(f"/billing/invoices/{issued.id}/")
    found["invoice"] = axe_violations(page)
    assert {name: v for name, v in found.items() if v} == {}
