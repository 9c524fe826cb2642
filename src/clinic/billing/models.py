"""Billing: invoices and their lines, payments and allocations, credit notes, refunds, tax rates,
numbering, insurance policies and claims.

Money is numeric(12, 2) with CHECK constraints; the amounts are computed in calculations.py and
stored. What the database guarantees on top of the CHECKs (migration 0002, triggers):
- an issued invoice cannot change (lines, totals, payer, number) and cannot be deleted; its
  totals equal the sums of its lines at the moment it is issued;
- allocations, credit notes and refunds keep the running totals on invoices and payments, so
  `paid_total + credited_total <= gross_total` (an invoice's balance never goes negative) and
  `allocated_total + refunded_total <= amount` (a payment is never spent twice) are CHECKs that
  no race can get past;
- an invoice's status after issue follows from those amounts (issued, partially_paid, paid,
  void);
- references within billing also go through (organization_id, id).
"""

from __future__ import annotations

from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from clinic.billing.fields import EncryptedTextField
from clinic.core.models import TenantModel

AMOUNT = {"max_digits": 12, "decimal_places": 2}
PERCENT = {"max_digits": 5, "decimal_places": 2}


def _choices_check(field: str, choices, name: str):
    return models.CheckConstraint(
        condition=Q(**{f"{field}__in": [v for v, _label in choices]}), name=name
    )


def _org_id_unique(name: str):
    return models.UniqueConstraint(fields=["organization", "id"], name=name)


class BillingSettings(TenantModel):
    """One row per organization (created on first use with these defaults)."""

    invoice_number_format = models.CharField(
        _("invoice number format"), max_length=50, default="INV-{year}-{seq:06d}"
    )
    credit_note_number_format = models.CharField(
        _("credit note number format"), max_length=50, default="CN-{year}-{seq:06d}"
    )
    payment_terms_days = models.PositiveSmallIntegerField(_("payment terms (days)"), default=30)
    charge_late_cancellations = models.BooleanField(_("bill late cancellations"), default=False)
    charge_no_shows = models.BooleanField(_("bill no-shows"), default=False)
    practitioners_see_own_invoices = models.BooleanField(
        _("practitioners see the invoices of their appointments"), default=False
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["organization"], name="billing_settings_one"),
            models.CheckConstraint(
                condition=Q(invoice_number_format__contains="{seq"),
                name="billing_settings_invoice_format_seq",
            ),
            models.CheckConstraint(
                condition=Q(credit_note_number_format__contains="{seq"),
                name="billing_settings_credit_format_seq",
            ),
            models.CheckConstraint(
                condition=Q(payment_terms_days__lte=365), name="billing_settings_terms_range"
            ),
        ]


class SequenceKind(models.TextChoices):
    INVOICE = "invoice", _("Invoice")
    CREDIT_NOTE = "credit_note", _("Credit note")


class NumberSequence(TenantModel):
    """The last number given per organization, kind and period (the year when the format has
    {year}, else 0). Locked with SELECT … FOR UPDATE by the issuing transaction: a number is
    consumed only if that transaction commits, so the numbers have no gaps."""

    kind = models.CharField(max_length=12, choices=SequenceKind.choices)
    period = models.PositiveSmallIntegerField(default=0)
    last_value = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "kind", "period"], name="number_sequence_unique"
            ),
            _choices_check("kind", SequenceKind.choices, "number_sequence_kind"),
        ]


class TaxRate(TenantModel):
    name = models.CharField(_("name"), max_length=100)
    rate = models.DecimalField(_("rate (%)"), **PERCENT)
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["organization", "name"], name="tax_rate_name_unique"),
            _org_id_unique("tax_rate_org_id"),
            models.CheckConstraint(condition=Q(rate__gte=0, rate__lte=100), name="tax_rate_range"),
            models.CheckConstraint(condition=~Q(name=""), name="tax_rate_name_present"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.rate}%)"


