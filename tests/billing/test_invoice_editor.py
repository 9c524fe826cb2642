"""Invoices a French clinic can send (issue 11, section 8): lines from a patient's completed
appointments (service date, practitioner, never billed twice), the tax breakdown per rate, the
patient search of the new-invoice form, the confirmation before issuing, and what the PDF says
(legal details, logo, payer's address, service dates and practitioners, tax per rate, payment
terms and bank details) in the payer's language."""

from __future__ import annotations

import datetime as dt
import io
from decimal import Decimal as D

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from pypdf import PdfReader

from clinic.billing import calculations as calc
from clinic.billing import pdf as billing_pdf
from clinic.billing import selectors, services
from clinic.billing.models import InvoiceAppointment, InvoiceLine
from clinic.core import timefmt
from clinic.core.errors import Conflict, ValidationFailed
from clinic.core.tenancy import tenant_context
from tests.billing import factories as f
from tests.billing.test_appointments import appointment
from tests.directory import factories as directory

pytestmark = pytest.mark.django_db

DAY = dt.date(2026, 4, 14)


def _png() -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (120, 40), (20, 90, 160)).save(out, format="PNG")
    return out.getvalue()


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path)


def _clinic(persona, **patient_data):
    location = directory.location(persona)
    practitioner = directory.practitioner(persona, display_name="Dr Claire Martin")
    service = directory.service(persona, name="Consultation", price="60.00", tax_rate="20")
    patient = directory.patient(persona, **patient_data)
    return location, practitioner, service, patient


def _visit(persona, clinic, *, day=DAY, status="completed", patient=None):
    location, practitioner, service, default_patient = clinic
    return appointment(
        persona,
        practitioner=practitioner,
        patient=patient or default_patient,
        service=service,
        location=location,
        day=day,
        status=status,
    )


def _add(persona, invoice, ids):
    return f.in_tenant(
        persona,
        lambda a: services.invoice_appointments_add(actor=a, invoice=invoice, appointment_ids=ids),
    )


def _detail(persona, invoice_id):
    return f.in_tenant(persona, lambda a: selectors.invoice_detail(a, invoice_id))


# --- services ------------------------------------------------------------------------------------


def test_completed_appointments_become_lines_once(owner_a):
    clinic = _clinic(owner_a)
    _location, practitioner, service, patient = clinic
    first, second = _visit(owner_a, clinic), _visit(owner_a, clinic, day=DAY + dt.timedelta(1))
    planned = _visit(owner_a, clinic, status="scheduled")
    someone_else = _visit(owner_a, clinic, patient=directory.patient(owner_a))
    draft = f.invoice(owner_a, patient, lines=[])
    offered = f.in_tenant(owner_a, lambda a: selectors.appointments_to_invoice(draft))
    assert [a.id for a in offered] == [first.id, second.id]  # completed, this patient, oldest first

    lines = _add(owner_a, draft, [str(second.id), str(first.id), str(first.id)])
    assert [(li.service_date, li.practitioner_id) for li in lines] == [
        (DAY, practitioner.id),
        (DAY + dt.timedelta(1), practitioner.id),
    ]
    detail = _detail(owner_a, draft.id)
    assert [li.unit_price for li in detail.line_list] == [D("60.00"), D("60.00")]
    assert detail.gross_total == D("144.00") and detail.tax_total == D("24.00")
    assert detail.line_list[0].service_id == service.id
    assert f.in_tenant(owner_a, lambda a: selectors.appointments_to_invoice(draft)) == []

    with pytest.raises(Conflict):  # already billed, here or on another draft
        _add(owner_a, f.invoice(owner_a, patient, lines=[]), [first.id])
    for ids in ([planned.id], [someone_else.id], [], ["not-an-id"]):
        with pytest.raises(ValidationFailed):
            _add(owner_a, draft, ids)
    with tenant_context(owner_a.org.id):
        assert InvoiceLine.objects.filter(invoice=draft).count() == 2  # nothing else written
        assert InvoiceAppointment.objects.count() == 2


