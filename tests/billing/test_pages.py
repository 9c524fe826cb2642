"""Billing pages through Django's client: editor with htmx fragments, errors next to fields,
payment entry with allocation, account and statement download, overdue list, roles, and
constant query counts on the lists."""

from __future__ import annotations

import datetime as dt
import io
from decimal import Decimal as D

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from pypdf import PdfReader

from tests.billing import factories as f
from tests.conftest import reauthenticated
from tests.directory import factories as directory

pytestmark = pytest.mark.django_db


def _login(client, persona):
    client.force_login(persona.user)
    return client


def test_editor_adds_and_removes_lines_with_live_totals(client, owner_a):
    _login(client, owner_a)
    patient = directory.patient(owner_a)
    response = client.post("/billing/invoices/new/", {"patient_id": str(patient.id)})
    assert response.status_code == 302
    url = response["Location"]
    invoice_id = url.rstrip("/").rsplit("/", 1)[1]
    page = client.get(url).content.decode()
    assert 'id="line-form"' in page and "Draft invoice" in page
    preview = client.post(
        f"/billing/invoices/{invoice_id}/lines/preview/",
        {"description": "Session", "quantity": "2", "unit_price": "12.345"},
        HTTP_HX_REQUEST="true",
    ).content.decode()
    assert "decimal" in preview  # the price has 3 decimals: said next to the preview
    preview = client.post(
        f"/billing/invoices/{invoice_id}/lines/preview/",
        {"description": "Session", "quantity": "2", "unit_price": "12.35"},
        HTTP_HX_REQUEST="true",
    ).content.decode()
    assert 'data-preview="gross">24.70' in preview
    bad = client.post(
        f"/billing/invoices/{invoice_id}/lines/",
        {"description": "Session", "quantity": "0", "unit_price": "10"},
        HTTP_HX_REQUEST="true",
    ).content.decode()
    assert 'id="id_quantity_error"' in bad and "<html" not in bad
    fragment = client.post(
        f"/billing/invoices/{invoice_id}/lines/",
        {
            "description": "Session",
            "quantity": "2",
            "unit_price": "12.35",
            "discount": "10",
            "discount_kind": "percent",
        },
        HTTP_HX_REQUEST="true",
    ).content.decode()
    assert 'data-total="gross"><strong><bdi dir="ltr">22.23' in fragment  # 24.70 - 2.47
    with _t(owner_a):
        from clinic.billing.models import InvoiceLine

        line = InvoiceLine.objects.get(invoice_id=invoice_id)
    removed = client.post(
        f"/billing/invoices/{invoice_id}/lines/{line.id}/remove/", HTTP_HX_REQUEST="true"
    ).content.decode()
    assert "No lines yet." in removed
    client.post(
        f"/billing/invoices/{invoice_id}/lines/",
        {"description": "Report", "quantity": "1", "unit_price": "30"},
    )
    # issuing asks first: a POST without the confirmation shows the summary, issues nothing
    asked = client.post(f"/billing/invoices/{invoice_id}/issue/").content.decode()
    assert "Confirm and issue" in asked and 'data-summary="total"><strong><bdi>30.00' in asked
    assert "INV-" not in asked
    issued = client.post(
        f"/billing/invoices/{invoice_id}/issue/", {"confirm": "yes"}, follow=True
    ).content.decode()
    assert "INV-" in issued and "Download PDF" in issued
    pdf = client.get(f"/billing/invoices/{invoice_id}/pdf/")
    assert pdf["Content-Type"] == "application/pdf"
    assert "30.00" in PdfReader(io.BytesIO(pdf.content)).pages[0].extract_text()


def _t(persona):
    from clinic.core.tenancy import tenant_context

    return tenant_context(persona.org.id)


def test_payment_entry_allocates_and_shows_the_account(client, owner_a):
    _login(client, owner_a)
    patient = directory.patient(owner_a)
    first = f.issued_invoice(owner_a, patient, issue_date=dt.date(2026, 1, 1))
    second = f.issued_invoice(owner_a, patient, issue_date=dt.date(2026, 2, 1))
    fragment = client.get(
        f"/billing/payments/new/?patient_id={patient.id}", HTTP_HX_REQUEST="true"
    ).content.decode()
    assert first.number in fragment and second.number in fragment
    bad = client.post(
        "/billing/payments/new/",
        {"patient_id": str(patient.id), "amount": "10.001", "method": "cash"},
    )
    assert bad.status_code == 422 and 'id="id_amount_error"' in bad.content.decode()
    response = client.post(
        "/billing/payments/new/",
        {
            "patient_id": str(patient.id),
            "amount": "150.00",
            "method": "card",
            f"alloc_{second.id}": "100.00",
        },
    )
    assert response.status_code == 302
    account = client.get(response["Location"]).content.decode()
    assert 'data-total="outstanding">100.00' in account  # the first one is still open
    assert 'data-total="credit">50.00' in account
    assert f.refreshed(owner_a, second).status == "paid"
    reauthenticated(client)
    csv = client.get(
        f"/billing/accounts/patient/{patient.id}/statement/?date_from=2026-01-01"
        f"&date_to={dt.date.today() + dt.timedelta(days=2)}&format=csv"
    )
    assert csv["Content-Type"].startswith("text/csv") and first.number in csv.content.decode()


def test_lists_cost_the_same_whatever_their_size(client, owner_a):
    _login(client, owner_a)
    patient = directory.patient(owner_a)
    f.issued_invoice(owner_a, patient, issue_date=dt.date(2026, 1, 1))
    f.payment(owner_a, patient, amount="10.00")
    counts = {}
    for url in (
        "/billing/invoices/",
        "/billing/invoices/overdue/",
        f"/billing/accounts/patient/{patient.id}/",
    ):
        with CaptureQueriesContext(connection) as ctx:
            assert client.get(url).status_code == 200
        counts[url] = len(ctx)
    for _ in range(5):
        f.issued_invoice(owner_a, patient, issue_date=dt.date(2026, 1, 2))
        f.payment(owner_a, patient, amount="10.00")
    for url, before in counts.items():
        with CaptureQueriesContext(connection) as ctx:
            page = client.get(url)
        assert page.status_code == 200 and len(ctx) <= before, (url, before, len(ctx))
    listing = client.get("/billing/invoices/?status=open").content.decode()
    assert 'data-total="balance">' in listing
    overdue = client.get("/billing/invoices/overdue/?as_of=2026-03-15").content.decode()
    assert "Days overdue" in overdue


def test_pages_follow_the_roles(client, owner_a, persona_factory):
    patient = directory.patient(owner_a)
    inv = f.issued_invoice(owner_a, patient)
    practitioner = persona_factory("practitioner")
    _login(client, practitioner)
    assert client.get("/billing/invoices/new/").status_code == 403
    assert client.get(f"/billing/invoices/{inv.id}/").status_code == 404
    assert client.get("/billing/payments/new/").status_code == 403
    assistant = persona_factory("assistant")
    _login(client, assistant)
    page = client.get(f"/billing/invoices/{inv.id}/").content.decode()
    assert "Issue credit note" not in page  # corrections are for managers and above
    assert client.post(f"/billing/invoices/{inv.id}/credit/", {"reason": "x"}).status_code == 403
    assert f.refreshed(owner_a, inv).credited_total == D("0.00")