class InvoiceStatus(models.TextChoices):
    DRAFT = "draft", pgettext_lazy("invoice status", "Draft")
    ISSUED = "issued", pgettext_lazy("invoice status", "Issued")
    PARTIALLY_PAID = "partially_paid", pgettext_lazy("invoice status", "Partially paid")
    PAID = "paid", pgettext_lazy("invoice status", "Paid")
    VOID = "void", pgettext_lazy("invoice status", "Void")


OPEN_STATUSES = (InvoiceStatus.ISSUED, InvoiceStatus.PARTIALLY_PAID)
POSTED_STATUSES = (
    InvoiceStatus.ISSUED,
    InvoiceStatus.PARTIALLY_PAID,
    InvoiceStatus.PAID,
    InvoiceStatus.VOID,
)


class Invoice(TenantModel):
    patient = models.ForeignKey("directory.Patient", on_delete=models.PROTECT, related_name="+")
    # The payer: this contact, or the patient when empty.
    bill_to_contact = models.ForeignKey(
        "directory.Contact", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    status = models.CharField(
        _("status"), max_length=16, choices=InvoiceStatus.choices, default=InvoiceStatus.DRAFT
    )
    number = models.CharField(_("number"), max_length=50, null=True, blank=True)
    currency = models.CharField(_("currency"), max_length=3)
    issue_date = models.DateField(_("issue date"), null=True, blank=True)
    due_date = models.DateField(_("due date"), null=True, blank=True)
    notes = models.TextField(_("notes"), blank=True)
    language = models.CharField(_("language"), max_length=5, blank=True)
    encounter_ref = models.CharField(_("encounter"), max_length=64, blank=True)
    subtotal = models.DecimalField(**AMOUNT, default=0)
    discount_total = models.DecimalField(**AMOUNT, default=0)
    net_total = models.DecimalField(**AMOUNT, default=0)
    tax_total = models.DecimalField(**AMOUNT, default=0)
    gross_total = models.DecimalField(**AMOUNT, default=0)
    # Kept by the allocation and credit-note triggers (migration 0002).
    paid_total = models.DecimalField(**AMOUNT, default=0)
    credited_total = models.DecimalField(**AMOUNT, default=0)
    credited_tax = models.DecimalField(**AMOUNT, default=0)
    balance = models.GeneratedField(
        expression=F("gross_total") - F("paid_total") - F("credited_total"),
        output_field=models.DecimalField(**AMOUNT),
        db_persist=True,
    )
    created_by = models.ForeignKey(
        "accounts.Membership", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    issued_at = models.DateTimeField(null=True, blank=True)
    void_reason = models.CharField(max_length=500, blank=True)

    class Meta:
        constraints = [
            _org_id_unique("invoice_org_id"),
            models.UniqueConstraint(
                fields=["organization", "number"], name="invoice_number_unique"
            ),
            _choices_check("status", InvoiceStatus.choices, "invoice_status_valid"),
            models.CheckConstraint(
                condition=Q(currency__regex=r"^[A-Z]{3}$"), name="invoice_currency_iso"
            ),
            models.CheckConstraint(
                condition=(Q(status="draft") & Q(number__isnull=True) & Q(issue_date__isnull=True))
                | (
                    ~Q(status="draft")
                    & Q(number__isnull=False)
                    & Q(issue_date__isnull=False)
                    & Q(due_date__isnull=False)
                ),
                name="invoice_number_at_issue",
            ),
            models.CheckConstraint(
                condition=Q(due_date__isnull=True)
                | Q(issue_date__isnull=True)
                | Q(due_date__gte=F("issue_date")),
                name="invoice_due_after_issue",
            ),
            models.CheckConstraint(
                condition=Q(
                    subtotal__gte=0,
                    discount_total__gte=0,
                    net_total__gte=0,
                    tax_total__gte=0,
                    gross_total__gte=0,
                    paid_total__gte=0,
                    credited_total__gte=0,
                    credited_tax__gte=0,
                ),
                name="invoice_amounts_not_negative",
            ),
            models.CheckConstraint(
                condition=Q(net_total=F("subtotal") - F("discount_total"))
                & Q(gross_total=F("net_total") + F("tax_total")),
                name="invoice_totals_add_up",
            ),
            models.CheckConstraint(
                condition=Q(paid_total__lte=F("gross_total") - F("credited_total")),
                name="invoice_not_overpaid",
            ),
            models.CheckConstraint(
                condition=Q(credited_tax__lte=F("credited_total"))
                & Q(credited_tax__lte=F("tax_total")),
                name="invoice_credited_tax_range",
            ),
            models.CheckConstraint(
                condition=~Q(status="draft") | Q(paid_total=0, credited_total=0),
                name="invoice_draft_unpaid",
            ),
        ]
        indexes = [
            models.Index(
                fields=["organization", "status", "due_date"], name="invoice_org_status_due"
            ),
            models.Index(
                fields=["organization", "patient", "issue_date"], name="invoice_org_patient"
            ),
            models.Index(
                fields=["organization", "bill_to_contact", "issue_date"],
                name="invoice_org_contact",
                condition=Q(bill_to_contact__isnull=False),
            ),
            models.Index(fields=["organization", "-created_at"], name="invoice_org_created"),
        ]

    def __str__(self) -> str:
        return self.number or str(_("Draft invoice"))

    @property
    def is_draft(self) -> bool:
        return self.status == InvoiceStatus.DRAFT


class InvoiceLine(TenantModel):
    invoice = models.ForeignKey(Invoice, on_delete=models.CASCADE, related_name="lines")
    position = models.PositiveSmallIntegerField(default=0)
    service = models.ForeignKey(
        "directory.Service", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    description = models.CharField(_("description"), max_length=300)
    quantity = models.DecimalField(_("quantity"), max_digits=7, decimal_places=2)
    unit_price = models.DecimalField(_("unit price"), **AMOUNT)
    discount_percent = models.DecimalField(_("discount (%)"), **PERCENT, null=True, blank=True)
    discount_amount = models.DecimalField(_("discount"), **AMOUNT, null=True, blank=True)
    tax_rate = models.ForeignKey(
        TaxRate, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    tax_rate_percent = models.DecimalField(_("tax rate (%)"), **PERCENT, default=0)
    subtotal = models.DecimalField(**AMOUNT)
    discount = models.DecimalField(**AMOUNT)
    net_amount = models.DecimalField(**AMOUNT)
    tax_amount = models.DecimalField(**AMOUNT)
    gross_amount = models.DecimalField(**AMOUNT)
    # When and by whom the service was given (a French invoice names them); filled from the
    # appointment a line bills, kept on the line so the issued invoice never changes with it.
    service_date = models.DateField(_("service date"), null=True, blank=True)
    practitioner = models.ForeignKey(
        "directory.Practitioner",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("practitioner"),
    )

    class Meta:
        constraints = [
            _org_id_unique("invoice_line_org_id"),
            models.CheckConstraint(
                condition=Q(quantity__gt=0), name="invoice_line_quantity_positive"
            ),
            models.CheckConstraint(
                condition=Q(unit_price__gte=0), name="invoice_line_price_not_negative"
            ),
            models.CheckConstraint(
                condition=Q(discount_percent__isnull=True)
                | Q(discount_percent__gte=0, discount_percent__lte=100),
                name="invoice_line_discount_percent_range",
            ),
            models.CheckConstraint(
                condition=Q(discount_amount__isnull=True) | Q(discount_amount__gte=0),
                name="invoice_line_discount_amount_not_negative",
            ),
            models.CheckConstraint(
                condition=Q(discount_percent__isnull=True) | Q(discount_amount__isnull=True),
                name="invoice_line_one_discount",
            ),
            models.CheckConstraint(
                condition=Q(tax_rate_percent__gte=0, tax_rate_percent__lte=100),
                name="invoice_line_tax_rate_range",
            ),
            models.CheckConstraint(
                condition=Q(subtotal__gte=0, discount__gte=0, discount__lte=F("subtotal"))
                & Q(net_amount=F("subtotal") - F("discount"))
                & Q(tax_amount__gte=0)
                & Q(gross_amount=F("net_amount") + F("tax_amount")),
                name="invoice_line_amounts_add_up",
            ),
            models.CheckConstraint(condition=~Q(description=""), name="invoice_line_description"),
        ]
        indexes = [
            models.Index(fields=["organization", "invoice", "position"], name="line_org_inv")
        ]


class InvoiceAppointment(TenantModel):
    """The appointment an invoice line bills. Unique per appointment: never billed twice."""

    invoice = models.ForeignKey(Invoice, on_delete=models.CASCADE, related_name="appointment_links")
    line = models.ForeignKey(
        InvoiceLine, on_delete=models.CASCADE, related_name="appointment_links"
    )
    appointment = models.ForeignKey(
        "scheduling.Appointment", on_delete=models.PROTECT, related_name="+"
    )
    practitioner = models.ForeignKey(
        "directory.Practitioner", on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "appointment"], name="invoice_appointment_once"
            ),
        ]
        indexes = [
            models.Index(fields=["organization", "invoice"], name="inv_appt_org_invoice"),
            models.Index(fields=["organization", "practitioner"], name="inv_appt_org_pract"),
        ]


class PaymentMethod(models.TextChoices):
    CASH = "cash", _("Cash")
    CARD = "card", _("Card")
    BANK_TRANSFER = "bank_transfer", _("Bank transfer")
    CHEQUE = "cheque", _("Cheque")
    INSURANCE = "insurance", _("Insurance")
    OTHER = "other", _("Other")


class Payment(TenantModel):
    """Money received from a payer (a patient or a contact). What is not allocated to invoices
    (nor refunded) is the payer's credit."""

    payer_patient = models.ForeignKey(
        "directory.Patient", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    payer_contact = models.ForeignKey(
        "directory.Contact", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    method = models.CharField(_("method"), max_length=16, choices=PaymentMethod.choices)
    amount = models.DecimalField(_("amount"), **AMOUNT)
    currency = models.CharField(max_length=3)
    received_at = models.DateTimeField(_("received at"))
    reference = models.CharField(_("reference"), max_length=200, blank=True)
    claim = models.ForeignKey(
        "billing.Claim", on_delete=models.PROTECT, null=True, blank=True, related_name="payments"
    )
    allocated_total = models.DecimalField(**AMOUNT, default=0)
    refunded_total = models.DecimalField(**AMOUNT, default=0)
    unallocated = models.GeneratedField(
        expression=F("amount") - F("allocated_total") - F("refunded_total"),
        output_field=models.DecimalField(**AMOUNT),
        db_persist=True,
    )
    created_by = models.ForeignKey(
        "accounts.Membership", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            _org_id_unique("payment_org_id"),
            _choices_check("method", PaymentMethod.choices, "payment_method_valid"),
            models.CheckConstraint(condition=Q(amount__gt=0), name="payment_amount_positive"),
            models.CheckConstraint(
                condition=(Q(payer_patient__isnull=False) & Q(payer_contact__isnull=True))
                | (Q(payer_patient__isnull=True) & Q(payer_contact__isnull=False)),
                name="payment_one_payer",
            ),
            models.CheckConstraint(
                condition=Q(allocated_total__gte=0, refunded_total__gte=0)
                & Q(allocated_total__lte=F("amount") - F("refunded_total")),
                name="payment_not_overspent",
            ),
            models.CheckConstraint(
                condition=Q(currency__regex=r"^[A-Z]{3}$"), name="payment_currency_iso"
            ),
        ]
        indexes = [
            models.Index(
                fields=["organization", "payer_patient", "received_at"],
                name="payment_org_patient",
                condition=Q(payer_patient__isnull=False),
            ),
            models.Index(
                fields=["organization", "payer_contact", "received_at"],
                name="payment_org_contact",
                condition=Q(payer_contact__isnull=False),
            ),
            models.Index(fields=["organization", "-received_at"], name="payment_org_received"),
        ]


class PaymentAllocation(TenantModel):
    """Part of a payment applied to an invoice. Rows are never updated; an allocation is undone
    by deleting it (the triggers move the amounts back)."""

    payment = models.ForeignKey(Payment, on_delete=models.PROTECT, related_name="allocations")
    invoice = models.ForeignKey(Invoice, on_delete=models.PROTECT, related_name="allocations")
    amount = models.DecimalField(**AMOUNT)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="allocation_amount_positive"),
        ]
        indexes = [
            models.Index(fields=["organization", "invoice"], name="allocation_org_invoice"),
            models.Index(fields=["organization", "payment"], name="allocation_org_payment"),
        ]


class CreditNote(TenantModel):
    """A numbered correction of an issued invoice (full or partial)."""

    invoice = models.ForeignKey(Invoice, on_delete=models.PROTECT, related_name="credit_notes")
    number = models.CharField(_("number"), max_length=50)
    issue_date = models.DateField(_("issue date"))
    amount = models.DecimalField(_("amount"), **AMOUNT)
    net_amount = models.DecimalField(**AMOUNT)
    tax_amount = models.DecimalField(**AMOUNT)
    reason = models.CharField(_("reason"), max_length=500)
    created_by = models.ForeignKey(
        "accounts.Membership", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            _org_id_unique("credit_note_org_id"),
            models.UniqueConstraint(
                fields=["organization", "number"], name="credit_note_number_unique"
            ),
            models.CheckConstraint(condition=Q(amount__gt=0), name="credit_note_amount_positive"),
            models.CheckConstraint(
                condition=Q(net_amount__gte=0, tax_amount__gte=0)
                & Q(amount=F("net_amount") + F("tax_amount")),
                name="credit_note_amounts_add_up",
            ),
            models.CheckConstraint(condition=~Q(reason=""), name="credit_note_reason_present"),
        ]
        indexes = [models.Index(fields=["organization", "invoice"], name="credit_note_org_invoice")]


class Refund(TenantModel):
    """Money given back from a payment's unallocated part (the payer's credit)."""

    payment = models.ForeignKey(Payment, on_delete=models.PROTECT, related_name="refunds")
    amount = models.DecimalField(_("amount"), **AMOUNT)
    method = models.CharField(_("method"), max_length=16, choices=PaymentMethod.choices)
    refunded_at = models.DateTimeField(_("refunded at"))
    reference = models.CharField(_("reference"), max_length=200, blank=True)
    reason = models.CharField(_("reason"), max_length=500, blank=True)
    created_by = models.ForeignKey(
        "accounts.Membership", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="refund_amount_positive"),
            _choices_check("method", PaymentMethod.choices, "refund_method_valid"),
        ]
        indexes = [models.Index(fields=["organization", "payment"], name="refund_org_payment")]


# --- insurance ---------------------------------------------------------------------------------


class InsurancePolicy(TenantModel):
    patient = models.ForeignKey("directory.Patient", on_delete=models.PROTECT, related_name="+")
    insurer = models.CharField(_("insurer"), max_length=200)
    # Encrypted at rest (AES-GCM, see fields.py); the last four characters are kept in clear to
    # tell policies apart on screen.
    policy_number = EncryptedTextField(_("policy number"))
    policy_number_last4 = models.CharField(max_length=4, blank=True)
    group_number = models.CharField(_("group number"), max_length=64, blank=True)
    coverage_start = models.DateField(_("coverage from"))
    coverage_end = models.DateField(_("coverage to"), null=True, blank=True)
    coverage_percent = models.DecimalField(_("coverage (%)"), **PERCENT)
    annual_limit = models.DecimalField(_("annual limit"), **AMOUNT, null=True, blank=True)
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    audit_redact = ("policy_number",)

    class Meta:
        constraints = [
            _org_id_unique("insurance_policy_org_id"),
            models.CheckConstraint(
                condition=Q(coverage_percent__gte=0, coverage_percent__lte=100),
                name="insurance_policy_coverage_range",
            ),
            models.CheckConstraint(
                condition=Q(annual_limit__isnull=True) | Q(annual_limit__gte=0),
                name="insurance_policy_limit_not_negative",
            ),
            models.CheckConstraint(
                condition=Q(coverage_end__isnull=True) | Q(coverage_end__gte=F("coverage_start")),
                name="insurance_policy_dates",
            ),
            models.CheckConstraint(condition=~Q(insurer=""), name="insurance_policy_insurer"),
        ]
        indexes = [models.Index(fields=["organization", "patient"], name="policy_org_patient")]


class ClaimStatus(models.TextChoices):
    DRAFT = "draft", pgettext_lazy("claim status", "Draft")
    SUBMITTED = "submitted", pgettext_lazy("claim status", "Submitted")
    APPROVED = "approved", pgettext_lazy("claim status", "Approved")
    PARTIALLY_APPROVED = "partially_approved", pgettext_lazy("claim status", "Partially approved")
    DENIED = "denied", pgettext_lazy("claim status", "Denied")
    PAID = "paid", pgettext_lazy("claim status", "Paid")


class Claim(TenantModel):
    policy = models.ForeignKey(InsurancePolicy, on_delete=models.PROTECT, related_name="claims")
    invoice = models.ForeignKey(Invoice, on_delete=models.PROTECT, related_name="claims")
    status = models.CharField(
        _("status"), max_length=20, choices=ClaimStatus.choices, default=ClaimStatus.DRAFT
    )
    insurer_reference = models.CharField(_("insurer reference"), max_length=100, blank=True)
    claimed_amount = models.DecimalField(_("claimed"), **AMOUNT)
    approved_amount = models.DecimalField(_("approved"), **AMOUNT, null=True, blank=True)
    paid_amount = models.DecimalField(_("paid"), **AMOUNT, default=0)
    denial_reason = models.CharField(_("denial reason"), max_length=500, blank=True)
    notes = models.TextField(_("notes"), blank=True)
    submitted_at = models.DateTimeField(null=True, blank=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    paid_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        "accounts.Membership", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            _org_id_unique("claim_org_id"),
            _choices_check("status", ClaimStatus.choices, "claim_status_valid"),
            models.CheckConstraint(
                condition=Q(claimed_amount__gt=0), name="claim_claimed_positive"
            ),
            models.CheckConstraint(
                condition=Q(approved_amount__isnull=True)
                | Q(approved_amount__gte=0, approved_amount__lte=F("claimed_amount")),
                name="claim_approved_range",
            ),
            models.CheckConstraint(
                condition=Q(paid_amount__gte=0)
                & (
                    Q(paid_amount=0)
                    | Q(approved_amount__isnull=False, paid_amount__lte=F("approved_amount"))
                ),
                name="claim_paid_range",
            ),
            models.CheckConstraint(
                condition=Q(status__in=["draft", "submitted"]) | Q(decided_at__isnull=False),
                name="claim_decided_at",
            ),
        ]
        indexes = [
            models.Index(fields=["organization", "invoice"], name="claim_org_invoice"),
            models.Index(fields=["organization", "status"], name="claim_org_status"),
        ]


class ClaimLine(TenantModel):
    claim = models.ForeignKey(Claim, on_delete=models.CASCADE, related_name="lines")
    invoice_line = models.ForeignKey(
        InvoiceLine, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    description = models.CharField(max_length=300)
    procedure_code = models.CharField(max_length=32, blank=True)
    billed_amount = models.DecimalField(**AMOUNT)
    claimed_amount = models.DecimalField(**AMOUNT)
    approved_amount = models.DecimalField(**AMOUNT, null=True, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(billed_amount__gte=0)
                & Q(claimed_amount__gte=0, claimed_amount__lte=F("billed_amount"))
                & (
                    Q(approved_amount__isnull=True)
                    | Q(approved_amount__gte=0, approved_amount__lte=F("claimed_amount"))
                ),
                name="claim_line_amounts",
            ),
        ]
        indexes = [models.Index(fields=["organization", "claim"], name="claim_line_org_claim")]
