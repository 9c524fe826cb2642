"""Money typed in pages follows the person's locale: "12,50" in French; "12.50" (the numeric
keypad's point) is accepted in every locale; anything else is a field error in words. The API
keeps its strict "12.50" strings (tests/billing/test_api.py)."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from clinic.core.numbers import NumberUnreadable, typed_decimal
from tests.billing import factories as f
from tests.directory import factories as directory

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("text", "locale", "value"),
    [
        ("12,50", "fr_FR", D("12.50")),
        ("12.50", "fr_FR", D("12.50")),
        ("1 234,50", "fr_FR", D("1234.50")),
        ("1\u202f234,50", "fr_FR", D("1234.50")),
        ("1,234.50", "en_GB", D("1234.50")),
        ("١٢٫٥٠", "ar", D("12.50")),
        ("12.50", "ar", D("12.50")),
    ],
)
def test_typed_decimal_reads_the_locale(text, locale, value):
    assert typed_decimal(text, locale) == value


@pytest.mark.parametrize(("text", "locale"), [("12,50", "en_GB"), ("douze", "fr_FR"), ("", "fr")])
def test_typed_decimal_refuses_what_it_cannot_read(text, locale):
    # "12,50" in English is not guessed as 1250 nor as 12.50
    with pytest.raises(NumberUnreadable):
        typed_decimal(text, locale)


def _french(client, persona):
    client.force_login(persona.user)
    client.post("/i18n/setlang/", {"language": "fr", "next": "/"})
    return client


def _draft(client, owner):
    patient = directory.patient(owner)
    response = client.post("/billing/invoices/new/", {"patient_id": str(patient.id)})
    return response["Location"].rstrip("/").rsplit("/", 1)[1]


def test_french_invoice_line_with_a_comma_is_stored_as_twelve_fifty(client, owner_a):
    from clinic.billing.models import InvoiceLine
    from clinic.core.tenancy import tenant_context

    _french(client, owner_a)
    invoice_id = _draft(client, owner_a)
    preview = client.post(
        f"/billing/invoices/{invoice_id}/lines/preview/",
        {"description": "Séance", "quantity": "2", "unit_price": "12,50"},
        HTTP_HX_REQUEST="true",
    ).content.decode()
    assert 'data-preview="gross">25,00' in preview
    client.post(
        f"/billing/invoices/{invoice_id}/lines/",
        {"description": "Séance", "quantity": "1", "unit_price": "12,50"},
        HTTP_HX_REQUEST="true",
    )
    client.post(
        f"/billing/invoices/{invoice_id}/lines/",
        {"description": "Bilan", "quantity": "1", "unit_price": "12.50"},
        HTTP_HX_REQUEST="true",
    )
    with tenant_context(owner_a.org.id):
        prices = sorted(
            InvoiceLine.objects.filter(invoice_id=invoice_id).values_list("unit_price", flat=True)
        )
    assert prices == [D("12.50"), D("12.50")]


def test_a_bad_amount_is_a_field_error_in_words(client, owner_a):
    from clinic.billing.models import InvoiceLine
    from clinic.core.tenancy import tenant_context

    _french(client, owner_a)
    invoice_id = _draft(client, owner_a)
    html = client.post(
        f"/billing/invoices/{invoice_id}/lines/",
        {"description": "Séance", "quantity": "1", "unit_price": "douze"},
        HTTP_HX_REQUEST="true",
    ).content.decode()
    assert 'id="id_unit_price_error"' in html
    assert "n’est pas un montant" in html and "12,50" in html
    with tenant_context(owner_a.org.id):
        assert not InvoiceLine.objects.filter(invoice_id=invoice_id).exists()


def test_french_payment_amount_with_a_comma(client, owner_a):
    from clinic.billing.models import Payment
    from clinic.core.tenancy import tenant_context

    _french(client, owner_a)
    patient = directory.patient(owner_a)
    invoice = f.issued_invoice(owner_a, patient)
    bad = client.post(
        "/billing/payments/new/",
        {"patient_id": str(patient.id), "amount": "12;50", "method": "cash"},
    )
    assert bad.status_code == 422 and 'id="id_amount_error"' in bad.content.decode()
    response = client.post(
        "/billing/payments/new/",
        {
            "patient_id": str(patient.id),
            "amount": "12,50",
            "method": "card",
            f"alloc_{invoice.id}": "10,00",
        },
    )
    assert response.status_code == 302
    with tenant_context(owner_a.org.id):
        payment = Payment.objects.get(payer_patient=patient)
    assert payment.amount == D("12.50") and payment.allocated_total == D("10.00")
