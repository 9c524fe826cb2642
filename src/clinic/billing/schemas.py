"""API shapes of billing. Amounts are JSON strings with two decimals ("12.50") both ways: a float
or a number with more decimals is a 422 naming the field. Inputs forbid unknown fields."""

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Literal
from uuid import UUID

from ninja import Field, Schema
from pydantic import BeforeValidator, ConfigDict, PlainSerializer

from clinic.api.types import Instant
from clinic.billing import calculations as calc


def _amount_in(value):
    try:
        return calc.amount_parse(value)
    except calc.AmountInvalid as exc:
        raise ValueError(str(exc)) from exc


Amount = Annotated[
    Decimal,
    BeforeValidator(_amount_in),
    PlainSerializer(lambda v: f"{v:.2f}", return_type=str),
    Field(
        json_schema_extra={"type": "string", "pattern": r"^\d+(\.\d{1,2})?$", "example": "12.50"}
    ),
]


def money(value: Decimal | None) -> str | None:
    return None if value is None else f"{value:.2f}"


class In(Schema):
    model_config = ConfigDict(extra="forbid")


# --- invoices ----------------------------------------------------------------------------------


class LineIn(In):
    service_id: UUID | None = None
    description: str | None = Field(None, max_length=300)
    quantity: Amount | None = Field(None, description='e.g. "1" or "1.50"; default 1')
    unit_price: Amount | None = Field(None, description="default: the service's price")
    discount_percent: Amount | None = Field(None, description="0-100")
    discount_amount: Amount | None = None
    tax_rate_id: UUID | None = Field(None, description="default: the service's tax rate")


class InvoiceCreate(In):
    patient_id: UUID
    bill_to_contact_id: UUID | None = None
    lines: list[LineIn] = Field(default_factory=list, max_length=500)
    notes: str | None = Field(None, max_length=5000)
    due_date: date | None = None
    language: Literal["en", "fr", "ar"] | None = None


class InvoiceUpdate(In):
    bill_to_contact_id: UUID | None = None
    lines: list[LineIn] | None = Field(None, max_length=500, description="replaces all lines")
    notes: str | None = Field(None, max_length=5000)
    due_date: date | None = None
    language: Literal["en", "fr", "ar"] | None = None


class InvoiceIssue(In):
    issue_date: date | None = Field(None, description="default: today in the clinic's zone")


class ReasonIn(In):
    reason: str | None = Field(None, max_length=500, description="required")


class LineOut(Schema):
    id: UUID
    position: int
    service_id: UUID | None
    description: str
    quantity: str
    unit_price: str
    discount_percent: str | None
    discount_amount: str | None
    tax_rate_id: UUID | None
    tax_rate_percent: str
    subtotal: str
    discount: str
    net_amount: str
    tax_amount: str
    gross_amount: str
    service_date: date | None = Field(None, description="when the service was given")
    practitioner_id: UUID | None = Field(None, description="who gave it")

    @staticmethod
    def resolve_quantity(obj):
        return money(obj.quantity)

    @staticmethod
    def resolve_unit_price(obj):
        return money(obj.unit_price)

    @staticmethod
    def resolve_discount_percent(obj):
        return money(obj.discount_percent)

    @staticmethod
    def resolve_discount_amount(obj):
        return money(obj.discount_amount)

    @staticmethod
    def resolve_tax_rate_percent(obj):
        return money(obj.tax_rate_percent)

    @staticmethod
    def resolve_subtotal(obj):
        return money(obj.subtotal)

    @staticmethod
    def resolve_discount(obj):
        return money(obj.discount)

    @staticmethod
    def resolve_net_amount(obj):
        return money(obj.net_amount)

    @staticmethod
    def resolve_tax_amount(obj):
        return money(obj.tax_amount)

    @staticmethod
    def resolve_gross_amount(obj):
        return money(obj.gross_amount)


class PartyOut(Schema):
    id: UUID
    name: str


def _party(obj) -> dict | None:
    return None if obj is None else {"id": obj.id, "name": obj.display_name}


_INVOICE_AMOUNTS = (
    "subtotal",
    "discount_total",
    "net_total",
    "tax_total",
    "gross_total",
    "paid_total",
    "credited_total",
    "balance",
)