def test_service_date_is_the_day_at_the_appointments_location(owner_a):
    clinic = _clinic(owner_a)
    late = _visit(owner_a, clinic)
    with tenant_context(owner_a.org.id):
        # 22:30 UTC on the 14th is already the 15th in Paris
        start = dt.datetime.combine(DAY, dt.time(22, 30), tzinfo=dt.UTC)
        type(late).objects.filter(id=late.id).update(
            start_at=start,
            end_at=start + dt.timedelta(minutes=30),
            occupied_start=start,
            occupied_end=start + dt.timedelta(minutes=30),
        )
    (line,) = _add(owner_a, f.invoice(owner_a, clinic[3], lines=[]), [late.id])
    assert line.service_date == DAY + dt.timedelta(1)


def test_tax_breakdown_adds_up_per_rate(owner_a):
    patient = directory.patient(owner_a)
    draft = f.invoice(
        owner_a,
        patient,
        lines=[
            f.line(unit_price="100.00", tax_rate_id=f.tax_rate(owner_a, rate="20.00").id),
            f.line(unit_price="50.00", tax_rate_id=f.tax_rate(owner_a, rate="20.00").id),
            f.line(unit_price="10.00", tax_rate_id=f.tax_rate(owner_a, rate="5.50").id),
            f.line(unit_price="30.00"),
        ],
    )
    bands = _detail(owner_a, draft.id).tax_bands
    assert [(b.rate, b.base, b.tax) for b in bands] == [
        (D("0.00"), D("30.00"), D("0.00")),
        (D("5.50"), D("10.00"), D("0.55")),
        (D("20.00"), D("150.00"), D("30.00")),
    ]
    assert sum(b.base for b in bands) == draft.net_total
    assert sum(b.tax for b in bands) == draft.tax_total
    assert calc.tax_breakdown([]) == []


# --- pages ---------------------------------------------------------------------------------------


def _login(client, persona):
    client.force_login(persona.user)
    return client


def test_new_invoice_searches_the_patient(client, owner_a):
    _login(client, owner_a)
    amel = directory.patient(owner_a, given_name="Amel", family_name="Haddad")
    directory.patient(owner_a, given_name="Jules", family_name="Bernard")
    page = client.get("/billing/invoices/new/").content.decode()
    assert 'id="patient-search"' in page and "Amel" not in page  # no list of every patient
    found = client.get("/billing/invoices/new/?q=hadd", HTTP_HX_REQUEST="true").content.decode()
    assert "<html" not in found and f'value="{amel.id}"' in found and "Jules" not in found
    none = client.get("/billing/invoices/new/?q=zzz", HTTP_HX_REQUEST="true").content.decode()
    assert "No patient matches" in none
    # without JavaScript the search button reloads the page with the results
    assert f'value="{amel.id}"' in client.get("/billing/invoices/new/?q=Amel").content.decode()
    missing = client.post("/billing/invoices/new/", {"q": "Amel"})
    assert missing.status_code == 422 and 'id="id_patient_id_error"' in missing.content.decode()
    created = client.post("/billing/invoices/new/", {"patient_id": str(amel.id)})
    assert created.status_code == 302
    # the search costs the same whatever the number of matches
    with CaptureQueriesContext(connection) as few:
        client.get("/billing/invoices/new/?q=hadd", HTTP_HX_REQUEST="true")
    for n in range(12):
        directory.patient(owner_a, given_name=f"Ali{n}", family_name="Haddad")
    with CaptureQueriesContext(connection) as many:
        client.get("/billing/invoices/new/?q=hadd", HTTP_HX_REQUEST="true")
    assert len(many) <= len(few)


