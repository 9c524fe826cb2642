"""The billing API: amounts as strings, errors naming the field, roles and scoping, list query
counts, statements (JSON, CSV round trip, PDF text) and insurance claims."""

from __future__ import annotations

import datetime as dt
import io
import uuid
from decimal import Decimal as D

import pytest
from pypdf import PdfReader

from clinic.billing import exports
from clinic.billing.pdf import amount_text
from tests.billing import factories as f
from tests.directory import factories as directory

pytestmark = pytest.mark.django_db


def _key() -> dict:
    return {"HTTP_IDEMPOTENCY_KEY": uuid.uuid4().hex}


def _create(api, persona, patient, lines=None, **extra):
    body = {
        "patient_id": str(patient.id),
        "lines": lines or [{"description": "Consultation", "quantity": "1", "unit_price": "60.00"}],
        **extra,
    }
    return api.post("invoices", persona, json=body, headers=_key())


def test_create_issue_and_read_an_invoice(api, owner_a):
    patient = directory.patient(owner_a)
    rate = api.post("tax-rates", owner_a, json={"name": "VAT", "rate": "20.00"}).json()
    response = _create(
        api,
        owner_a,
        patient,
        lines=[
            {
                "description": "Session",
                "quantity": "2",
                "unit_price": "45.50",
                "discount_percent": "10",
                "tax_rate_id": rate["id"],
            },
            {"description": "Report", "quantity": "1", "unit_price": "19.99"},
        ],
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["status"] == "draft" and body["number"] is None
    # 91.00 - 9.10 = 81.90 net, tax 16.38; + 19.99
    assert body["net_total"] == "101.89" and body["tax_total"] == "16.38"
    assert body["gross_total"] == "118.27" and body["balance"] == "118.27"
    assert all(isinstance(v, str) for v in (body["lines"][0]["unit_price"], body["balance"]))
    issued = api.post(f"invoices/{body['id']}/issue", owner_a, json={}, headers=_key())
    assert issued.status_code == 200, issued.content
    assert issued.json()["number"].startswith("INV-") and issued.json()["status"] == "issued"
    again = api.post(f"invoices/{body['id']}/issue", owner_a, json={})
    assert again.status_code == 409
    change = api.post(
        f"invoices/{body['id']}/lines", owner_a, json={"description": "x", "unit_price": "1.00"}
    )
    assert change.status_code == 409


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("12.50", True),
        ("12", True),
        (12, True),
        (12.5, False),
        ("12.505", False),
        ("1e3", False),
        ("-1.00", False),
        ("abc", False),
        (True, False),
    ],
)
def test_amounts_are_strings_with_two_decimals(api, owner_a, value, ok):
    patient = directory.patient(owner_a)
    response = _create(
        api, owner_a, patient, lines=[{"description": "x", "quantity": "1", "unit_price": value}]
    )
    assert (response.status_code == 201) is ok, response.content
    if not ok:
        assert response.status_code == 422
        assert "lines.0.unit_price" in response.json()["error"]["details"]


def test_payment_with_allocations_and_refund(api, owner_a):
    patient = directory.patient(owner_a)
    inv = f.issued_invoice(owner_a, patient)
    response = api.post(
        "payments",
        owner_a,
        json={
            "patient_id": str(patient.id),
            "amount": "150.00",
            "method": "cash",
            "allocations": [{"invoice_id": str(inv.id), "amount": "100.00"}],
        },
        headers=_key(),
    )
    assert response.status_code == 201, response.content
    pay = response.json()
    assert pay["allocated_total"] == "100.00" and pay["unallocated"] == "50.00"
    too_much = api.post(f"payments/{pay['id']}/refunds", owner_a, json={"amount": "50.01"})
    assert too_much.status_code == 422 and "amount" in too_much.json()["error"]["details"]
    refund = api.post(f"payments/{pay['id']}/refunds", owner_a, json={"amount": "50.00"})
    assert refund.status_code == 201
    balance = api.get(f"balances?patient_id={patient.id}", owner_a).json()
    assert balance["outstanding"] == "0.00" and balance["credit"] == "0.00"
    bad = api.post(
        "payments", owner_a, json={"patient_id": str(patient.id), "amount": 10.1, "method": "cash"}
    )
    assert bad.status_code == 422 and "amount" in bad.json()["error"]["details"]


