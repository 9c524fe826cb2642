"""Property tests (hypothesis) for the arithmetic: checked against an independent oracle in exact
fractions, then end to end through the services and the database."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal as D
from fractions import Fraction

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clinic.billing import calculations as calc
from clinic.billing import selectors, services
from clinic.billing.models import CreditNote, Invoice, Payment, PaymentAllocation
from clinic.core.errors import DomainError
from clinic.core.tenancy import tenant_context
from tests.billing import factories as f
from tests.directory import factories as directory

cents = st.integers(min_value=0, max_value=10_000_000).map(lambda c: D(c) / 100)
quantities = st.integers(min_value=1, max_value=50_000).map(lambda c: D(c) / 100)
percents = st.integers(min_value=0, max_value=10_000).map(lambda c: D(c) / 100)


def half_up(x: Fraction) -> Fraction:
    """Exact half-up rounding to cents, for non-negative x (the oracle)."""
    scaled = x * 100
    whole = scaled.numerator // scaled.denominator
    if scaled - whole >= Fraction(1, 2):
        whole += 1
    return Fraction(whole, 100)


@st.composite
def line_inputs(draw):
    quantity, price = draw(quantities), draw(cents)
    kind = draw(st.sampled_from(["none", "percent", "amount"]))
    percent = draw(percents) if kind == "percent" else None
    amount = None
    if kind == "amount":
        subtotal = half_up(Fraction(quantity) * Fraction(price))
        amount = D(draw(st.integers(0, int(subtotal * 100)))) / 100
    return calc.LineInput(quantity, price, percent, amount, draw(percents))


@given(line_inputs())
def test_line_amounts_match_the_exact_oracle(line):
    got = calc.line_amounts(line)
    subtotal = half_up(Fraction(line.quantity) * Fraction(line.unit_price))
    if line.discount_percent is not None:
        discount = half_up(subtotal * Fraction(line.discount_percent) / 100)
    else:
        discount = Fraction(line.discount_amount or 0)
    net = subtotal - discount
    tax = half_up(net * Fraction(line.tax_rate) / 100)
    assert (got.subtotal, got.discount, got.net, got.tax) == tuple(
        D(x.numerator) / D(x.denominator) for x in (subtotal, discount, net, tax)
    )
    assert got.gross == got.net + got.tax
    assert 0 <= got.discount <= got.subtotal and got.net >= 0 and got.tax >= 0
    for value in (got.subtotal, got.discount, got.net, got.tax, got.gross):
        assert value == value.quantize(calc.CENT)


@given(st.lists(line_inputs(), min_size=1, max_size=30))
def test_invoice_totals_are_the_sums_of_the_lines(lines):
    amounts = [calc.line_amounts(line) for line in lines]
    totals = calc.invoice_totals(amounts)
    assert totals.gross == totals.net + totals.tax
    assert totals.net == totals.subtotal - totals.discount
    assert totals.gross == sum(a.gross for a in amounts)


@given(
    net=cents,
    rate=percents,
    cuts=st.lists(st.integers(min_value=1, max_value=1000), min_size=1, max_size=8),
)
def test_credit_notes_add_up_to_the_invoice_exactly(net, rate, cuts):
    tax_total = calc.money(net * rate / 100)
    gross = net + tax_total
    if gross == 0:
        return
    weights = sum(cuts)
    amounts = [calc.money(gross * c / weights) for c in cuts[:-1]]
    amounts = [a for a in amounts if a > 0]
    amounts.append(gross - sum(amounts))
    if amounts[-1] <= 0:
        return
    credited = credited_tax = D("0.00")
    for amount in amounts:
        part_net, part_tax = calc.credit_split(
            amount=amount,
            credited=credited,
            credited_tax=credited_tax,
            net_total=net,
            tax_total=tax_total,
        )
        assert part_net >= 0 and part_tax >= 0 and part_net + part_tax == amount
        credited += amount
        credited_tax += part_tax
    assert credited == gross and credited_tax == tax_total


@given(amount=cents, balances=st.lists(cents, max_size=10))
def test_oldest_first_never_exceeds_a_balance(amount, balances):
    split, left = calc.allocate_oldest_first(amount, list(enumerate(balances)))
    assert sum(a for _k, a in split) + left == amount
    assert all(0 < a <= balances[k] for k, a in split)
    keys = [k for k, _a in split]
    assert keys == sorted(keys)
    if left > 0:
        assert all(a == balances[k] for k, a in split)
        assert sum(a for _k, a in split) == sum(balances)


@given(st.sampled_from(["12", "12.5", "12.50", "0.01", "9999999999.99"]))
def test_amount_parse_accepts_strings(text):
    assert calc.amount_parse(text) == D(text)


@given(st.one_of(st.floats(allow_nan=True), st.just("1.001"), st.just("1,5"), st.just(" ")))
def test_amount_parse_refuses_floats_and_extra_decimals(value):
    with pytest.raises(calc.AmountInvalid):
        calc.amount_parse(value)


# --- end to end through the database -----------------------------------------------------------

actions = st.lists(
    st.one_of(
        st.tuples(st.just("pay"), st.integers(1, 30_000)),
        st.tuples(st.just("pay_chosen"), st.integers(1, 30_000)),
        st.tuples(st.just("credit"), st.integers(1, 20_000)),
        st.tuples(st.just("refund"), st.integers(1, 10_000)),
    ),
    min_size=1,
    max_size=8,
)


@pytest.mark.django_db
@settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck))
@given(lines=st.lists(line_inputs(), min_size=1, max_size=4), steps=actions)
def test_balances_equal_invoices_minus_allocations_minus_credits(owner_a, lines, steps):
    patient = directory.patient(owner_a)
    raw = [
        {
            "description": "x",
            "quantity": str(line.quantity),
            "unit_price": str(line.unit_price),
            **(
                {"discount_percent": str(line.discount_percent)}
                if line.discount_percent is not None
                else {}
            ),
            **(
                {"discount_amount": str(line.discount_amount)}
                if line.discount_amount is not None
                else {}
            ),
        }
        for line in lines
    ]
    invoices = [f.issued_invoice(owner_a, patient, lines=raw) for _ in range(2)]
    for kind, n in steps:
        amount = D(n) / 100
        try:
            if kind == "pay":
                f.payment(owner_a, patient, amount=str(amount))
            elif kind == "pay_chosen":
                target = f.refreshed(owner_a, invoices[n % 2])
                take = min(amount, target.balance)
                allocations = [{"invoice_id": target.id, "amount": str(take)}] if take > 0 else []
                f.payment(owner_a, patient, amount=str(amount), allocations=allocations)
            elif kind == "credit":
                target = invoices[n % 2]
                f.in_tenant(
                    owner_a,
                    lambda a, t=target, v=amount: services.credit_note_create(
                        actor=a, invoice=t, amount=str(v), reason="p"
                    ),
                )
            else:
                with tenant_context(owner_a.org.id):
                    pay = Payment.objects.filter(payer_patient=patient, unallocated__gt=0).first()
                if pay is not None:
                    f.in_tenant(
                        owner_a,
                        lambda a, p=pay, v=amount: services.refund_record(
                            actor=a, payment=p, data={"amount": str(min(v, p.unallocated))}
                        ),
                    )
        except DomainError:
            pass  # refused input (e.g. more than can be credited) writes nothing
        _check_invariants(owner_a, patient)


def _check_invariants(persona, patient):
    with tenant_context(persona.org.id):
        total_balance = D("0.00")
        for inv in Invoice.objects.filter(patient=patient):
            allocated = sum(
                PaymentAllocation.objects.filter(invoice=inv).values_list("amount", flat=True),
                D("0.00"),
            )
            credited = sum(
                CreditNote.objects.filter(invoice=inv).values_list("amount", flat=True),
                D("0.00"),
            )
            assert inv.paid_total == allocated and inv.credited_total == credited
            assert inv.balance == inv.gross_total - allocated - credited >= 0
            expected = (
                "void"
                if inv.gross_total > 0 and credited == inv.gross_total
                else "paid"
                if inv.balance == 0
                else "partially_paid"
                if allocated > 0
                else "issued"
            )
            assert inv.status == expected
            if inv.status in ("issued", "partially_paid"):
                total_balance += inv.balance
        credit = D("0.00")
        for pay in Payment.objects.filter(payer_patient=patient):
            allocated = sum(pay.allocations.values_list("amount", flat=True), D("0.00"))
            refunded = sum(pay.refunds.values_list("amount", flat=True), D("0.00"))
            assert pay.allocated_total == allocated and pay.refunded_total == refunded
            assert 0 <= pay.unallocated == pay.amount - allocated - refunded
            credit += pay.unallocated
        account = selectors.Account("patient", patient.id, "p", "")
        balance = selectors.account_balance(account)
        assert balance.outstanding == total_balance and balance.credit == credit
        today = dt.date.today()
        statement = selectors.statement_build(
            account, date_from=today - dt.timedelta(days=3), date_to=today + dt.timedelta(days=1)
        )
        assert statement.opening + statement.total_debits - statement.total_credits == (
            statement.closing
        )
        assert statement.closing == balance.balance