def test_editor_adds_completed_appointments_with_constant_queries(client, owner_a):
    _login(client, owner_a)
    clinic = _clinic(owner_a)
    visits = [_visit(owner_a, clinic)]
    draft = f.invoice(owner_a, clinic[3], lines=[])
    url = f"/billing/invoices/{draft.id}/"
    with CaptureQueriesContext(connection) as one:
        page = client.get(url).content.decode()
    assert "Add from this patient's completed appointments" in page
    assert f'value="{visits[0].id}"' in page
    visits += [_visit(owner_a, clinic) for _ in range(5)]
    with CaptureQueriesContext(connection) as six:
        assert client.get(url).status_code == 200
    assert len(six) <= len(one)
    fragment = client.post(
        f"{url}appointments/",
        {"appointment_id": [str(v.id) for v in visits[:2]]},
        HTTP_HX_REQUEST="true",
    ).content.decode()
    assert "<html" not in fragment
    assert 'data-total="gross"><strong><bdi dir="ltr">144.00' in fragment
    assert "Dr Claire Martin" in fragment and f'value="{visits[0].id}"' not in fragment
    again = client.post(
        f"{url}appointments/", {"appointment_id": str(visits[0].id)}, HTTP_HX_REQUEST="true"
    )
    assert again.status_code == 409 and "already billed" in again.content.decode()
    empty = client.post(f"{url}appointments/", {}, HTTP_HX_REQUEST="true")
    assert empty.status_code == 422 and "Choose at least one appointment" in empty.content.decode()


def test_nothing_is_issued_without_confirmation(client, owner_a):
    _login(client, owner_a)
    payer = directory.contact(owner_a, given_name="Nadia", family_name="Payeur")
    draft = f.invoice(owner_a, lines=[f.line(unit_price="80.00")], bill_to_contact_id=payer.id)
    url = f"/billing/invoices/{draft.id}/issue/"
    asked = client.get(url, HTTP_HX_REQUEST="true").content.decode()
    assert "<html" not in asked and "Nadia Payeur" in asked
    assert 'data-summary="total"><strong><bdi>80.00 EUR' in asked
    with tenant_context(owner_a.org.id):
        terms = selectors.billing_settings(owner_a.org.id).payment_terms_days
        today = timefmt.localize(dt.datetime.now(dt.UTC), owner_a.org).date()
        due = timefmt.local_date(today + dt.timedelta(days=terms), organization=owner_a.org)
    assert f'data-summary="due">{due}' in asked
    assert client.get(url).status_code == 200  # a whole page without htmx
    for body in ({}, {"confirm": "no"}):
        assert "Confirm and issue" in client.post(url, body).content.decode()
    assert f.refreshed(owner_a, draft).status == "draft"
    done = client.post(url, {"confirm": "yes"})
    assert done.status_code == 302 and f.refreshed(owner_a, draft).status == "issued"
    # an issued invoice is not asked about again
    assert client.get(url).status_code == 302


# --- the PDF -------------------------------------------------------------------------------------


def _french_clinic(owner, tenant):
    from clinic.accounts import services as accounts

    with tenant(owner.org, owner.user):
        accounts.organization_settings_update(
            actor=owner.membership,
            data={
                "address": "12 rue des Lilas\n75011 Paris",
                "registration_number": "RCS Paris 812 345 678",
                "tax_number": "FR40123456824",
                "bank_iban": "FR76 3000 6000 0112 3456 7890 189",
                "bank_bic": "AGRIFRPP",
            },
        )
        accounts.organization_logo_set(actor=owner.membership, data=_png())


def _pdf_text(body: bytes) -> tuple[str, PdfReader]:
    reader = PdfReader(io.BytesIO(body))
    return "\n".join(p.extract_text() for p in reader.pages), reader


