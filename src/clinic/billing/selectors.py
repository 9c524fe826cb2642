"""Every non-trivial read of billing: tenant-scoped (managers + row-level security), N+1-free.

Access helpers (`invoice_for_actor`, `account_for_actor`, ...) fetch and authorise in one call and
raise `NotFound` for anything the caller may not see, including other clinics' rows.

Visibility: staff who handle billing (owner, admin, manager, assistant) see everything; a
practitioner sees the invoices of their own appointments only when the organization allows it
(`BillingSettings.practitioners_see_own_invoices`); a patient login sees the invoices, payments
and statements of the accounts it is (its own record, the patients it is responsible for, the
contact it is).
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from babel.numbers import format_decimal
from django.db import connection
from django.db.models import Count, Exists, OuterRef, Q, QuerySet, Subquery, Sum
from django.db.models.expressions import RawSQL
from django.db.models.functions import Coalesce
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from clinic.accounts.models import Membership
from clinic.accounts.roles import Role
from clinic.billing import calculations as calc
from clinic.billing.models import (
    OPEN_STATUSES,
    POSTED_STATUSES,
    BillingSettings,
    Claim,
    ClaimLine,
    CreditNote,
    InsurancePolicy,
    Invoice,
    InvoiceAppointment,
    InvoiceLine,
    InvoiceStatus,
    Payment,
    PaymentAllocation,
    PaymentMethod,
    Refund,
    TaxRate,
)
from clinic.core import timefmt
from clinic.core.errors import NotFound, ValidationFailed
from clinic.core.tenancy import require_org_id
from clinic.core.timeline import Cursor, TimelineItem, before_q
from clinic.core.timeline import order_by as timeline_order
from clinic.directory import selectors as directory_selectors
from clinic.directory.models import Contact, Patient

STAFF_BILLING_ROLES = (Role.OWNER, Role.ADMIN, Role.MANAGER, Role.ASSISTANT)


def _uuid_or_none(value: Any) -> uuid.UUID | None:
    try:
        return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))
    except (ValueError, TypeError, AttributeError):
        return None


def billing_settings(organization_id) -> BillingSettings:
    """The organization's settings, or the defaults (unsaved) before its first billing write:
    a read never writes (services.billing_settings_get creates the row)."""
    return BillingSettings.objects.filter(organization_id=organization_id).first() or (
        BillingSettings(organization_id=organization_id)
    )


# --- visibility ----------------------------------------------------------------------------------


def _patient_scope(actor: Membership) -> tuple[QuerySet, QuerySet]:
    """(patients, contacts) a patient login acts for."""
    patients = directory_selectors.patients_visible_to(actor).values("id")
    contacts = Contact.objects.filter(membership_id=actor.id).values("id")
    return patients, contacts


def invoices_visible_to(actor: Membership) -> QuerySet:
    qs = Invoice.objects.all()
    if actor.role in STAFF_BILLING_ROLES:
        return qs
    if actor.role == Role.PATIENT:
        patients, contacts = _patient_scope(actor)
        return qs.filter(
            Q(bill_to_contact__isnull=True, patient_id__in=patients)
            | Q(bill_to_contact_id__in=contacts)
        ).exclude(status=InvoiceStatus.DRAFT)
    if (
        actor.role == Role.PRACTITIONER
        and billing_settings(actor.organization_id).practitioners_see_own_invoices
    ):
        own = InvoiceAppointment.objects.filter(
            invoice_id=OuterRef("pk"), practitioner__membership_id=actor.id
        )
        return qs.filter(Exists(own))
    return qs.none()


def invoice_for_actor(actor: Membership, invoice_id: Any) -> Invoice:
    invoice_uuid = _uuid_or_none(invoice_id)
    invoice = (
        invoices_visible_to(actor)
        .filter(id=invoice_uuid)
        .select_related("patient", "bill_to_contact")
        .first()
        if invoice_uuid
        else None
    )
    if invoice is None:
        raise NotFound(_("Invoice not found."))
    return invoice


def invoice_detail(actor: Membership, invoice_id: Any) -> Invoice:
    """An invoice with everything its page, PDF and API answer show, in a constant number of
    queries: lines, credit notes, allocations, claims."""
    invoice = invoice_for_actor(actor, invoice_id)
    invoice.line_list = list(
        InvoiceLine.objects.filter(invoice=invoice)
        .select_related("service", "tax_rate", "practitioner")
        .order_by("position", "id")
    )
    invoice.tax_bands = calc.tax_breakdown(
        (li.tax_rate_percent, li.net_amount, li.tax_amount) for li in invoice.line_list
    )
    invoice.credit_note_list = list(
        CreditNote.objects.filter(invoice=invoice).order_by("issue_date", "number")
    )
    invoice.allocation_list = list(
        PaymentAllocation.objects.filter(invoice=invoice)
        .select_related("payment")
        .order_by("created_at", "id")
    )
    invoice.claim_list = list(Claim.objects.filter(invoice=invoice).order_by("created_at"))
    invoice.insurer_share = calc.insurer_share(
        (c.status, c.claimed_amount, c.approved_amount, c.paid_amount) for c in invoice.claim_list
    )
    invoice.patient_share = calc.patient_share(
        balance=invoice.balance, insurer=invoice.insurer_share
    )
    invoice.appointment_ids = list(
        InvoiceAppointment.objects.filter(invoice=invoice).values_list("appointment_id", flat=True)
    )
    return invoice


def _as_of_days(as_of: dt.date) -> RawSQL:
    return RawSQL('(%s::date - "billing_invoice"."due_date")', (as_of,))


def _insurer_pending_subquery():
    """Per invoice: what insurers are still expected to pay (see calculations.insurer_share)."""
    from django.db.models import Case, DecimalField, F, Subquery, Value, When

    pending = (
        Claim.objects.filter(invoice_id=OuterRef("pk"))
        .values("invoice_id")
        .annotate(
            s=Sum(
                Case(
                    When(status="submitted", then=F("claimed_amount") - F("paid_amount")),
                    When(
                        status__in=["approved", "partially_approved"],
                        then=F("approved_amount") - F("paid_amount"),
                    ),
                    default=Value(Decimal(0)),
                    output_field=DecimalField(max_digits=12, decimal_places=2),
                )
            )
        )
        .values("s")
    )
    return Coalesce(
        Subquery(pending),
        Value(Decimal("0.00")),
        output_field=DecimalField(max_digits=12, decimal_places=2),
    )


INVOICE_ORDERINGS = {
    "-created_at": ("-created_at",),
    "created_at": ("created_at",),
    "-issue_date": ("-issue_date", "-number"),
    "issue_date": ("issue_date", "number"),
    "due_date": ("due_date", "number"),
    "-due_date": ("-due_date", "-number"),
    "number": ("number",),
    "-number": ("-number",),
    "-balance": ("-balance",),
    "-gross_total": ("-gross_total",),
}


def invoices_list(
    *,
    actor: Membership,
    status: str | None = None,
    patient_id: Any = None,
    contact_id: Any = None,
    practitioner_id: Any = None,
    date_from: dt.date | None = None,
    date_to: dt.date | None = None,
    overdue: bool | None = None,
    search: str | None = None,
    sort: str | None = None,
    as_of: dt.date | None = None,
) -> QuerySet:
    qs = invoices_visible_to(actor)
    if status:
        statuses = [s.strip() for s in status.split(",") if s.strip()]
        bad = [s for s in statuses if s not in InvoiceStatus.values and s != "open"]
        if bad:
            raise ValidationFailed(
                _("Unknown status %(s)s.") % {"s": ", ".join(bad)},
                details={"status": [", ".join([*InvoiceStatus.values, "open"])]},
            )
        if "open" in statuses:
            statuses = [s for s in statuses if s != "open"] + list(OPEN_STATUSES)
        qs = qs.filter(status__in=statuses)
    if patient_id:
        qs = qs.filter(patient_id=_uuid_or_none(patient_id))
    if contact_id:
        qs = qs.filter(bill_to_contact_id=_uuid_or_none(contact_id))
    if practitioner_id:
        qs = qs.filter(
            Exists(
                InvoiceAppointment.objects.filter(
                    invoice_id=OuterRef("pk"), practitioner_id=_uuid_or_none(practitioner_id)
                )
            )
        )
    if date_from:
        qs = qs.filter(
            Q(issue_date__gte=date_from)
            | Q(issue_date__isnull=True, created_at__date__gte=date_from)
        )
    if date_to:
        qs = qs.filter(
            Q(issue_date__lte=date_to) | Q(issue_date__isnull=True, created_at__date__lte=date_to)
        )
    if overdue:
        qs = qs.filter(status__in=OPEN_STATUSES, due_date__lt=as_of or timezone.localdate())
    if search and search.strip():
        term = search.strip()[:100]
        qs = qs.filter(
            Q(number__icontains=term)
            | Q(patient__family_name__icontains=term)
            | Q(patient__given_name__icontains=term)
            | Q(bill_to_contact__family_name__icontains=term)
        )
    key = sort or "-created_at"
    if key not in INVOICE_ORDERINGS:
        raise ValidationFailed(
            _("Unknown sort order %(sort)s.") % {"sort": key},
            details={"sort": [_("one of: %s") % ", ".join(INVOICE_ORDERINGS)]},
        )
    return (
        qs.select_related("patient", "bill_to_contact")
        .annotate(line_count=Count("lines"), insurer_pending=_insurer_pending_subquery())
        .order_by(*INVOICE_ORDERINGS[key], "id")
    )


def invoices_totals(qs: QuerySet) -> dict[str, Decimal | int]:
    """Sums over a filtered invoice list (one query)."""
    zero = Decimal("0.00")
    row = qs.order_by().aggregate(
        count=Count("id"),
        net=Coalesce(Sum("net_total"), zero),
        tax=Coalesce(Sum("tax_total"), zero),
        gross=Coalesce(Sum("gross_total"), zero),
        paid=Coalesce(Sum("paid_total"), zero),
        credited=Coalesce(Sum("credited_total"), zero),
        balance=Coalesce(Sum("balance"), zero),
    )
    return row


def invoice_is_overdue(invoice: Invoice, as_of: dt.date) -> bool:
    """Issued, still owed, and past its due date (the same rule as `invoices_overdue`)."""
    return (
        invoice.status in OPEN_STATUSES
        and invoice.due_date is not None
        and invoice.due_date < as_of
        and invoice.balance > 0
    )


def invoices_overdue(as_of: dt.date | None = None) -> QuerySet:
    """Issued invoices still owed after their due date, most overdue first, with
    `days_overdue`. For the dunning reminders (notifications) and the overdue page; runs in the
    current tenant."""
    as_of = as_of or timezone.localdate()
    return (
        Invoice.objects.filter(status__in=OPEN_STATUSES, due_date__lt=as_of, balance__gt=0)
        .select_related("patient", "bill_to_contact")
        .annotate(days_overdue=_as_of_days(as_of))
        .order_by("due_date", "number", "id")
    )


# --- payments, credit notes, tax rates -----------------------------------------------------------


def payments_visible_to(actor: Membership) -> QuerySet:
    qs = Payment.objects.all()
    if actor.role in STAFF_BILLING_ROLES:
        return qs
    if actor.role == Role.PATIENT:
        patients, contacts = _patient_scope(actor)
        return qs.filter(Q(payer_patient_id__in=patients) | Q(payer_contact_id__in=contacts))
    return qs.none()


def payments_list(
    *,
    actor: Membership,
    patient_id: Any = None,
    contact_id: Any = None,
    method: str | None = None,
    unallocated: bool | None = None,
    date_from: dt.date | None = None,
    date_to: dt.date | None = None,
) -> QuerySet:
    qs = payments_visible_to(actor)
    if patient_id:
        qs = qs.filter(payer_patient_id=_uuid_or_none(patient_id))
    if contact_id:
        qs = qs.filter(payer_contact_id=_uuid_or_none(contact_id))
    if method:
        qs = qs.filter(method=method)
    if unallocated:
        qs = qs.filter(unallocated__gt=0)
    if date_from:
        qs = qs.filter(received_at__date__gte=date_from)
    if date_to:
        qs = qs.filter(received_at__date__lte=date_to)
    from django.db.models import Prefetch

    return (
        qs.select_related("payer_patient", "payer_contact")
        .prefetch_related(
            Prefetch(
                "allocations",
                queryset=PaymentAllocation.objects.select_related("invoice").order_by(
                    "created_at", "id"
                ),
            ),
            Prefetch("refunds", queryset=Refund.objects.order_by("refunded_at", "id")),
        )
        .order_by("-received_at", "id")
    )


def payment_for_actor(actor: Membership, payment_id: Any) -> Payment:
    pid = _uuid_or_none(payment_id)
    payment = payments_list(actor=actor).filter(id=pid).first() if pid else None
    if payment is None:
        raise NotFound(_("Payment not found."))
    return payment


def credit_notes_list(*, actor: Membership, invoice_id: Any = None) -> QuerySet:
    qs = CreditNote.objects.filter(invoice__in=invoices_visible_to(actor))
    if invoice_id:
        qs = qs.filter(invoice_id=_uuid_or_none(invoice_id))
    return qs.select_related("invoice").order_by("-issue_date", "-number", "id")


def credit_note_for_actor(actor: Membership, credit_note_id: Any) -> CreditNote:
    cid = _uuid_or_none(credit_note_id)
    note = credit_notes_list(actor=actor).filter(id=cid).first() if cid else None
    if note is None:
        raise NotFound(_("Credit note not found."))
    return note


def tax_rates_list(*, active: bool | None = None) -> QuerySet:
    qs = TaxRate.objects.all()
    if active is not None:
        qs = qs.filter(is_active=active)
    return qs.order_by("name", "id")


def tax_rate_get(tax_rate_id: Any) -> TaxRate:
    tid = _uuid_or_none(tax_rate_id)
    rate = TaxRate.objects.filter(id=tid).first() if tid else None
    if rate is None:
        raise NotFound(_("Tax rate not found."))
    return rate


# --- accounts: balances, aging, statements ----------------------------------------------------


@dataclass(frozen=True)
class Account:
    """A payer: a patient (invoices billed to the patient) or a contact."""

    kind: str  # "patient" | "contact"
    id: uuid.UUID
    name: str
    language: str
    patient: Patient | None = None
    contact: Contact | None = None

    @property
    def key(self) -> str:
        return f"{self.kind}:{self.id}"


def account_for_actor(
    actor: Membership, *, patient_id: Any = None, contact_id: Any = None
) -> Account:
    if bool(patient_id) == bool(contact_id):
        raise ValidationFailed(
            _("Give patient_id or contact_id."),
            details={"patient_id": [_("Give patient_id or contact_id (one of them).")]},
        )
    staff = actor.role in STAFF_BILLING_ROLES
    if patient_id:
        pid = _uuid_or_none(patient_id)
        qs = (
            Patient.objects.all()
            if staff
            else (
                directory_selectors.patients_visible_to(actor)
                if actor.role == Role.PATIENT
                else Patient.objects.none()
            )
        )
        patient = qs.filter(id=pid).first() if pid else None
        if patient is None:
            raise NotFound(_("Patient not found."))
        return Account(
            "patient", patient.id, patient.display_name, patient.preferred_language, patient=patient
        )
    cid = _uuid_or_none(contact_id)
    qs = (
        Contact.objects.all()
        if staff
        else (
            Contact.objects.filter(membership_id=actor.id)
            if actor.role == Role.PATIENT
            else Contact.objects.none()
        )
    )
    contact = qs.filter(id=cid).first() if cid else None
    if contact is None:
        raise NotFound(_("Contact not found."))
    return Account(
        "contact", contact.id, contact.display_name, contact.preferred_language, contact=contact
    )


def _account_invoices(account: Account) -> QuerySet:
    if account.kind == "contact":
        return Invoice.objects.filter(bill_to_contact_id=account.id)
    return Invoice.objects.filter(patient_id=account.id, bill_to_contact__isnull=True)


def _account_payments(account: Account) -> QuerySet:
    if account.kind == "contact":
        return Payment.objects.filter(payer_contact_id=account.id)
    return Payment.objects.filter(payer_patient_id=account.id)


@dataclass
class Balance:
    account: Account
    currency: str
    outstanding: Decimal  # what open invoices still owe
    credit: Decimal  # unallocated payments
    balance: Decimal  # outstanding - credit (negative: the clinic owes the payer)
    insurer_pending: Decimal
    aging: dict[str, Decimal]
    open_invoices: list[Invoice] = field(default_factory=list)


def account_balance(account: Account, *, as_of: dt.date | None = None) -> Balance:
    """Outstanding, credit and aging of one payer (3 queries)."""
    org_currency = _org_currency()
    as_of = as_of or timezone.localdate()
    open_invoices = list(
        _account_invoices(account)
        .filter(status__in=OPEN_STATUSES)
        .annotate(insurer_pending=_insurer_pending_subquery())
        .order_by("due_date", "number")
    )
    credit = _account_payments(account).aggregate(c=Coalesce(Sum("unallocated"), Decimal("0.00")))[
        "c"
    ]
    outstanding = sum((inv.balance for inv in open_invoices), Decimal("0.00"))
    insurer = sum((min(inv.insurer_pending, inv.balance) for inv in open_invoices), Decimal("0.00"))
    return Balance(
        account=account,
        currency=org_currency,
        outstanding=outstanding,
        credit=credit,
        balance=outstanding - credit,
        insurer_pending=insurer,
        aging=calc.aging(((inv.due_date, inv.balance) for inv in open_invoices), as_of),
        open_invoices=open_invoices,
    )


def patient_invoices_outstanding(patient_id: Any) -> Decimal:
    """Everything still owed on a patient's invoices, whoever they are billed to."""
    return Invoice.objects.filter(
        patient_id=_uuid_or_none(patient_id), status__in=OPEN_STATUSES
    ).aggregate(s=Coalesce(Sum("balance"), Decimal("0.00")))["s"]