class InvoiceSummaryOut(Schema):
    id: UUID
    number: str | None
    status: str
    patient: PartyOut
    bill_to_contact: PartyOut | None
    currency: str
    issue_date: date | None
    due_date: date | None
    subtotal: str
    discount_total: str
    net_total: str
    tax_total: str
    gross_total: str
    paid_total: str
    credited_total: str
    balance: str
    insurer_share: str
    patient_share: str
    line_count: int
    created_at: datetime

    @staticmethod
    def resolve_patient(obj):
        return _party(obj.patient)

    @staticmethod
    def resolve_bill_to_contact(obj):
        return _party(obj.bill_to_contact)

    @staticmethod
    def resolve_subtotal(obj):
        return money(obj.subtotal)

    @staticmethod
    def resolve_discount_total(obj):
        return money(obj.discount_total)

    @staticmethod
    def resolve_net_total(obj):
        return money(obj.net_total)

    @staticmethod
    def resolve_tax_total(obj):
        return money(obj.tax_total)

    @staticmethod
    def resolve_gross_total(obj):
        return money(obj.gross_total)

    @staticmethod
    def resolve_paid_total(obj):
        return money(obj.paid_total)

    @staticmethod
    def resolve_credited_total(obj):
        return money(obj.credited_total)

    @staticmethod
    def resolve_balance(obj):
        return money(obj.balance)

    @staticmethod
    def resolve_insurer_share(obj):
        pending = getattr(obj, "insurer_share", None)
        if pending is None:
            pending = min(getattr(obj, "insurer_pending", Decimal(0)) or Decimal(0), obj.balance)
        return money(pending)

    @staticmethod
    def resolve_patient_share(obj):
        share = getattr(obj, "patient_share", None)
        if share is None:
            pending = getattr(obj, "insurer_pending", Decimal(0)) or Decimal(0)
            share = calc.patient_share(balance=obj.balance, insurer=pending)
        return money(share)

    @staticmethod
    def resolve_line_count(obj):
        if hasattr(obj, "line_list"):
            return len(obj.line_list)
        return getattr(obj, "line_count", 0)


class CreditNoteOut(Schema):
    id: UUID
    invoice_id: UUID
    number: str
    issue_date: date
    amount: str
    net_amount: str
    tax_amount: str
    reason: str
    created_at: datetime

    @staticmethod
    def resolve_amount(obj):
        return money(obj.amount)

    @staticmethod
    def resolve_net_amount(obj):
        return money(obj.net_amount)

    @staticmethod
    def resolve_tax_amount(obj):
        return money(obj.tax_amount)


class AllocationOut(Schema):
    id: UUID
    payment_id: UUID
    invoice_id: UUID
    amount: str
    created_at: datetime

    @staticmethod
    def resolve_amount(obj):
        return money(obj.amount)


class InvoiceOut(InvoiceSummaryOut):
    notes: str
    language: str
    void_reason: str
    lines: list[LineOut]
    credit_notes: list[CreditNoteOut]
    allocations: list[AllocationOut]
    appointment_ids: list[UUID]

    @staticmethod
    def resolve_lines(obj):
        return obj.line_list

    @staticmethod
    def resolve_credit_notes(obj):
        return obj.credit_note_list

    @staticmethod
    def resolve_allocations(obj):
        return obj.allocation_list


class InvoiceFilters(Schema):
    status: str | None = Field(
        None,
        description="draft, issued, partially_paid, paid, void, "
        "open (issued + partially_paid); comma-separated",
    )
    patient_id: UUID | None = None
    contact_id: UUID | None = None
    practitioner_id: UUID | None = None
    date_from: date | None = None
    date_to: date | None = None
    overdue: bool | None = None
    search: str | None = Field(None, max_length=100)
    sort: str | None = None


class OverdueOut(Schema):
    id: UUID
    number: str
    patient: PartyOut
    bill_to_contact: PartyOut | None
    due_date: date
    days_overdue: int
    gross_total: str
    balance: str

    @staticmethod
    def resolve_patient(obj):
        return _party(obj.patient)

    @staticmethod
    def resolve_bill_to_contact(obj):
        return _party(obj.bill_to_contact)

    @staticmethod
    def resolve_gross_total(obj):
        return money(obj.gross_total)

    @staticmethod
    def resolve_balance(obj):
        return money(obj.balance)


# --- payments ----------------------------------------------------------------------------------

Method = Literal["cash", "card", "bank_transfer", "cheque", "insurance", "other"]


class AllocationIn(In):
    invoice_id: UUID
    amount: Amount


