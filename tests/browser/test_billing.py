from __future__ import annotations

import io
import re

from playwright.sync_api import expect
from pypdf import PdfReader

from tests.browser.conftest import login
from tests.directory import factories as directory


def test_invoice_editor_live_totals_issue_pdf_and_payment(browser_page, committed_persona):
    owner = committed_persona("owner")
    patient = directory.patient(owner, given_name="Amel", family_name="Haddad")
    page = browser_page
    login(page, owner)
    page.get_by_role("link", name="Invoices").first.click()
    page.get_by_role("link", name="New invoice").click()
    page.get_by_label("Patient").select_option(str(patient.id))
    page.get_by_role("button", name="Create draft").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Draft invoice")

    page.get_by_label("Description").fill("Physiotherapy session")
    page.get_by_label("Quantity").fill("2")
    page.get_by_label("Unit price").fill("45.50")
    # live totals while typing (htmx preview, nothing saved yet)
    expect(page.locator("#preview-totals")).to_contain_text("91.00")
    page.get_by_role("button", name="Add line").click()
    expect(page.locator('[data-total="gross"]')).to_contain_text("91.00")
    page.get_by_label("Description").fill("Report")
    page.get_by_label("Unit price").fill("10.00")
    page.get_by_label("Quantity").fill("1")
    page.get_by_role("button", name="Add line").click()
    expect(page.locator('[data-total="gross"]')).to_contain_text("101.00")
    page.get_by_role("button", name="Remove Report").click()
    expect(page.locator('[data-total="gross"]')).to_contain_text("91.00")

    page.get_by_role("button", name="Issue invoice").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(re.compile(r"INV-\d{4}-\d{6}"))
    number = re.search(r"INV-\d{4}-\d{6}", page.get_by_role("heading", level=1).inner_text())[0]
    with page.expect_download() as download:
        page.get_by_role("link", name="Download PDF").click()
    text = PdfReader(io.BytesIO(open(download.value.path(), "rb").read())).pages[0].extract_text()
    assert number in text

    page.locator('main a[href*="/billing/payments/new/?"]').click()
    expect(page.get_by_label("Payer: patient")).to_have_value(str(patient.id))
    page.locator("#id_amount").fill("100.00")
    page.get_by_role("button", name="Record payment").click()
    expect(page.locator('[data-total="credit"]')).to_contain_text("9.00")
    expect(page.locator('[data-total="outstanding"]')).to_contain_text("0.00")