def _org_currency() -> str:
    from clinic.accounts.models import Organization

    return Organization.objects.filter(id=require_org_id()).values_list("currency", flat=True).get()


def _org_zone() -> str:
    from clinic.accounts.models import Organization

    return (
        Organization.objects.filter(id=require_org_id()).values_list("time_zone", flat=True).get()
    )


@dataclass
class StatementLine:
    date: dt.date
    kind: str  # invoice | credit_note | payment | refund
    reference: str
    description: str
    debit: Decimal
    credit: Decimal
    balance: Decimal = Decimal("0.00")


@dataclass
class Statement:
    account: Account
    currency: str
    date_from: dt.date
    date_to: dt.date
    opening: Decimal
    lines: list[StatementLine]
    closing: Decimal
    total_debits: Decimal
    total_credits: Decimal
    aging: dict[str, Decimal]
    generated_at: dt.datetime


_MOVEMENTS_SQL = """
SELECT d, kind, ref, descr, debit, credit, sort_key FROM (
    SELECT i.issue_date AS d, 'invoice' AS kind, i.number AS ref, '' AS descr,
           i.gross_total AS debit, 0::numeric AS credit, i.issued_at AS sort_key
      FROM billing_invoice i
     WHERE i.organization_id = %(org)s AND i.status <> 'draft' AND {invoice_payer}
       AND i.issue_date <= %(to)s
    UNION ALL
    SELECT c.issue_date, 'credit_note', c.number, c.reason, 0, c.amount, c.created_at
      FROM billing_creditnote c JOIN billing_invoice i ON i.id = c.invoice_id
     WHERE c.organization_id = %(org)s AND {invoice_payer} AND c.issue_date <= %(to)s
    UNION ALL
    SELECT (p.received_at AT TIME ZONE %(tz)s)::date, 'payment', p.reference, p.method,
           0, p.amount, p.received_at
      FROM billing_payment p
     WHERE p.organization_id = %(org)s AND {payment_payer}
       AND (p.received_at AT TIME ZONE %(tz)s)::date <= %(to)s
    UNION ALL
    SELECT (r.refunded_at AT TIME ZONE %(tz)s)::date, 'refund', r.reference, r.reason,
           r.amount, 0, r.refunded_at
      FROM billing_refund r JOIN billing_payment p ON p.id = r.payment_id
     WHERE r.organization_id = %(org)s AND {payment_payer}
       AND (r.refunded_at AT TIME ZONE %(tz)s)::date <= %(to)s
) m
ORDER BY d, sort_key, kind, ref
"""


