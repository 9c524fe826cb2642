"""Billing arithmetic, in one place. Pure functions on `Decimal`, no database.

Rules (the same for the API, the pages, the PDF and the statements):

- amounts have two decimal places; rounding is half-up, once per line, at each step below;
- a line: subtotal = round(quantity x unit price); discount = round(subtotal x percent / 100) or
  a fixed amount (never more than the subtotal); net = subtotal - discount;
  tax = round(net x rate / 100); gross = net + tax;
- an invoice's totals are the plain sums of its lines' amounts (no second rounding), so
  gross_total = net_total + tax_total holds exactly;
- an invoice's balance = gross - allocated payments - credit notes (never negative: the database
  refuses it, see the CHECK constraints in models.py);
- an account (a payer) owes: invoices issued - credit notes - payments + refunds.

Every function here is covered by property tests (tests/billing/test_calculations.py).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

CENT = Decimal("0.01")
ZERO = Decimal("0.00")
HUNDRED = Decimal(100)
MAX_AMOUNT = Decimal("9999999999.99")  # fits numeric(12, 2)
MAX_QUANTITY = Decimal("99999.99")
_AMOUNT_TEXT = re.compile(r"^-?\d{1,10}(\.\d{1,2})?$")


def money(value: Decimal | int | str) -> Decimal:
    """Round half-up to cents."""
    return Decimal(value).quantize(CENT, rounding=ROUND_HALF_UP)


class AmountInvalid(ValueError):
    pass


def amount_parse(value: object, *, allow_negative: bool = False) -> Decimal:
    """A strict amount from the API or a form: a string "12.50" (or an integer), at most two
    decimals. Floats are refused: 0.1 + 0.2 is not money."""
    if isinstance(value, bool) or isinstance(value, float):
        raise AmountInvalid('Send amounts as strings with at most two decimals, e.g. "12.50".')
    if isinstance(value, int):
        value = str(value)
    if isinstance(value, Decimal):
        value = format(value, "f")
    if not isinstance(value, str):
        raise AmountInvalid('Send amounts as strings with at most two decimals, e.g. "12.50".')
    text = value.strip()
    if not _AMOUNT_TEXT.match(text):
        raise AmountInvalid('Not an amount with at most two decimals, e.g. "12.50".')
    try:
        number = Decimal(text)
    except InvalidOperation as exc:  # pragma: no cover - the pattern already excludes this
        raise AmountInvalid("Not a number.") from exc
    if number < 0 and not allow_negative:
        raise AmountInvalid("Must not be negative.")
    return number.quantize(CENT)


@dataclass(frozen=True)
class LineInput:
    quantity: Decimal
    unit_price: Decimal
    discount_percent: Decimal | None = None
    discount_amount: Decimal | None = None
    tax_rate: Decimal = ZERO  # percent


@dataclass(frozen=True)
class LineAmounts:
    subtotal: Decimal
    discount: Decimal
    net: Decimal
    tax: Decimal
    gross: Decimal


class LineInvalid(ValueError):
    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field
        self.message = message


def line_amounts(line: LineInput) -> LineAmounts:
    """The amounts of one line. Raises LineInvalid (naming the field) for impossible input."""
    if line.quantity <= 0 or line.quantity > MAX_QUANTITY:
        raise LineInvalid("quantity", "Must be greater than 0 and at most 99999.99.")
    if line.unit_price < 0:
        raise LineInvalid("unit_price", "Must not be negative.")
    if not (ZERO <= line.tax_rate <= HUNDRED):
        raise LineInvalid("tax_rate", "Must be between 0 and 100.")
    if line.discount_percent is not None and line.discount_amount is not None:
        raise LineInvalid("discount_amount", "Give a discount percent or an amount, not both.")
    subtotal = money(line.quantity * line.unit_price)
    if subtotal > MAX_AMOUNT:
        raise LineInvalid("unit_price", "The line amount is too large.")
    if line.discount_percent is not None:
        if not (ZERO <= line.discount_percent <= HUNDRED):
            raise LineInvalid("discount_percent", "Must be between 0 and 100.")
        discount = money(subtotal * line.discount_percent / HUNDRED)
    elif line.discount_amount is not None:
        if line.discount_amount < 0:
            raise LineInvalid("discount_amount", "Must not be negative.")
        if line.discount_amount > subtotal:
            raise LineInvalid("discount_amount", "The discount is larger than the line amount.")
        discount = money(line.discount_amount)
    else:
        discount = ZERO
    net = subtotal - discount
    tax = money(net * line.tax_rate / HUNDRED)
    return LineAmounts(subtotal=subtotal, discount=discount, net=net, tax=tax, gross=net + tax)


@dataclass(frozen=True)
class Totals:
    subtotal: Decimal = ZERO
    discount: Decimal = ZERO
    net: Decimal = ZERO
    tax: Decimal = ZERO
    gross: Decimal = ZERO


def invoice_totals(lines: Iterable[LineAmounts]) -> Totals:
    subtotal = discount = net = tax = gross = ZERO
    for amounts in lines:
        subtotal += amounts.subtotal
        discount += amounts.discount
        net += amounts.net
        tax += amounts.tax
        gross += amounts.gross
    return Totals(subtotal=subtotal, discount=discount, net=net, tax=tax, gross=gross)


@dataclass(frozen=True)
class TaxBand:
    """One tax rate of an invoice: the net amount taxed at that rate and the tax."""

    rate: Decimal
    base: Decimal
    tax: Decimal


def tax_breakdown(lines: Iterable[tuple[Decimal, Decimal, Decimal]]) -> list[TaxBand]:
    """(rate %, net, tax) per line → one band per rate, lowest rate first. The bands' bases and
    taxes add up to the invoice's net and tax totals (plain sums, like `invoice_totals`)."""
    bands: dict[Decimal, tuple[Decimal, Decimal]] = {}
    for rate, net, tax in lines:
        base, total = bands.get(money(rate), (ZERO, ZERO))
        bands[money(rate)] = (base + net, total + tax)
    return [TaxBand(rate, base, tax) for rate, (base, tax) in sorted(bands.items())]