@pytest.mark.parametrize("language", ["fr", "en"])
def test_pdf_says_what_a_french_invoice_must(client, owner_a, tenant, language):
    _french_clinic(owner_a, tenant)
    clinic = _clinic(
        owner_a,
        given_name="Amel",
        family_name="Haddad",
        preferred_language=language,
        address_line1="5 avenue Jean Jaurès",
        postal_code="69007",
        city="Lyon",
    )
    visit = _visit(owner_a, clinic)
    draft = f.invoice(
        owner_a,
        clinic[3],
        lines=[
            f.line("Report", unit_price="10.00", tax_rate_id=f.tax_rate(owner_a, "TVA", "5.50").id)
        ],
    )
    _add(owner_a, draft, [visit.id])
    issued = f.in_tenant(
        owner_a,
        lambda a: services.invoice_issue(actor=a, invoice=draft, issue_date=dt.date(2026, 4, 20)),
    )
    assert issued.language == language  # the payer's
    _login(client, owner_a)
    response = client.get(f"/billing/invoices/{draft.id}/pdf/")
    assert response["Content-Type"] == "application/pdf"
    text, reader = _pdf_text(response.content)
    flat = " ".join(text.split())

    def amount(value):
        return billing_pdf.amount_text(D(value), "EUR", language)

    def day(value):
        with tenant_context(owner_a.org.id):
            return billing_pdf.date_text(value, language)

    words = {
        "fr": {
            "title": f"Facture {issued.number}",
            "terms": "Délai de paiement : 30 jours",
            "bank": "Coordonnées bancaires : IBAN FR76 3000 6000 0112 3456 7890 189",
            "registration": "N° d’immatriculation : RCS Paris 812 345 678",
            "vat": "N° de TVA : FR40123456824",
            "bill_to": "Facturer à",
            "breakdown": "Détail de la TVA",
        },
        "en": {
            "title": f"Invoice {issued.number}",
            "terms": "Payment terms: 30 days",
            "bank": "Bank details: IBAN FR76 3000 6000 0112 3456 7890 189",
            "registration": "Registration number: RCS Paris 812 345 678",
            "vat": "VAT number: FR40123456824",
            "bill_to": "Bill to",
            "breakdown": "Tax breakdown",
        },
    }[language]
    for expected in (
        *words.values(),
        "BIC AGRIFRPP",
        "12 rue des Lilas",  # the clinic's address
        "75011 Paris",
        "Amel Haddad",
        "5 avenue Jean Jaurès",  # the payer's address
        "69007 Lyon",
        "Dr Claire Martin",  # the line's practitioner and service date
        day(DAY),
        day(dt.date(2026, 5, 20)),  # due date
        amount("72.00") + " ",  # the consultation with 20 % tax
        amount("10.55"),
        amount("82.55"),
        # per rate: base and tax
        f"{amount('10.00')} {amount('0.55')}",
        f"{amount('60.00')} {amount('12.00')}",
    ):
        assert expected in flat, (expected, flat)
    assert len(reader.pages[0].images) == 1  # the logo


def test_pdf_in_arabic_uses_a_font_with_arabic_glyphs(client, owner_a, tenant):
    _french_clinic(owner_a, tenant)
    clinic = _clinic(owner_a, preferred_language="ar")
    draft = f.invoice(owner_a, clinic[3], lines=[])
    _add(owner_a, draft, [_visit(owner_a, clinic).id])
    _login(client, owner_a)
    response = client.get(f"/billing/invoices/{draft.id}/pdf/")
    text, reader = _pdf_text(response.content)
    fonts = {
        str(font.get_object().get("/BaseFont"))
        for page in reader.pages
        for font in page["/Resources"]["/Font"].values()
    }
    assert any("Arabic" in name or "DejaVu" in name for name in fonts), fonts
    assert "72.00" in text and "Dr Claire Martin" in text
    assert any("\u0600" <= ch <= "\u06ff" or "\ufb50" <= ch <= "\ufeff" for ch in text)


def test_invoice_draft_pdf_in_an_asked_language(client, owner_a):
    draft = f.invoice(owner_a, lines=[f.line("Session", unit_price="20.00")])
    _login(client, owner_a)
    text, _reader = _pdf_text(client.get(f"/billing/invoices/{draft.id}/pdf/?language=fr").content)
    assert "Facture brouillon" in text and "Délai de paiement : 30 jours" in text