def statement_build(account: Account, *, date_from: dt.date, date_to: dt.date) -> Statement:
    """Opening balance, the movements of the period and the closing balance of one payer:
    invoices (debit), credit notes and payments (credit), refunds (debit). One query for the
    movements (the history before the period is summed into the opening balance)."""
    if date_to < date_from:
        raise ValidationFailed(
            _("date_to is before date_from."),
            details={"date_to": [_("Must not be before date_from.")]},
        )
    if account.kind == "contact":
        invoice_payer = "i.bill_to_contact_id = %(payer)s"
        payment_payer = "p.payer_contact_id = %(payer)s"
    else:
        invoice_payer = "i.patient_id = %(payer)s AND i.bill_to_contact_id IS NULL"
        payment_payer = "p.payer_patient_id = %(payer)s"
    sql = _MOVEMENTS_SQL.format(invoice_payer=invoice_payer, payment_payer=payment_payer)
    params = {"org": require_org_id(), "payer": account.id, "to": date_to, "tz": _org_zone()}
    with connection.cursor() as cur:
        cur.execute(sql, params)
        rows = cur.fetchall()
    opening = Decimal("0.00")
    lines: list[StatementLine] = []
    debits = credits = Decimal("0.00")
    for day, kind, ref, descr, debit, credit, _sort in rows:
        debit, credit = Decimal(debit), Decimal(credit)
        if day < date_from:
            opening += debit - credit
            continue
        debits += debit
        credits += credit
        lines.append(StatementLine(day, kind, ref or "", descr or "", debit, credit))
    running = opening
    for line in lines:
        running += line.debit - line.credit
        line.balance = running
    balance = account_balance(account, as_of=date_to)
    return Statement(
        account=account,
        currency=balance.currency,
        date_from=date_from,
        date_to=date_to,
        opening=opening,
        lines=lines,
        closing=opening + debits - credits,
        total_debits=debits,
        total_credits=credits,
        aging=balance.aging,
        generated_at=timezone.now(),
    )