def due_date_at_issue(*, due: date | None, issued_on: date, terms_days: int) -> date:
    """The due date an invoice gets when issued: its own if set and not before the issue date,
    else the issue date plus the organization's payment terms."""
    if due is None or due < issued_on:
        return issued_on + timedelta(days=terms_days)
    return due


def invoice_balance(*, gross: Decimal, paid: Decimal, credited: Decimal) -> Decimal:
    return gross - paid - credited


def credit_split(
    *,
    amount: Decimal,
    credited: Decimal,
    credited_tax: Decimal,
    net_total: Decimal,
    tax_total: Decimal,
) -> tuple[Decimal, Decimal]:
    """(net, tax) of a credit note of `amount` (gross) on an invoice already credited by
    `credited` (of which `credited_tax` was tax). The tax follows the invoice's proportion and is
    computed on the running total, so the credit notes of a fully credited invoice add up to its
    net and tax totals exactly."""
    gross_total = net_total + tax_total
    if gross_total <= 0:
        return amount, ZERO
    after = credited + amount
    tax_after = tax_total if after == gross_total else money(after * tax_total / gross_total)
    tax = tax_after - credited_tax
    return amount - tax, tax


def allocate_oldest_first(amount: Decimal, balances: Iterable[tuple[object, Decimal]]):
    """Split `amount` over (key, open balance) pairs in the order given (oldest first); returns
    [(key, allocated)] and what is left over (the payer's credit)."""
    left = amount
    out = []
    for key, balance in balances:
        if left <= 0:
            break
        take = min(left, balance)
        if take > 0:
            out.append((key, take))
            left -= take
    return out, left


AGING_BUCKETS = ("0_30", "31_60", "61_90", "90_plus")


def aging_bucket(due: date, as_of: date) -> str:
    """Days past the due date (not yet due counts as 0)."""
    days = max((as_of - due).days, 0)
    if days <= 30:
        return "0_30"
    if days <= 60:
        return "31_60"
    if days <= 90:
        return "61_90"
    return "90_plus"


def aging(items: Iterable[tuple[date, Decimal]], as_of: date) -> dict[str, Decimal]:
    buckets = dict.fromkeys(AGING_BUCKETS, ZERO)
    for due, balance in items:
        buckets[aging_bucket(due, as_of)] += balance
    return buckets


def insurer_share(claims: Iterable[tuple[str, Decimal, Decimal | None, Decimal]]) -> Decimal:
    """What the insurers are still expected to pay on an invoice: for each claim
    (status, claimed, approved, paid), the claimed amount while it is submitted, the approved
    amount not yet paid once decided; nothing for drafts, denials and paid claims."""
    total = ZERO
    for status, claimed, approved, paid in claims:
        if status == "submitted":
            total += claimed - paid
        elif status in ("approved", "partially_approved"):
            total += (approved or ZERO) - paid
    return max(total, ZERO)


def patient_share(*, balance: Decimal, insurer: Decimal) -> Decimal:
    return max(balance - insurer, ZERO)


def number_format_render(fmt: str, *, year: int, seq: int) -> str:
    """`INV-{year}-{seq:06d}` → "INV-2026-000123". Only {year} and {seq} may appear."""
    return fmt.format(year=year, seq=seq)