def test_credit_note_via_api_voids_and_numbers(api, owner_a):
    patient = directory.patient(owner_a)
    inv = f.issued_invoice(owner_a, patient)
    partial = api.post(
        "credit-notes",
        owner_a,
        json={"invoice_id": str(inv.id), "amount": "30.00", "reason": "discount"},
    )
    assert partial.status_code == 201, partial.content
    rest = api.post("credit-notes", owner_a, json={"invoice_id": str(inv.id), "reason": "error"})
    assert rest.json()["amount"] == "70.00"
    assert partial.json()["number"] != rest.json()["number"]
    assert api.get(f"invoices/{inv.id}", owner_a).json()["status"] == "void"


def test_roles(api, owner_a, persona_factory):
    assistant = persona_factory("assistant")
    practitioner = persona_factory("practitioner")
    patient = directory.patient(owner_a)
    inv = f.issued_invoice(owner_a, patient)
    assert _create(api, assistant, patient).status_code == 201
    assert (
        api.post(
            "credit-notes", assistant, json={"invoice_id": str(inv.id), "reason": "x"}
        ).status_code
        == 403
    )
    assert api.post("tax-rates", assistant, json={"name": "T", "rate": "5"}).status_code == 403
    # a practitioner sees nothing unless the organization grants it
    assert api.get("invoices", practitioner).json()["count"] == 0
    assert api.get(f"invoices/{inv.id}", practitioner).status_code == 404
    body = {"patient_id": str(patient.id), "lines": []}
    assert api.post("invoices", practitioner, json=body).status_code == 403


def test_patient_login_sees_only_their_own_invoices(api, owner_a, persona_factory):
    login = persona_factory("patient")
    mine = directory.patient(owner_a, membership_id=login.membership.id)
    theirs = directory.patient(owner_a)
    own = f.issued_invoice(owner_a, mine)
    other = f.issued_invoice(owner_a, theirs)
    f.invoice(owner_a, mine)  # a draft: not shown to the patient
    listed = api.get("invoices", login).json()
    assert [i["id"] for i in listed["items"]] == [str(own.id)]
    assert api.get(f"invoices/{other.id}", login).status_code == 404
    pdf = api.get(f"invoices/{own.id}/pdf", login)
    assert pdf.status_code == 200 and pdf["Content-Type"] == "application/pdf"
    assert api.get(f"balances?patient_id={theirs.id}", login).status_code == 404
    assert api.get(f"balances?patient_id={mine.id}", login).status_code == 200
    pay = {"patient_id": str(mine.id), "amount": "1.00", "method": "cash"}
    assert api.post("payments", login, json=pay).status_code == 403


def test_list_endpoints_have_constant_query_counts(api, owner_a, django_assert_max_num_queries):
    patient = directory.patient(owner_a)
    for _ in range(3):
        inv = f.issued_invoice(owner_a, patient)
    f.payment(owner_a, patient, amount="20.00")
    counts = {}
    for path in (
        "invoices",
        "payments",
        "credit-notes",
        "tax-rates",
        "claims",
        "insurance-policies",
        "invoices/overdue",
    ):
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        with CaptureQueriesContext(connection) as ctx:
            assert api.get(path, owner_a).status_code == 200
        counts[path] = len(ctx)
    for _ in range(6):
        inv = f.issued_invoice(owner_a, patient)
        f.payment(owner_a, patient, amount="15.00")
    for path, before in counts.items():
        with django_assert_max_num_queries(before):
            assert api.get(path, owner_a).status_code == 200
    with django_assert_max_num_queries(counts["invoices"] + 8):
        assert api.get(f"invoices/{inv.id}", owner_a).status_code == 200


def test_statement_json_csv_and_pdf(api, owner_a):
    patient = directory.patient(owner_a, preferred_language="fr")
    f.issued_invoice(owner_a, patient, issue_date=dt.date(2025, 12, 1))  # before the period
    jan = f.issued_invoice(owner_a, patient, issue_date=dt.date(2026, 1, 10))
    f.payment(owner_a, patient, amount="120.00", received_at="2026-01-15T10:00:00+01:00")
    query = f"patient_id={patient.id}&date_from=2026-01-01&date_to=2026-01-31"
    body = api.get(f"statements?{query}", owner_a).json()
    assert body["opening"] == "100.00"
    assert [line["type"] for line in body["lines"]] == ["invoice", "payment"]
    assert body["closing"] == "80.00"
    assert D(body["opening"]) + D(body["total_debits"]) - D(body["total_credits"]) == D(
        body["closing"]
    )
    csv_response = api.get(f"statements?{query}&format=csv", owner_a)
    parsed = exports.statement_csv_parse(csv_response.content.decode())
    assert parsed["opening"] == D("100.00") and parsed["closing"] == D("80.00")
    assert (
        parsed["opening"] + sum(m["debit"] - m["credit"] for m in parsed["movements"])
        == (parsed["closing"])
    )
    assert parsed["movements"][0]["reference"] == jan.number
    pdf_response = api.get(f"statements?{query}&format=pdf", owner_a)
    text = PdfReader(io.BytesIO(pdf_response.content)).pages[0].extract_text()
    assert jan.number in text
    assert amount_text(D("80.00"), "EUR", "fr") in text  # in the payer's language