# --- appointments to bill -----------------------------------------------------------------------


def appointments_billable(
    *,
    organization,
    settings_row: BillingSettings,
    date_from: dt.date,
    date_to: dt.date,
    practitioner_id: Any = None,
    patient_id: Any = None,
) -> QuerySet:
    """Appointments to bill in [date_from, date_to] (the organization's local dates): completed,
    plus late cancellations and no-shows when the organization charges for them; with a patient
    and a service; not billed yet."""
    from clinic.scheduling.models import Appointment

    zone = ZoneInfo(organization.time_zone)
    start = dt.datetime.combine(date_from, dt.time.min, tzinfo=zone)
    end = dt.datetime.combine(date_to + dt.timedelta(days=1), dt.time.min, tzinfo=zone)
    billable = Q(status="completed")
    if settings_row.charge_late_cancellations:
        billable |= Q(status="cancelled", late_cancel=True)
    if settings_row.charge_no_shows:
        billable |= Q(status="no_show")
    qs = Appointment.objects.filter(
        billable,
        start_at__gte=start,
        start_at__lt=end,
        patient__isnull=False,
        service__isnull=False,
    ).exclude(Exists(InvoiceAppointment.objects.filter(appointment_id=OuterRef("pk"))))
    if practitioner_id:
        qs = qs.filter(practitioner_id=_uuid_or_none(practitioner_id))
    if patient_id:
        qs = qs.filter(patient_id=_uuid_or_none(patient_id))
    return qs.select_related("service", "location").order_by("patient_id", "start_at", "id")