class PaymentCreate(In):
    patient_id: UUID | None = None
    contact_id: UUID | None = None
    amount: Amount
    method: Method
    received_at: Instant | None = Field(None, description="ISO 8601 with offset; default now")
    reference: str | None = Field(None, max_length=200)
    allocations: list[AllocationIn] | None = Field(
        None, description="chosen invoices; default: the payer's open invoices, oldest first"
    )
    allocate: Literal["oldest_first", "none"] | None = None


class AllocateIn(In):
    allocations: list[AllocationIn] | None = Field(
        None, description="omit to allocate oldest first"
    )


class RefundIn(In):
    amount: Amount | None = Field(None, description="default: all the payment's credit")
    method: Method | None = None
    refunded_at: Instant | None = None
    reference: str | None = Field(None, max_length=200)
    reason: str | None = Field(None, max_length=500)


class RefundOut(Schema):
    id: UUID
    amount: str
    method: str
    refunded_at: datetime
    reference: str
    reason: str

    @staticmethod
    def resolve_amount(obj):
        return money(obj.amount)


class PaymentOut(Schema):
    id: UUID
    payer_patient: PartyOut | None
    payer_contact: PartyOut | None
    method: str
    amount: str
    currency: str
    received_at: datetime
    reference: str
    claim_id: UUID | None
    allocated_total: str
    refunded_total: str
    unallocated: str
    allocations: list[AllocationOut]
    refunds: list[RefundOut]

    @staticmethod
    def resolve_payer_patient(obj):
        return _party(obj.payer_patient)

    @staticmethod
    def resolve_payer_contact(obj):
        return _party(obj.payer_contact)

    @staticmethod
    def resolve_amount(obj):
        return money(obj.amount)

    @staticmethod
    def resolve_allocated_total(obj):
        return money(obj.allocated_total)

    @staticmethod
    def resolve_refunded_total(obj):
        return money(obj.refunded_total)

    @staticmethod
    def resolve_unallocated(obj):
        return money(obj.unallocated)

    @staticmethod
    def resolve_allocations(obj):
        return list(obj.allocations.all())

    @staticmethod
    def resolve_refunds(obj):
        return list(obj.refunds.all())


class PaymentFilters(Schema):
    patient_id: UUID | None = None
    contact_id: UUID | None = None
    method: Method | None = None
    unallocated: bool | None = None
    date_from: date | None = None
    date_to: date | None = None


# --- credit notes, tax rates, settings --------------------------------------------------------


class CreditNoteCreate(In):
    invoice_id: UUID
    amount: Amount | None = Field(None, description="gross; default: all that can be credited")
    reason: str = Field(..., max_length=500)
    issue_date: date | None = None


class CreditNoteFilters(Schema):
    invoice_id: UUID | None = None


class TaxRateIn(In):
    name: str = Field(..., max_length=100)
    rate: Amount
    is_active: bool = True


class TaxRatePatch(In):
    name: str | None = Field(None, max_length=100)
    rate: Amount | None = None
    is_active: bool | None = None


class TaxRateOut(Schema):
    id: UUID
    name: str
    rate: str
    is_active: bool

    @staticmethod
    def resolve_rate(obj):
        return money(obj.rate)


class TaxRateFilters(Schema):
    active: bool | None = None


class BillingSettingsIn(In):
    invoice_number_format: str | None = Field(None, max_length=50)
    credit_note_number_format: str | None = Field(None, max_length=50)
    payment_terms_days: int | None = Field(None, ge=0, le=365)
    charge_late_cancellations: bool | None = None
    charge_no_shows: bool | None = None
    practitioners_see_own_invoices: bool | None = None


class BillingSettingsOut(Schema):
    invoice_number_format: str
    credit_note_number_format: str
    payment_terms_days: int
    charge_late_cancellations: bool
    charge_no_shows: bool
    practitioners_see_own_invoices: bool


class BillAppointmentsIn(In):
    date_from: date
    date_to: date
    practitioner_id: UUID | None = None
    patient_id: UUID | None = None


class BillAppointmentsOut(Schema):
    invoices: list[InvoiceSummaryOut]
    appointments_billed: int


# --- balances and statements -------------------------------------------------------------------


class AccountQuery(Schema):
    patient_id: UUID | None = None
    contact_id: UUID | None = None
    as_of: date | None = None


