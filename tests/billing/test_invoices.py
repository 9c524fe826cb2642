"""Invoices, payments, credit notes and refunds through the services, and what the database
refuses on its own (triggers and CHECK constraints)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal as D

import pytest
from django.db import IntegrityError, connection, transaction

from clinic.billing import selectors, services
from clinic.billing.models import CreditNote, Invoice, InvoiceLine, Payment, PaymentAllocation
from clinic.core.errors import Conflict, ValidationFailed
from tests.billing import factories as f
from tests.directory import factories as directory

pytestmark = pytest.mark.django_db


def test_draft_totals_half_up_per_line(owner_a):
    rate = f.tax_rate(owner_a, rate="20.00")
    inv = f.invoice(
        owner_a,
        lines=[
            f.line(quantity="3", unit_price="0.35", tax_rate_id=rate.id),  # 1.05, tax 0.21
            f.line(quantity="1", unit_price="10.05", discount_percent="5"),  # disc 0.5025→0.50
            f.line(quantity="2", unit_price="7.50", discount_amount="1.00", tax_rate_id=rate.id),
        ],
    )
    assert inv.status == "draft" and inv.number is None
    assert inv.subtotal == D("26.10")
    assert inv.discount_total == D("1.50")
    assert inv.net_total == D("24.60")
    assert inv.tax_total == D("0.21") + D("2.80")
    assert inv.gross_total == inv.net_total + inv.tax_total


def test_service_line_takes_price_and_tax_from_the_service(owner_a):
    service = directory.service(owner_a, price="80.00", tax_rate="10.00", code="97110")
    inv = f.invoice(owner_a, lines=[{"service_id": service.id, "quantity": "2"}])
    with _t(owner_a):
        line = InvoiceLine.objects.get(invoice_id=inv.id)
    assert line.description.endswith("(97110)")
    assert line.unit_price == D("80.00") and line.tax_rate_percent == D("10.00")
    assert inv.gross_total == D("176.00")


def _t(persona):
    from clinic.core.tenancy import tenant_context

    return tenant_context(persona.org.id)


def test_bad_lines_name_the_field_and_write_nothing(owner_a):
    patient = directory.patient(owner_a)
    with pytest.raises(ValidationFailed) as exc:
        f.invoice(
            owner_a,
            patient,
            lines=[
                f.line(quantity="0"),
                f.line(unit_price="1.234"),
                f.line(discount_percent="101"),
                f.line(unit_price="5.00", discount_amount="6.00"),
                {"quantity": "1", "unit_price": 12.5, "description": "float"},
            ],
        )
    details = exc.value.details
    assert set(details) >= {
        "lines.0.quantity",
        "lines.1.unit_price",
        "lines.2.discount_percent",
        "lines.3.discount_amount",
        "lines.4.unit_price",
    }
    with _t(owner_a):
        assert not Invoice.objects.filter(patient=patient).exists()


def test_issue_assigns_numbers_in_sequence_and_freezes(owner_a):
    first = f.issued_invoice(owner_a, issue_date=dt.date(2026, 3, 1))
    second = f.issued_invoice(owner_a, issue_date=dt.date(2026, 3, 2))
    assert first.number == "INV-2026-000001" and second.number == "INV-2026-000002"
    assert first.status == "issued" and first.due_date == dt.date(2026, 3, 31)
    # the year is part of the format: a new year starts again at 1
    third = f.issued_invoice(owner_a, issue_date=dt.date(2027, 1, 5))
    assert third.number == "INV-2027-000001"
    with pytest.raises(Conflict):
        f.in_tenant(owner_a, lambda a: services.invoice_issue(actor=a, invoice=first))
    with pytest.raises(Conflict):
        f.in_tenant(
            owner_a,
            lambda a: services.invoice_line_add(actor=a, invoice=first, data=f.line()),
        )


def test_the_database_refuses_changes_to_issued_invoices(owner_a):
    inv = f.issued_invoice(owner_a)
    with _t(owner_a):
        for sql, params in (
            (
                "UPDATE billing_invoice SET gross_total = gross_total + 1, "
                "net_total = net_total + 1, subtotal = subtotal + 1 WHERE id = %s",
                [inv.id],
            ),
            (
                "UPDATE billing_invoice SET status = 'draft', number = NULL, issue_date = NULL "
                "WHERE id = %s",
                [inv.id],
            ),
            ("UPDATE billing_invoiceline SET unit_price = 1 WHERE invoice_id = %s", [inv.id]),
            ("DELETE FROM billing_invoiceline WHERE invoice_id = %s", [inv.id]),
            ("DELETE FROM billing_invoice WHERE id = %s", [inv.id]),
        ):
            with pytest.raises(IntegrityError) as exc, transaction.atomic():
                with connection.cursor() as cur:
                    cur.execute(sql, params)
            assert "issued" in str(exc.value) or "immutable" in str(exc.value)


def test_issue_refuses_totals_that_do_not_match_the_lines(owner_a):
    inv = f.invoice(owner_a)
    with _t(owner_a), pytest.raises(IntegrityError), transaction.atomic():
        with connection.cursor() as cur:
            cur.execute(
                "UPDATE billing_invoice SET status='issued', number='X-1', "
                "issue_date='2026-01-01', due_date='2026-01-31', subtotal = subtotal + 1, "
                "net_total = net_total + 1, gross_total = gross_total + 1 WHERE id = %s",
                [inv.id],
            )


def test_payment_allocates_oldest_first_and_keeps_the_rest_as_credit(owner_a):
    patient = directory.patient(owner_a)
    old = f.issued_invoice(owner_a, patient, issue_date=dt.date(2026, 1, 1))
    new = f.issued_invoice(owner_a, patient, issue_date=dt.date(2026, 2, 1))
    pay = f.payment(owner_a, patient, amount="150.00")
    assert pay.allocated_total == D("150.00") and pay.unallocated == D("0.00")
    old, new = f.refreshed(owner_a, old), f.refreshed(owner_a, new)
    assert old.status == "paid" and old.balance == 0
    assert new.status == "partially_paid" and new.balance == D("50.00")
    extra = f.payment(owner_a, patient, amount="80.00")
    assert extra.allocated_total == D("50.00") and extra.unallocated == D("30.00")
    assert f.refreshed(owner_a, new).status == "paid"
    with _t(owner_a):
        account = selectors.Account("patient", patient.id, "x", "")
        balance = selectors.account_balance(account)
    assert balance.outstanding == 0 and balance.credit == D("30.00")
    assert balance.balance == D("-30.00")


def test_chosen_allocations_are_checked_against_balances(owner_a):
    patient = directory.patient(owner_a)
    inv = f.issued_invoice(owner_a, patient)
    other = f.issued_invoice(owner_a)  # another payer
    with pytest.raises(ValidationFailed) as exc:
        f.payment(
            owner_a,
            patient,
            amount="300.00",
            allocations=[
                {"invoice_id": str(inv.id), "amount": "100.01"},
                {"invoice_id": str(other.id), "amount": "1.00"},
            ],
        )
    assert "allocations.0.amount" in exc.value.details
    assert "allocations.1.invoice_id" in exc.value.details
    with _t(owner_a):
        assert not Payment.objects.filter(payer_patient=patient).exists()
    with pytest.raises(ValidationFailed) as exc:
        f.payment(
            owner_a,
            patient,
            amount="10.00",
            allocations=[{"invoice_id": str(inv.id), "amount": "20.00"}],
        )
    assert "allocations" in exc.value.details


def test_the_database_refuses_an_allocation_beyond_the_balance(owner_a):
    patient = directory.patient(owner_a)
    inv = f.issued_invoice(owner_a, patient)
    pay = f.payment(owner_a, patient, amount="500.00", allocate="none")
    with _t(owner_a):
        with pytest.raises(IntegrityError), transaction.atomic():
            PaymentAllocation.objects.create(payment=pay, invoice=inv, amount=D("100.01"))
        PaymentAllocation.objects.create(payment=pay, invoice=inv, amount=D("100.00"))
        assert Invoice.objects.get(id=inv.id).status == "paid"
        with pytest.raises(IntegrityError), transaction.atomic():  # paid: not open any more
            PaymentAllocation.objects.create(payment=pay, invoice=inv, amount=D("0.01"))


def test_the_database_refuses_spending_a_payment_twice(owner_a):
    patient = directory.patient(owner_a)
    a = f.issued_invoice(owner_a, patient)
    b = f.issued_invoice(owner_a, patient)
    pay = f.payment(owner_a, patient, amount="120.00", allocate="none")
    with _t(owner_a):
        PaymentAllocation.objects.create(payment=pay, invoice=a, amount=D("100.00"))
        with pytest.raises(IntegrityError), transaction.atomic():
            PaymentAllocation.objects.create(payment=pay, invoice=b, amount=D("20.01"))


def test_partial_credit_note_then_full_credit_releases_payments(owner_a):
    patient = directory.patient(owner_a)
    rate = f.tax_rate(owner_a, rate="20.00")
    inv = f.issued_invoice(
        owner_a, patient, lines=[f.line(unit_price="100.00", tax_rate_id=rate.id)]
    )  # 120.00 gross
    f.payment(owner_a, patient, amount="100.00")
    note = f.in_tenant(
        owner_a,
        lambda a: services.credit_note_create(
            actor=a, invoice=inv, amount="10.00", reason="goodwill"
        ),
    )
    assert note.number.startswith("CN-") and note.number.endswith("000001")
    assert note.amount == note.net_amount + note.tax_amount
    inv = f.refreshed(owner_a, inv)
    assert inv.balance == D("10.00") and inv.status == "partially_paid"
    # the rest, in full: the 100.00 paid is released to the payer's credit; the invoice is void
    full = f.in_tenant(
        owner_a, lambda a: services.credit_note_create(actor=a, invoice=inv, reason="error")
    )
    assert full.amount == D("110.00")
    inv = f.refreshed(owner_a, inv)
    assert inv.status == "void" and inv.balance == 0 and inv.paid_total == 0
    with _t(owner_a):
        notes = list(CreditNote.objects.filter(invoice=inv))
        assert sum(n.tax_amount for n in notes) == inv.tax_total
        assert sum(n.net_amount for n in notes) == inv.net_total
        credit = Payment.objects.get(payer_patient=patient).unallocated
    assert credit == D("100.00")
    with pytest.raises(ValidationFailed):
        f.in_tenant(
            owner_a,
            lambda a: services.credit_note_create(
                actor=a, invoice=inv, amount="0.01", reason="again"
            ),
        )


def test_void_needs_no_payment_and_refund_comes_from_credit(owner_a):
    patient = directory.patient(owner_a)
    inv = f.issued_invoice(owner_a, patient)
    voided = f.in_tenant(
        owner_a, lambda a: services.invoice_void(actor=a, invoice=inv, reason="duplicate")
    )
    assert voided.status == "void" and voided.credited_total == voided.gross_total
    paid = f.issued_invoice(owner_a, patient)
    pay = f.payment(owner_a, patient, amount="130.00")
    with pytest.raises(Conflict):
        f.in_tenant(owner_a, lambda a: services.invoice_void(actor=a, invoice=paid, reason="x"))
    assert pay.unallocated == D("30.00")
    with pytest.raises(ValidationFailed):
        f.in_tenant(
            owner_a,
            lambda a: services.refund_record(actor=a, payment=pay, data={"amount": "30.01"}),
        )
    refund = f.in_tenant(
        owner_a, lambda a: services.refund_record(actor=a, payment=pay, data={"amount": "30.00"})
    )
    assert refund.amount == D("30.00")
    assert f.refreshed(owner_a, pay).unallocated == 0


def test_overdue_selector(owner_a):
    patient = directory.patient(owner_a)
    late = f.issued_invoice(owner_a, patient, issue_date=dt.date(2026, 1, 1))  # due 31 Jan
    f.issued_invoice(owner_a, patient, issue_date=dt.date(2026, 3, 1))  # due 31 Mar
    with _t(owner_a):
        rows = list(selectors.invoices_overdue(as_of=dt.date(2026, 3, 2)))
    assert [r.id for r in rows] == [late.id]
    assert rows[0].days_overdue == 30