def appointments_to_invoice(invoice: Invoice, *, limit: int = 50) -> list:
    """The invoice patient's completed appointments with a service that no invoice bills yet,
    oldest first: what "Add from this patient's completed appointments" offers."""
    from clinic.scheduling.models import Appointment

    return list(
        Appointment.objects.filter(
            patient_id=invoice.patient_id, status="completed", service__isnull=False
        )
        .exclude(Exists(InvoiceAppointment.objects.filter(appointment_id=OuterRef("pk"))))
        .select_related("service", "practitioner", "location")
        .order_by("start_at", "id")[:limit]
    )


@dataclass(frozen=True)
class IssueSummary:
    """What issuing a draft would give: shown for confirmation before it is issued."""

    payer: str
    total: Decimal
    currency: str
    lines: int
    issue_date: dt.date
    due_date: dt.date


def invoice_issue_summary(actor: Membership, invoice: Invoice) -> IssueSummary:
    """The payer, total and due date of a draft (with `invoice_detail` attributes) if issued
    today; the due date follows the same rule as `services.invoice_issue`."""
    today = timezone.now().astimezone(ZoneInfo(actor.organization.time_zone)).date()
    payer = invoice.bill_to_contact or invoice.patient
    return IssueSummary(
        payer=payer.display_name,
        total=invoice.gross_total,
        currency=invoice.currency,
        lines=len(invoice.line_list),
        issue_date=today,
        due_date=calc.due_date_at_issue(
            due=invoice.due_date,
            issued_on=today,
            terms_days=billing_settings(actor.organization_id).payment_terms_days,
        ),
    )