class AgingOut(Schema):
    d0_30: str = Field(..., alias="0_30")
    d31_60: str = Field(..., alias="31_60")
    d61_90: str = Field(..., alias="61_90")
    d90_plus: str = Field(..., alias="90_plus")


class BalanceOut(Schema):
    account: dict
    currency: str
    outstanding: str
    credit: str
    balance: str
    insurer_pending: str
    patient_share: str
    aging: dict[str, str]
    open_invoices: list[InvoiceSummaryOut]
    patient_invoices_outstanding: str | None = None


class StatementQuery(Schema):
    patient_id: UUID | None = None
    contact_id: UUID | None = None
    date_from: date
    date_to: date
    format: Literal["json", "csv", "pdf"] = "json"
    language: Literal["en", "fr", "ar"] | None = None


# --- insurance -----------------------------------------------------------------------------------


class PolicyCreate(In):
    patient_id: UUID
    insurer: str = Field(..., max_length=200)
    policy_number: str = Field(..., max_length=64)
    group_number: str | None = Field(None, max_length=64)
    coverage_start: date
    coverage_end: date | None = None
    coverage_percent: Amount
    annual_limit: Amount | None = None


class PolicyPatch(In):
    insurer: str | None = Field(None, max_length=200)
    policy_number: str | None = Field(None, max_length=64)
    group_number: str | None = Field(None, max_length=64)
    coverage_start: date | None = None
    coverage_end: date | None = None
    coverage_percent: Amount | None = None
    annual_limit: Amount | None = None
    is_active: bool | None = None


class PolicyOut(Schema):
    id: UUID
    patient: PartyOut
    insurer: str
    policy_number: str
    group_number: str
    coverage_start: date
    coverage_end: date | None
    coverage_percent: str
    annual_limit: str | None
    is_active: bool

    @staticmethod
    def resolve_patient(obj):
        return _party(obj.patient)

    @staticmethod
    def resolve_coverage_percent(obj):
        return money(obj.coverage_percent)

    @staticmethod
    def resolve_annual_limit(obj):
        return money(obj.annual_limit)


class PolicyFilters(Schema):
    patient_id: UUID | None = None
    active: bool | None = None


class ClaimCreate(In):
    invoice_id: UUID
    policy_id: UUID
    notes: str | None = Field(None, max_length=5000)


class ClaimSubmit(In):
    insurer_reference: str | None = Field(None, max_length=100)


class ClaimDecide(In):
    approved_amount: Amount | None = None
    denied: bool | None = None
    denial_reason: str | None = Field(None, max_length=500)
    insurer_reference: str | None = Field(None, max_length=100)


class ClaimPay(In):
    amount: Amount | None = Field(None, description="default: the approved amount")
    received_at: Instant | None = None
    reference: str | None = Field(None, max_length=200)


class ClaimLineOut(Schema):
    id: UUID
    invoice_line_id: UUID | None
    description: str
    procedure_code: str
    billed_amount: str
    claimed_amount: str
    approved_amount: str | None

    @staticmethod
    def resolve_billed_amount(obj):
        return money(obj.billed_amount)

    @staticmethod
    def resolve_claimed_amount(obj):
        return money(obj.claimed_amount)

    @staticmethod
    def resolve_approved_amount(obj):
        return money(obj.approved_amount)


class ClaimOut(Schema):
    id: UUID
    policy_id: UUID
    invoice_id: UUID
    invoice_number: str | None
    insurer: str
    status: str
    insurer_reference: str
    claimed_amount: str
    approved_amount: str | None
    paid_amount: str
    denial_reason: str
    notes: str
    submitted_at: datetime | None
    decided_at: datetime | None
    paid_at: datetime | None
    lines: list[ClaimLineOut]

    @staticmethod
    def resolve_invoice_number(obj):
        return obj.invoice.number

    @staticmethod
    def resolve_insurer(obj):
        return obj.policy.insurer

    @staticmethod
    def resolve_claimed_amount(obj):
        return money(obj.claimed_amount)

    @staticmethod
    def resolve_approved_amount(obj):
        return money(obj.approved_amount)

    @staticmethod
    def resolve_paid_amount(obj):
        return money(obj.paid_amount)

    @staticmethod
    def resolve_lines(obj):
        return list(obj.lines.all())


class ClaimFilters(Schema):
    status: (
        Literal["draft", "submitted", "approved", "partially_approved", "denied", "paid"] | None
    ) = None
    invoice_id: UUID | None = None
    policy_id: UUID | None = None