def test_invoice_pdf_contains_number_and_totals(api, owner_a):
    patient = directory.patient(owner_a)
    inv = f.issued_invoice(
        owner_a, patient, lines=[f.line(description="Physiotherapy", unit_price="1234.56")]
    )
    response = api.get(f"invoices/{inv.id}/pdf", owner_a)
    assert response.status_code == 200
    reader = PdfReader(io.BytesIO(response.content))
    text = "\n".join(page.extract_text() for page in reader.pages)
    assert inv.number in text and "Physiotherapy" in text
    assert amount_text(D("1234.56"), "EUR", "en") in text


def test_arabic_statement_text_is_extracted_in_logical_order(api, owner_a):
    patient = directory.patient(
        owner_a, given_name="ليلى", family_name="حداد", preferred_language="ar"
    )
    inv = f.issued_invoice(owner_a, patient, issue_date=dt.date(2026, 2, 2))
    f.in_tenant(
        owner_a,
        lambda a: __import__("clinic.billing.services", fromlist=["x"]).credit_note_create(
            actor=a,
            invoice=inv,
            amount="10.00",
            reason="خصم الولاء",
            issue_date=dt.date(2026, 2, 3),
        ),
    )
    response = api.get(
        f"statements?patient_id={patient.id}&date_from=2026-02-01&date_to=2026-02-28"
        "&format=pdf&language=ar",
        owner_a,
    )
    assert response.status_code == 200
    text = PdfReader(io.BytesIO(response.content)).pages[0].extract_text()
    # shaped Arabic comes back as the logical-order characters, not reversed glyphs
    assert "ليلى حداد" in text
    assert inv.number in text
    assert amount_text(D("90.00"), "EUR", "ar").strip() in text


def test_insurance_claim_workflow_and_shares(api, owner_a):
    patient = directory.patient(owner_a)
    inv = f.issued_invoice(owner_a, patient, issue_date=dt.date.today())
    policy = api.post(
        "insurance-policies",
        owner_a,
        json={
            "patient_id": str(patient.id),
            "insurer": "Mutuelle",
            "policy_number": "POL-778899",
            "coverage_start": "2020-01-01",
            "coverage_percent": "70",
            "annual_limit": "500",
        },
    )
    assert policy.status_code == 201, policy.content
    assert policy.json()["policy_number"] == "POL-778899"
    from django.db import connection

    from clinic.core.tenancy import tenant_context

    with tenant_context(owner_a.org.id), connection.cursor() as cur:
        cur.execute("SELECT policy_number FROM billing_insurancepolicy")
        (stored,) = cur.fetchone()
    assert stored.startswith("enc1:") and "778899" not in stored  # encrypted at rest
    claim = api.post(
        "claims", owner_a, json={"invoice_id": str(inv.id), "policy_id": policy.json()["id"]}
    )
    assert claim.status_code == 201, claim.content
    cid = claim.json()["id"]
    assert claim.json()["claimed_amount"] == "70.00" and claim.json()["status"] == "draft"
    assert api.post(f"claims/{cid}/pay", owner_a, json={}).status_code == 409
    assert api.post(f"claims/{cid}/submit", owner_a, json={}).json()["status"] == "submitted"
    shares = api.get(f"invoices/{inv.id}", owner_a).json()
    assert shares["insurer_share"] == "70.00" and shares["patient_share"] == "30.00"
    decided = api.post(f"claims/{cid}/decide", owner_a, json={"approved_amount": "60.00"})
    assert decided.json()["status"] == "partially_approved"
    paid = api.post(f"claims/{cid}/pay", owner_a, json={"reference": "VIR-1"})
    assert paid.json()["status"] == "paid" and paid.json()["paid_amount"] == "60.00"
    after = api.get(f"invoices/{inv.id}", owner_a).json()
    assert after["balance"] == "40.00" and after["insurer_share"] == "0.00"
    assert after["patient_share"] == "40.00" and after["status"] == "partially_paid"