# --- insurance -----------------------------------------------------------------------------------


def insurance_policies_list(*, patient_id: Any = None, active: bool | None = None) -> QuerySet:
    qs = InsurancePolicy.objects.select_related("patient")
    if patient_id:
        qs = qs.filter(patient_id=_uuid_or_none(patient_id))
    if active is not None:
        qs = qs.filter(is_active=active)
    return qs.order_by("patient__family_name", "insurer", "id")


def insurance_policy_get(policy_id: Any) -> InsurancePolicy:
    pid = _uuid_or_none(policy_id)
    policy = (
        InsurancePolicy.objects.select_related("patient").filter(id=pid).first() if pid else None
    )
    if policy is None:
        raise NotFound(_("Insurance policy not found."))
    return policy


def claims_list(
    *, status: str | None = None, invoice_id: Any = None, policy_id: Any = None
) -> QuerySet:
    from django.db.models import Prefetch

    qs = Claim.objects.select_related("policy", "invoice")
    if status:
        qs = qs.filter(status=status)
    if invoice_id:
        qs = qs.filter(invoice_id=_uuid_or_none(invoice_id))
    if policy_id:
        qs = qs.filter(policy_id=_uuid_or_none(policy_id))
    return qs.prefetch_related(
        Prefetch("lines", queryset=ClaimLine.objects.order_by("id"))
    ).order_by("-created_at", "id")


