"""Organization settings (issue 11, section 6): validation (IANA zone, currency, IBAN checksum,
BIC, email), audit, re-authentication on the page, the logo (type from its bytes, size limit,
served only to members), and the clinic's legal details on the invoice PDF."""

from __future__ import annotations

import io

import pytest
from django.test import Client

from clinic.accounts import services
from clinic.accounts.models import Organization
from clinic.audit.models import AuditEvent
from clinic.core.errors import PermissionDenied, ValidationFailed
from tests.conftest import reauthenticated

pytestmark = pytest.mark.django_db

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
GOOD_IBAN = "FR76 3000 6000 0112 3456 7890 189"
LONG_IBAN = "MT84 MALT 0110 0001 2345 MTLC AST0 01S"  # 31 characters, 38 with spaces


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path)


def _update(persona, tenant, **data):
    with tenant(persona.org, persona.user):
        return services.organization_settings_update(actor=persona.membership, data=data)


def test_details_are_saved_normalised_and_audited(owner_a, tenant):
    org = _update(
        owner_a,
        tenant,
        address="1 rue de la Paix\n75002 Paris",
        registration_number="RCS 123 456 789",
        tax_number="FR12345678901",
        bank_iban=GOOD_IBAN,
        bank_bic="bnpafrpp",
        currency="chf",
        time_zone="Asia/Kolkata",
        email="Desk@Clinic.example",
    )
    assert org.bank_iban == "FR7630006000011234567890189" and org.bank_bic == "BNPAFRPP"
    assert org.currency == "CHF" and org.email == "desk@clinic.example"
    with tenant(owner_a.org):
        event = AuditEvent.objects.get(action="organization.settings_changed")
    assert event.details["after"]["tax_number"] == "FR12345678901"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("time_zone", "Mars/Olympus"),
        ("currency", "XYZ"),
        ("bank_iban", "FR76 3000 6000 0112 3456 7890 188"),
        ("bank_bic", "NOPE"),
        ("email", "not-an-email"),
        ("name", ""),
        ("default_locale", "xx"),
        ("colour", "red"),
    ],
)
def test_bad_values_are_refused_naming_the_field_and_nothing_changes(owner_a, tenant, field, value):
    with pytest.raises(ValidationFailed) as refused:
        _update(owner_a, tenant, **{"address": "Changed", field: value})
    assert field in refused.value.details
    assert Organization.objects.get(id=owner_a.org.id).address == ""


def test_a_long_iban_typed_in_groups_fits(owner_a, tenant):
    assert _update(owner_a, tenant, bank_iban=LONG_IBAN).bank_iban == LONG_IBAN.replace(" ", "")


def test_only_owners_and_admins_change_settings(persona_factory, tenant):
    manager = persona_factory("manager")
    with pytest.raises(PermissionDenied):
        _update(manager, tenant, name="Mine now")


def test_settings_page_asks_for_the_password_then_saves(owner_a, tenant):
    browser = Client()
    browser.force_login(owner_a.user)
    page = browser.get("/settings/organization/")
    assert page.status_code == 200 and "VAT number" in page.text
    form = {
        "name": "Clinique du Parc",
        "address": "2 avenue Foch",
        "time_zone": "Europe/Paris",
        "default_locale": "fr",
        "currency": "EUR",
        "payment_terms_days": "15",
        "bank_iban": GOOD_IBAN,
        "tax_number": "FR99",
    }
    asked = browser.post("/settings/organization/", form)
    assert asked.status_code == 302 and "/account/reauthenticate/" in asked["Location"]
    reauthenticated(browser)
    bad = browser.post("/settings/organization/", {**form, "bank_iban": "FR00 1234"})
    assert bad.status_code == 422 and "IBAN is not valid" in bad.text
    assert Organization.objects.get(id=owner_a.org.id).tax_number == ""
    saved = browser.post("/settings/organization/", form)
    assert saved.status_code == 302
    org = Organization.objects.get(id=owner_a.org.id)
    assert org.name == "Clinique du Parc" and org.tax_number == "FR99"
    from clinic.billing.services import billing_settings_get

    with tenant(owner_a.org):
        assert billing_settings_get(owner_a.org.id).payment_terms_days == 15


def test_practitioners_do_not_reach_the_settings_page(practitioner_a):
    browser = Client()
    browser.force_login(practitioner_a.user)
    assert browser.get("/settings/organization/").status_code == 403


def test_logo_type_comes_from_its_bytes_and_is_served_only_to_members(
    owner_a, practitioner_a, owner_b, tenant
):
    with tenant(owner_a.org, owner_a.user):
        with pytest.raises(ValidationFailed):
            services.organization_logo_set(actor=owner_a.membership, data=b"<svg onload=alert(1)>")
        with pytest.raises(ValidationFailed):
            services.organization_logo_set(
                actor=owner_a.membership, data=PNG + b"\x00" * services.LOGO_MAX_BYTES
            )
        services.organization_logo_set(actor=owner_a.membership, data=PNG)
    member = Client()
    member.force_login(practitioner_a.user)
    served = member.get("/settings/organization/logo/")
    assert served.status_code == 200 and served["Content-Type"] == "image/png"
    assert served.content == PNG
    assert Client().get("/settings/organization/logo/").status_code == 302
    stranger = Client()
    stranger.force_login(owner_b.user)
    assert stranger.get("/settings/organization/logo/").status_code == 404  # B has no logo


def test_invoice_pdf_carries_the_legal_details(api, owner_a, tenant):
    from pypdf import PdfReader

    from tests.billing import factories as f
    from tests.directory import factories as directory

    _update(
        owner_a,
        tenant,
        address="1 rue de la Paix\n75002 Paris",
        registration_number="SIRET 123 456 789 00012",
        tax_number="FR12345678901",
        bank_iban=GOOD_IBAN,
        bank_bic="BNPAFRPP",
    )
    patient = directory.patient(owner_a)
    invoice = f.issued_invoice(owner_a, patient, lines=[f.line(description="Physiotherapy")])
    response = api.get(f"invoices/{invoice.id}/pdf", owner_a)
    assert response.status_code == 200
    text = "\n".join(p.extract_text() for p in PdfReader(io.BytesIO(response.content)).pages)
    for expected in (
        "1 rue de la Paix",
        "75002 Paris",
        "SIRET 123 456 789 00012",
        "FR12345678901",
        "FR76 3000 6000 0112 3456 7890 189",
        "BNPAFRPP",
    ):
        assert expected in text, expected
    days = (invoice.due_date - invoice.issue_date).days
    assert f"Payment terms: {days} days" in text
