"""Arabic pages speak Arabic: the key pages, rendered in Arabic with seeded data whose names are
neutral, show none of the English interface words; status labels shared by several kinds of
records take the gender of the record in French."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.utils import translation

from tests.billing import factories as f
from tests.scheduling.conftest import MONDAY, at, clinic_build
from tests.web.test_today import _appointment

pytestmark = pytest.mark.django_db

ENGLISH_WORDS = (
    "Patient",
    "Patients",
    "Invoice",
    "Invoices",
    "Today",
    "Book",
    "Cancel",
    "Status",
    "Save",
    "Search",
    "Total",
    "Balance",
    "Date",
    "Name",
    "Email",
    "Phone",
    "Next",
    "Previous",
    "Overdue",
    "Draft",
    "Issued",
    "Paid",
)
_ENGLISH = re.compile(r"\b(" + "|".join(ENGLISH_WORDS) + r")\b")


def visible_text(html: str) -> str:
    """What a reader sees: no scripts, styles, tags or attributes."""
    html = re.sub(r"(?is)<(script|style|template)\b.*?</\1>", " ", html)
    html = re.sub(r"(?s)<!--.*?-->", " ", html)
    return re.sub(r"(?s)<[^>]+>", " ", html)


def english_words_in(html: str) -> list[str]:
    found = []
    text = visible_text(html)
    for match in _ENGLISH.finditer(text):
        start = max(match.start() - 40, 0)
        found.append(f"{match.group(1)!r} in …{' '.join(text[start : match.end() + 40].split())}…")
    return found


@pytest.fixture
def arabic_clinic(owner_a, clock, client):
    clock.travel(at(MONDAY, 7))
    clinic = clinic_build(owner_a)
    patient = clinic.patients[0]
    _appointment(clinic, start=at(MONDAY, 9), patient=patient, status="confirmed")
    _appointment(clinic, start=at(MONDAY, 11), patient=clinic.patients[1], status="cancelled")
    _appointment(clinic, start=at(MONDAY, 14) + timedelta(days=1), patient=patient)
    draft = f.invoice(owner_a, patient)
    issued = f.issued_invoice(owner_a, patient, issue_date=MONDAY - timedelta(days=60))
    f.payment(owner_a, patient, amount="10.00")
    client.force_login(owner_a.user)
    client.post("/i18n/setlang/", {"language": "ar", "next": "/"})
    clinic.draft, clinic.issued, clinic.patient = draft, issued, patient
    return clinic


def test_key_pages_in_arabic_show_no_english_interface_words(client, arabic_clinic):
    c = arabic_clinic
    pages = [
        "/",
        "/calendar/",
        "/patients/",
        f"/patients/{c.patient.id}/",
        "/billing/invoices/",
        f"/billing/invoices/{c.issued.id}/",
        f"/billing/invoices/{c.draft.id}/",
        "/members/",
        "/settings/organization/",
        "/audit/",
    ]
    problems = {}
    for path in pages:
        response = client.get(path)
        assert response.status_code == 200, path
        html = response.content.decode()
        assert 'lang="ar"' in html, path
        if words := english_words_in(html):
            problems[path] = words
    assert not problems, "\n".join(f"{p}:\n  " + "\n  ".join(w) for p, w in problems.items())


def test_shared_status_labels_take_the_gender_of_their_record_in_french():
    from clinic.billing.models import InvoiceStatus
    from clinic.care.status import ConsultationStatus, PlanStatus
    from clinic.scheduling.models import AppointmentStatus

    with translation.override("fr"):
        # un rendez-vous annulé, une facture annulée
        assert str(AppointmentStatus.CANCELLED.label) == "Annulé"
        assert str(InvoiceStatus.VOID.label) == "Annulée"
        assert str(AppointmentStatus.COMPLETED.label) == "Terminé"
        assert str(ConsultationStatus.CANCELLED.label) == "Annulée"
        assert str(PlanStatus.ACTIVE.label) == "Actif"
        assert str(InvoiceStatus.PAID.label) == "Payée"
    with translation.override("ar"):
        assert str(AppointmentStatus.CANCELLED.label) == "ملغى"
        assert str(InvoiceStatus.VOID.label) == "ملغاة"


def test_a_void_invoice_reads_feminine_and_a_cancelled_appointment_masculine_in_french(
    client, arabic_clinic, owner_a
):
    from clinic.billing import services

    issued = f.issued_invoice(owner_a, arabic_clinic.patient)
    f.in_tenant(owner_a, lambda a: services.invoice_void(actor=a, invoice=issued, reason="Erreur"))
    client.post("/i18n/setlang/", {"language": "fr", "next": "/"})
    invoice = visible_text(client.get(f"/billing/invoices/{issued.id}/").content.decode())
    assert "Annulée" in invoice
    chart = visible_text(client.get(f"/patients/{arabic_clinic.patients[1].id}/").content.decode())
    assert "Annulé" in chart.replace("Annulée", "")