def claim_get(claim_id: Any) -> Claim:
    cid = _uuid_or_none(claim_id)
    claim = claims_list().filter(id=cid).first() if cid else None
    if claim is None:
        raise NotFound(_("Claim not found."))
    return claim


# --- a patient's chart ----------------------------------------------------------------------------


@dataclass
class PatientBilling:
    """What the patient's chart shows of billing: the balance due with its aging, and the
    latest invoices and payments the actor may see."""

    currency: str
    outstanding: Decimal  # still owed on the patient's open invoices (whoever they are billed to)
    credit: Decimal  # the patient's unallocated payments
    balance: Decimal  # outstanding - credit
    aging: dict[str, Decimal]  # AGING_BUCKETS -> amount, by days past the due date
    overdue: Decimal
    invoices: list[Invoice]
    payments: list[Payment]


def _patient_payments(actor: Membership, patient_id: uuid.UUID | None) -> QuerySet:
    """Payments by the patient, and by anyone else towards the patient's invoices."""
    towards = PaymentAllocation.objects.filter(
        payment_id=OuterRef("pk"), invoice__patient_id=patient_id
    )
    return payments_visible_to(actor).filter(Q(payer_patient_id=patient_id) | Exists(towards))


def patient_billing(
    actor: Membership, *, patient_id: Any, as_of: dt.date | None = None, limit: int = 10
) -> PatientBilling:
    """Balance, aging and the latest invoices and payments of one patient (4 queries): what
    the actor may see only — a role without billing sees nothing owed."""
    pid = _uuid_or_none(patient_id)
    as_of = as_of or timezone.localdate()
    invoices = invoices_visible_to(actor).filter(patient_id=pid)
    open_rows = list(
        invoices.filter(status__in=OPEN_STATUSES, balance__gt=0).values_list("due_date", "balance")
    )
    outstanding = sum((balance for _due, balance in open_rows), Decimal("0.00"))
    credit = (
        payments_visible_to(actor)
        .filter(payer_patient_id=pid)
        .aggregate(c=Coalesce(Sum("unallocated"), Decimal("0.00")))["c"]
    )
    aging = calc.aging(((due or as_of, balance) for due, balance in open_rows), as_of)
    overdue = sum(
        (balance for due, balance in open_rows if due is not None and due < as_of),
        Decimal("0.00"),
    )
    return PatientBilling(
        currency=actor.organization.currency,
        outstanding=outstanding,
        credit=credit,
        balance=outstanding - credit,
        aging=aging,
        overdue=overdue,
        invoices=list(invoices.order_by("-created_at", "-id")[:limit]),
        payments=list(_patient_payments(actor, pid).order_by("-received_at", "-id")[:limit]),
    )


def patient_invoices_timeline(
    actor: Membership, *, patient_id: Any, before: Cursor | None = None, limit: int = 20
) -> list[TimelineItem]:
    """The patient's invoices as timeline items (at: issued, or created for a draft), newest
    first, after `before`, at most `limit + 1` (one query)."""
    rows = (
        invoices_visible_to(actor)
        .filter(patient_id=_uuid_or_none(patient_id))
        .annotate(at=Coalesce("issued_at", "created_at"))
        .filter(before_q(before, kind="invoice", at_field="at"))
        .order_by(*timeline_order("at"))[: limit + 1]
    )
    statuses = dict(InvoiceStatus.choices)
    return [
        TimelineItem(
            kind="invoice",
            at=inv.at,
            title=(
                _("Invoice %(number)s · %(amount)s %(currency)s")
                % {
                    "number": inv.number,
                    "amount": _amount(inv.gross_total),
                    "currency": inv.currency,
                }
                if inv.number
                else _("Draft invoice · %(amount)s %(currency)s")
                % {"amount": _amount(inv.gross_total), "currency": inv.currency}
            ),
            status=inv.status,
            status_label=str(statuses.get(inv.status, inv.status)),
            object_id=inv.id,
            url=reverse("billing:invoice", args=[inv.id]),
        )
        for inv in rows
    ]


def _amount(value: Decimal) -> str:
    """An amount in the reader's regional style ("1 234,50" in French) for titles."""
    return format_decimal(value, format="#,##0.00", locale=timefmt.locale_for())


def patient_payments_timeline(
    actor: Membership, *, patient_id: Any, before: Cursor | None = None, limit: int = 20
) -> list[TimelineItem]:
    """Payments by the patient or towards their invoices as timeline items (at: received),
    newest first, after `before`, at most `limit + 1` (one query)."""
    pid = _uuid_or_none(patient_id)
    rows = (
        _patient_payments(actor, pid)
        .filter(before_q(before, kind="payment", at_field="received_at"))
        .order_by(*timeline_order("received_at"))[: limit + 1]
    )
    methods = dict(PaymentMethod.choices)
    items = []
    for payment in rows:
        refunded = payment.refunded_total >= payment.amount
        items.append(
            TimelineItem(
                kind="payment",
                at=payment.received_at,
                title=_("Payment %(amount)s %(currency)s · %(method)s")
                % {
                    "amount": _amount(payment.amount),
                    "currency": payment.currency,
                    "method": methods.get(payment.method, payment.method),
                },
                status="refunded" if refunded else "received",
                status_label=str(_("Refunded") if refunded else _("Received")),
                object_id=payment.id,
                url=reverse("billing:account", args=["patient", payment.payer_patient_id])
                if payment.payer_patient_id
                else reverse("billing:account", args=["contact", payment.payer_contact_id]),
            )
        )
    return items


# --- the day at the desk -------------------------------------------------------------------------


def unpaid_for_patients(*, actor: Membership, patient_ids, limit: int = 100) -> list[Invoice]:
    """Issued invoices still owed by these patients (whoever they are billed to) that the actor
    may see, oldest due first: one query whatever their number."""
    ids = [i for i in (_uuid_or_none(p) for p in patient_ids) if i is not None]
    if not ids:
        return []
    return list(
        invoices_visible_to(actor)
        .filter(patient_id__in=ids, status__in=OPEN_STATUSES, balance__gt=0)
        .select_related("patient", "bill_to_contact")
        .order_by("due_date", "number", "id")[:limit]
    )


@dataclass(frozen=True)
class DayRevenue:
    currency: str
    issued: Decimal  # invoices issued that day (not voided), tax included
    collected: Decimal  # payments received during that day


def day_revenue(*, day: dt.date, start: dt.datetime, end: dt.datetime) -> DayRevenue:
    """What the clinic invoiced on `day` (the invoices' issue date) and received between
    `start` and `end` (that day's bounds in the clinic's zone): three queries."""
    zero = Decimal("0.00")
    issued = Invoice.objects.filter(
        issue_date=day, status__in=[s for s in POSTED_STATUSES if s != InvoiceStatus.VOID]
    ).aggregate(s=Coalesce(Sum("gross_total"), zero))["s"]
    collected = Payment.objects.filter(received_at__gte=start, received_at__lt=end).aggregate(
        s=Coalesce(Sum("amount"), zero)
    )["s"]
    return DayRevenue(currency=_org_currency(), issued=issued, collected=collected)


@dataclass(frozen=True)
class LoginBilling:
    """A patient login's billing at a glance: what its accounts still owe and their invoices."""

    currency: str
    balance: Decimal
    invoices: list[Invoice]


def login_billing(actor: Membership, *, limit: int = 10) -> LoginBilling:
    """The balance owed on the invoices the actor may see (a patient login: its own and its
    dependants') and the latest of those invoices (drafts are never shown to patients)."""
    visible = invoices_visible_to(actor)
    balance = visible.filter(status__in=OPEN_STATUSES).aggregate(
        s=Coalesce(Sum("balance"), Decimal("0.00"))
    )["s"]
    invoices = list(
        visible.exclude(status=InvoiceStatus.DRAFT)
        .select_related("patient")
        .order_by("-issue_date", "-number", "-id")[:limit]
    )
    return LoginBilling(currency=_org_currency(), balance=balance, invoices=invoices)


def invoice_of_appointment(actor: Membership) -> Subquery:
    """The id of the invoice (one the actor may see) billing the outer appointment
    (`OuterRef("pk")`), as a subquery: the calendar adds it to every item."""
    return Subquery(
        invoices_visible_to(actor)
        .filter(appointment_links__appointment_id=OuterRef("pk"))
        .values("id")[:1]
    )
