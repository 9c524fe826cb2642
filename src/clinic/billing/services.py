"""Every write to billing.

Functions are `<entity>_<verb>(*, actor, ...)`; `actor` is the acting `Membership`. Input is a
mapping of API field names (the API, the pages and the CLI use the same names); every bad field is
reported at once as `ValidationFailed` with `details={field: [messages]}` and nothing is written.
Each function runs in one transaction (`transaction.atomic`, so two services can share one).

Amounts are computed by calculations.py only. Money moves (allocations, credit notes, refunds)
take row locks in a fixed order — invoices (by id), then payments (by id) — and the database
triggers and CHECK constraints (models.py, migration 0002) refuse anything that would still go
wrong.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import re
import string
import uuid
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from django.db import IntegrityError, connection, transaction
from django.db.models import Count, Max
from django.utils import timezone
from django.utils.translation import gettext as _

from clinic.accounts.models import Membership
from clinic.audit.services import audit_record
from clinic.billing import calculations as calc
from clinic.billing.events import InvoiceIssued
from clinic.billing.models import (
    OPEN_STATUSES,
    BillingSettings,
    Claim,
    ClaimLine,
    ClaimStatus,
    CreditNote,
    InsurancePolicy,
    Invoice,
    InvoiceAppointment,
    InvoiceLine,
    InvoiceStatus,
    NumberSequence,
    Payment,
    PaymentAllocation,
    PaymentMethod,
    Refund,
    SequenceKind,
    TaxRate,
)
from clinic.core import timefmt
from clinic.core.errors import Conflict, NotFound, ValidationFailed
from clinic.core.events import publish
from clinic.directory.models import Contact, Patient, PatientContact, Relationship, Service

MAX_LINES = 500


# --- input cleaning ------------------------------------------------------------------------------


class Errors:
    def __init__(self) -> None:
        self.errors: dict[str, list[str]] = {}

    def add(self, field: str, message: str) -> None:
        self.errors.setdefault(field, []).append(message)

    def __bool__(self) -> bool:
        return bool(self.errors)

    def raise_if_any(self, message: str) -> None:
        if self.errors:
            raise ValidationFailed(message, details=self.errors)


def _uuid(value: Any, field: str, errors: Errors, *, required: bool = False) -> uuid.UUID | None:
    if value in (None, ""):
        if required:
            errors.add(field, _("This field is required."))
        return None
    try:
        return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))
    except (ValueError, TypeError, AttributeError):
        errors.add(field, _("Not a valid id."))
        return None


def _amount(
    value: Any, field: str, errors: Errors, *, required: bool = False, positive: bool = False
) -> Decimal | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            errors.add(field, _("This field is required."))
        return None
    try:
        number = calc.amount_parse(value)
    except calc.AmountInvalid as exc:
        errors.add(field, _(str(exc)))
        return None
    if number > calc.MAX_AMOUNT:
        errors.add(field, _("Too large."))
        return None
    if positive and number <= 0:
        errors.add(field, _("Must be greater than 0."))
        return None
    return number


def _percent(value: Any, field: str, errors: Errors) -> Decimal | None:
    number = _amount(value, field, errors)
    if number is not None and number > calc.HUNDRED:
        errors.add(field, _("Must be between 0 and 100."))
        return None
    return number


def _text(value: Any, field: str, errors: Errors, *, max_length: int, required=False) -> str:
    text = "" if value is None else str(value).strip()
    if "\x00" in text:
        errors.add(field, _("Contains a NUL character."))
        return ""
    if required and not text:
        errors.add(field, _("This field is required."))
    if len(text) > max_length:
        errors.add(field, _("At most %(n)d characters.") % {"n": max_length})
        return text[:max_length]
    return text


def _date(value: Any, field: str, errors: Errors, *, required=False) -> dt.date | None:
    if value in (None, ""):
        if required:
            errors.add(field, _("This field is required."))
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        errors.add(field, _("A date like 2026-01-31 is expected."))
        return None


def _unknown(data: Mapping[str, Any], allowed: set[str], errors: Errors, prefix="") -> None:
    for name in data:
        if name not in allowed:
            errors.add(prefix + name, _("Unknown field."))


_CONSTRAINT_MESSAGES = {
    "invoice_not_overpaid": ("amount", "More than the invoice's balance.", True),
    "payment_not_overspent": ("amount", "More than the payment's unallocated amount.", True),
    "invoice_issued_immutable": ("invoice", "An issued invoice cannot be changed.", True),
    "invoice_line_issued_immutable": ("lines", "An issued invoice cannot be changed.", True),
    "invoice_totals_match_lines": ("lines", "The invoice totals do not match its lines.", True),
    "allocation_invoice_open": ("invoice_id", "This invoice is not open for payment.", True),
    "allocation_same_payer": (
        "invoice_id",
        "A payment goes only to invoices of its own payer, in its currency.",
        True,
    ),
    "credit_note_invoice_issued": ("invoice_id", "Only issued invoices can be credited.", True),
    "invoice_appointment_once": ("appointment_id", "This appointment is already billed.", True),
    "tax_rate_name_unique": ("name", "A tax rate with this name already exists.", True),
    "invoice_number_unique": ("number", "This invoice number is taken.", True),
}


@contextlib.contextmanager
def database_refusals():
    """A savepoint whose integrity errors become 409/422 naming the field."""
    try:
        with transaction.atomic():
            yield
    except IntegrityError as exc:
        diag = getattr(exc.__cause__, "diag", None)
        name = getattr(diag, "constraint_name", None) or ""
        field, message, conflict = _CONSTRAINT_MESSAGES.get(
            name, ("constraint", "The database refused this change (%s)." % (name or "?"), False)
        )
        details = {field: [_(message)], "constraint": [name]}
        raise (Conflict if conflict else ValidationFailed)(_(message), details=details) from exc


def _local_today(org) -> dt.date:
    return timezone.now().astimezone(ZoneInfo(org.time_zone)).date()


# --- settings, numbering, tax rates -----------------------------------------------------------


def billing_settings_get(organization_id) -> BillingSettings:
    settings_row = BillingSettings.objects.filter(organization_id=organization_id).first()
    if settings_row is None:
        with connection.cursor() as cur:
            cur.execute(
                "INSERT INTO billing_billingsettings (id, organization_id, invoice_number_format, "
                "credit_note_number_format, payment_terms_days, charge_late_cancellations, "
                "charge_no_shows, practitioners_see_own_invoices, updated_at) "
                "VALUES (%s, %s, %s, %s, 30, false, false, false, now()) "
                "ON CONFLICT (organization_id) DO NOTHING",
                [uuid.uuid4(), organization_id, "INV-{year}-{seq:06d}", "CN-{year}-{seq:06d}"],
            )
        settings_row = BillingSettings.objects.get(organization_id=organization_id)
    return settings_row


def number_format_clean(value: Any, field: str, errors: Errors) -> str | None:
    fmt = _text(value, field, errors, max_length=50, required=True)
    if not fmt:
        return None
    try:
        names = [name for _lit, name, _spec, _conv in string.Formatter().parse(fmt) if name]
        if "seq" not in names or set(names) - {"year", "seq"}:
            raise ValueError
        sample = calc.number_format_render(fmt, year=2026, seq=123)
        if calc.number_format_render(fmt, year=2026, seq=124) == sample:
            raise ValueError
    except (ValueError, IndexError, KeyError):
        errors.add(field, _("Use {seq} (and optionally {year}), e.g. INV-{year}-{seq:06d}."))
        return None
    if not re.fullmatch(r"[\w\-/.{}:]+", fmt):
        errors.add(field, _("Letters, digits, - / . and the placeholders only."))
        return None
    return fmt


SETTINGS_FIELDS = {
    "invoice_number_format",
    "credit_note_number_format",
    "payment_terms_days",
    "charge_late_cancellations",
    "charge_no_shows",
    "practitioners_see_own_invoices",
}


def billing_settings_update(*, actor: Membership, data: Mapping[str, Any]) -> BillingSettings:
    errors = Errors()
    _unknown(data, SETTINGS_FIELDS, errors)
    values: dict[str, Any] = {}
    for name in ("invoice_number_format", "credit_note_number_format"):
        if name in data:
            values[name] = number_format_clean(data[name], name, errors)
    if "payment_terms_days" in data:
        days = data["payment_terms_days"]
        if not isinstance(days, int) or isinstance(days, bool) or not 0 <= days <= 365:
            errors.add("payment_terms_days", _("A number of days between 0 and 365."))
        values["payment_terms_days"] = days
    for name in ("charge_late_cancellations", "charge_no_shows", "practitioners_see_own_invoices"):
        if name in data:
            if not isinstance(data[name], bool):
                errors.add(name, _("true or false."))
            values[name] = data[name]
    errors.raise_if_any(_("The billing settings are not valid."))
    with transaction.atomic():
        row = billing_settings_get(actor.organization_id)
        for name, value in values.items():
            setattr(row, name, value)
        row.save()
    return row


def number_next(*, organization_id, kind: str, fmt: str, on: dt.date) -> str:
    """The next number of a gapless sequence. The counter row is locked (SELECT … FOR UPDATE)
    until the calling transaction ends: a concurrent issue waits, and a rolled-back issue gives
    its number back."""
    if not connection.in_atomic_block:
        raise RuntimeError("number_next must run inside the issuing transaction")
    period = on.year if "{year" in fmt else 0
    with connection.cursor() as cur:
        cur.execute(
            "INSERT INTO billing_numbersequence (id, organization_id, kind, period, last_value) "
            "VALUES (%s, %s, %s, %s, 0) ON CONFLICT (organization_id, kind, period) DO NOTHING",
            [uuid.uuid4(), organization_id, kind, period],
        )
    sequence = NumberSequence.objects.select_for_update().get(kind=kind, period=period)
    sequence.last_value += 1
    sequence.save(update_fields=["last_value"])
    return calc.number_format_render(fmt, year=on.year, seq=sequence.last_value)


def tax_rate_create(*, actor: Membership, data: Mapping[str, Any]) -> TaxRate:
    errors = Errors()
    _unknown(data, {"name", "rate", "is_active"}, errors)
    name = _text(data.get("name"), "name", errors, max_length=100, required=True)
    rate = _percent(data.get("rate"), "rate", errors)
    if rate is None and "rate" not in errors.errors:
        errors.add("rate", _("This field is required."))
    errors.raise_if_any(_("The tax rate is not valid."))
    with transaction.atomic(), database_refusals():
        return TaxRate.objects.create(
            organization_id=actor.organization_id,
            name=name,
            rate=rate,
            is_active=bool(data.get("is_active", True)),
        )


def tax_rate_update(*, actor: Membership, tax_rate: TaxRate, data: Mapping[str, Any]) -> TaxRate:
    """Lines keep the rate they were written with; a changed rate applies to new lines."""
    errors = Errors()
    _unknown(data, {"name", "rate", "is_active"}, errors)
    if "name" in data:
        tax_rate.name = _text(data["name"], "name", errors, max_length=100, required=True)
    if "rate" in data:
        rate = _percent(data["rate"], "rate", errors)
        if rate is None and "rate" not in errors.errors:
            errors.add("rate", _("This field is required."))
        tax_rate.rate = rate
    if "is_active" in data:
        tax_rate.is_active = bool(data["is_active"])
    errors.raise_if_any(_("The tax rate is not valid."))
    with transaction.atomic(), database_refusals():
        tax_rate.save()
    return tax_rate


# --- invoices ----------------------------------------------------------------------------------

LINE_FIELDS = {
    "service_id",
    "description",
    "quantity",
    "unit_price",
    "discount_percent",
    "discount_amount",
    "tax_rate_id",
}


def _line_build(
    data: Mapping[str, Any],
    prefix: str,
    errors: Errors,
    services: Mapping[uuid.UUID, Service],
    tax_rates: Mapping[uuid.UUID, TaxRate],
) -> InvoiceLine | None:
    if not isinstance(data, Mapping):
        errors.add(prefix.rstrip("."), _("A line object is expected."))
        return None
    before = len(errors.errors)
    _unknown(data, LINE_FIELDS, errors, prefix)
    service_id = _uuid(data.get("service_id"), prefix + "service_id", errors)
    service = services.get(service_id) if service_id else None
    if service_id and service is None and prefix + "service_id" not in errors.errors:
        errors.add(prefix + "service_id", _("No such service."))
    description = _text(data.get("description"), prefix + "description", errors, max_length=300)
    if not description and service is not None:
        description = f"{service.name} ({service.code})" if service.code else service.name
    if not description and prefix + "description" not in errors.errors:
        errors.add(prefix + "description", _("A description or a service is required."))
    # omitted: 1; an explicit null is refused like any other missing amount
    quantity = _amount(
        data.get("quantity", "1"), prefix + "quantity", errors, required=True, positive=True
    )
    unit_price = _amount(data.get("unit_price"), prefix + "unit_price", errors)
    if unit_price is None and prefix + "unit_price" not in errors.errors:
        if service is not None:
            unit_price = service.price
        else:
            errors.add(prefix + "unit_price", _("This field is required."))
    discount_percent = _percent(data.get("discount_percent"), prefix + "discount_percent", errors)
    discount_amount = _amount(data.get("discount_amount"), prefix + "discount_amount", errors)
    tax_rate_id = _uuid(data.get("tax_rate_id"), prefix + "tax_rate_id", errors)
    tax_rate = tax_rates.get(tax_rate_id) if tax_rate_id else None
    if tax_rate_id and tax_rate is None and prefix + "tax_rate_id" not in errors.errors:
        errors.add(prefix + "tax_rate_id", _("No such active tax rate."))
    if len(errors.errors) > before:
        return None
    rate_percent = (
        tax_rate.rate if tax_rate else (service.tax_rate if service is not None else calc.ZERO)
    )
    try:
        amounts = calc.line_amounts(
            calc.LineInput(
                quantity=quantity,
                unit_price=unit_price,
                discount_percent=discount_percent,
                discount_amount=discount_amount,
                tax_rate=rate_percent,
            )
        )
    except calc.LineInvalid as exc:
        errors.add(prefix + exc.field, _(exc.message))
        return None
    return InvoiceLine(
        service=service,
        description=description,
        quantity=quantity,
        unit_price=unit_price,
        discount_percent=discount_percent,
        discount_amount=discount_amount,
        tax_rate=tax_rate,
        tax_rate_percent=rate_percent,
        subtotal=amounts.subtotal,
        discount=amounts.discount,
        net_amount=amounts.net,
        tax_amount=amounts.tax,
        gross_amount=amounts.gross,
    )


def _lines_build(raw_lines: Any, errors: Errors, *, field: str = "lines") -> list[InvoiceLine]:
    if raw_lines is None:
        return []
    if not isinstance(raw_lines, list | tuple):
        errors.add(field, _("A list of lines is expected."))
        return []
    if len(raw_lines) > MAX_LINES:
        errors.add(field, _("At most %(n)d lines.") % {"n": MAX_LINES})
        return []
    service_ids, rate_ids = set(), set()
    for raw in raw_lines:
        if isinstance(raw, Mapping):
            for key, bucket in (("service_id", service_ids), ("tax_rate_id", rate_ids)):
                with contextlib.suppress(ValueError, TypeError, AttributeError):
                    if raw.get(key):
                        bucket.add(uuid.UUID(str(raw[key])))
    services = {s.id: s for s in Service.objects.filter(id__in=service_ids)} if service_ids else {}
    rates = (
        {t.id: t for t in TaxRate.objects.filter(id__in=rate_ids, is_active=True)}
        if rate_ids
        else {}
    )
    lines = []
    for i, raw in enumerate(raw_lines):
        line = _line_build(raw, f"{field}.{i}.", errors, services, rates)
        if line is not None:
            lines.append(line)
    return lines


def line_preview(data: Mapping[str, Any]) -> tuple[InvoiceLine | None, dict[str, list[str]]]:
    """A line's computed amounts (unsaved) and the errors of its fields: the live totals of the
    invoice editor."""
    errors = Errors()
    lines = _lines_build([data], errors, field="line")
    details = {k.replace("line.0.", ""): v for k, v in errors.errors.items()}
    return (lines[0] if lines else None), details


def _invoice_totals_store(invoice: Invoice, lines: Sequence[InvoiceLine]) -> None:
    totals = calc.invoice_totals(
        calc.LineAmounts(
            subtotal=line.subtotal,
            discount=line.discount,
            net=line.net_amount,
            tax=line.tax_amount,
            gross=line.gross_amount,
        )
        for line in lines
    )
    invoice.subtotal = totals.subtotal
    invoice.discount_total = totals.discount
    invoice.net_total = totals.net
    invoice.tax_total = totals.tax
    invoice.gross_total = totals.gross


def invoice_recalculate(invoice: Invoice) -> Invoice:
    """Recompute a draft's totals from its stored lines (the one place totals are set)."""
    lines = list(InvoiceLine.objects.filter(invoice=invoice))
    _invoice_totals_store(invoice, lines)
    invoice.save(
        update_fields=[
            "subtotal",
            "discount_total",
            "net_total",
            "tax_total",
            "gross_total",
            "updated_at",
        ]
    )
    return invoice


def _payer_refs(data: Mapping[str, Any], errors: Errors) -> tuple[Patient | None, Contact | None]:
    patient_id = _uuid(data.get("patient_id"), "patient_id", errors, required=True)
    contact_id = _uuid(data.get("bill_to_contact_id"), "bill_to_contact_id", errors)
    patient = Patient.objects.filter(id=patient_id).first() if patient_id else None
    if patient_id and patient is None:
        errors.add("patient_id", _("No such patient."))
    contact = Contact.objects.filter(id=contact_id).first() if contact_id else None
    if contact_id and contact is None:
        errors.add("bill_to_contact_id", _("No such contact."))
    return patient, contact


INVOICE_FIELDS = {"patient_id", "bill_to_contact_id", "lines", "notes", "due_date", "language"}


def _language(value: Any, errors: Errors) -> str:
    text = _text(value, "language", errors, max_length=5)
    if text and text not in ("en", "fr", "ar"):
        errors.add("language", _("One of en, fr, ar."))
    return text


def invoice_create(
    *, actor: Membership, data: Mapping[str, Any], appointment_links: Sequence[Any] = ()
) -> Invoice:
    """A draft invoice with its lines and computed totals."""
    errors = Errors()
    _unknown(data, INVOICE_FIELDS, errors)
    patient, contact = _payer_refs(data, errors)
    if patient is not None and patient.archived_at is not None:
        errors.add("patient_id", _("This patient is archived."))
    lines = _lines_build(data.get("lines"), errors)
    notes = _text(data.get("notes"), "notes", errors, max_length=5000)
    due_date = _date(data.get("due_date"), "due_date", errors)
    language = _language(data.get("language"), errors)
    errors.raise_if_any(_("The invoice is not valid."))
    with transaction.atomic():
        invoice = Invoice(
            organization_id=actor.organization_id,
            patient=patient,
            bill_to_contact=contact,
            currency=actor.organization.currency,
            notes=notes,
            due_date=due_date,
            language=language,
            created_by=actor,
        )
        _invoice_totals_store(invoice, lines)
        with database_refusals():
            invoice.save(force_insert=True)
            for position, line in enumerate(lines, start=1):
                line.organization_id = actor.organization_id
                line.invoice = invoice
                line.position = position
            InvoiceLine.objects.bulk_create(lines)
    return invoice


def _lock_draft(invoice: Invoice) -> Invoice:
    locked = Invoice.objects.select_for_update().get(id=invoice.id)
    if locked.status != InvoiceStatus.DRAFT:
        message = _("Invoice %(number)s is issued: correct it with a credit note.") % {
            "number": locked.number
        }
        raise Conflict(message, details={"status": [message]})
    return locked


def invoice_update(*, actor: Membership, invoice: Invoice, data: Mapping[str, Any]) -> Invoice:
    """Change a draft: payer, notes, due date, language, or replace all its lines."""
    errors = Errors()
    _unknown(data, INVOICE_FIELDS - {"patient_id"}, errors)
    values: dict[str, Any] = {}
    if "bill_to_contact_id" in data:
        contact_id = _uuid(data["bill_to_contact_id"], "bill_to_contact_id", errors)
        contact = Contact.objects.filter(id=contact_id).first() if contact_id else None
        if contact_id and contact is None:
            errors.add("bill_to_contact_id", _("No such contact."))
        values["bill_to_contact"] = contact
    if "notes" in data:
        values["notes"] = _text(data["notes"], "notes", errors, max_length=5000)
    if "due_date" in data:
        values["due_date"] = _date(data["due_date"], "due_date", errors)
    if "language" in data:
        values["language"] = _language(data["language"], errors)
    lines = _lines_build(data["lines"], errors) if "lines" in data else None
    errors.raise_if_any(_("The invoice is not valid."))
    with transaction.atomic():
        invoice = _lock_draft(invoice)
        for name, value in values.items():
            setattr(invoice, name, value)
        with database_refusals():
            if lines is not None:
                InvoiceAppointment.objects.filter(invoice=invoice).delete()
                InvoiceLine.objects.filter(invoice=invoice).delete()
                for position, line in enumerate(lines, start=1):
                    line.organization_id = invoice.organization_id
                    line.invoice = invoice
                    line.position = position
                InvoiceLine.objects.bulk_create(lines)
                _invoice_totals_store(invoice, lines)
            invoice.save()
    return invoice


def invoice_line_add(
    *, actor: Membership, invoice: Invoice, data: Mapping[str, Any]
) -> InvoiceLine:
    errors = Errors()
    (line,) = _lines_build([data], errors, field="line") or [None]
    if errors:
        # Name the fields without the list prefix: this endpoint takes one line.
        errors.errors = {k.replace("line.0.", ""): v for k, v in errors.errors.items()}
    errors.raise_if_any(_("The line is not valid."))
    with transaction.atomic():
        invoice = _lock_draft(invoice)
        count = InvoiceLine.objects.filter(invoice=invoice).count()
        if count >= MAX_LINES:
            raise ValidationFailed(
                _("At most %(n)d lines.") % {"n": MAX_LINES}, details={"lines": ["too many"]}
            )
        last = (
            InvoiceLine.objects.filter(invoice=invoice)
            .order_by("-position")
            .values_list("position", flat=True)
            .first()
            or 0
        )
        line.organization_id = invoice.organization_id
        line.invoice = invoice
        line.position = last + 1
        with database_refusals():
            line.save(force_insert=True)
            invoice_recalculate(invoice)
    return line


def invoice_line_remove(*, actor: Membership, invoice: Invoice, line_id: Any) -> Invoice:
    with transaction.atomic():
        invoice = _lock_draft(invoice)
        line = InvoiceLine.objects.filter(invoice=invoice, id=line_id).first()
        if line is None:
            raise NotFound(_("Invoice line not found."))
        with database_refusals():
            line.delete()
            invoice_recalculate(invoice)
    return invoice


def invoice_delete(*, actor: Membership, invoice: Invoice) -> None:
    """Drafts only (issued invoices are voided by a credit note). Billed appointments become
    billable again."""
    with transaction.atomic():
        invoice = _lock_draft(invoice)
        with database_refusals():
            invoice.delete()


def invoice_issue(
    *, actor: Membership, invoice: Invoice, issue_date: dt.date | None = None
) -> Invoice:
    """Give the draft its number (gapless, per organization) and freeze it."""
    with transaction.atomic():
        invoice = _lock_draft(invoice)
        if not InvoiceLine.objects.filter(invoice=invoice).exists():
            message = _("An invoice needs at least one line to be issued.")
            raise ValidationFailed(message, details={"lines": [message]})
        org = actor.organization
        on = issue_date or _local_today(org)
        settings_row = billing_settings_get(org.id)
        # Totals are recomputed from the stored lines right before they freeze; the trigger
        # checks them again.
        lines = list(InvoiceLine.objects.filter(invoice=invoice))
        _invoice_totals_store(invoice, lines)
        invoice.due_date = calc.due_date_at_issue(
            due=invoice.due_date, issued_on=on, terms_days=settings_row.payment_terms_days
        )
        invoice.number = number_next(
            organization_id=org.id,
            kind=SequenceKind.INVOICE,
            fmt=settings_row.invoice_number_format,
            on=on,
        )
        invoice.issue_date = on
        invoice.issued_at = timezone.now()
        invoice.status = InvoiceStatus.ISSUED
        if not invoice.language:
            invoice.language = _payer_language(invoice) or org.default_locale
        with database_refusals():
            invoice.save()
        invoice.refresh_from_db()
        _issued_notify(invoice)
    return invoice


def _issued_notify(invoice: Invoice) -> None:
    """Publish the issue (billing/events.py) in the issuing transaction; notifications tells
    the payer through its subscription."""
    from django.conf import settings
    from django.urls import reverse

    pdf_url = settings.SITE_URL + reverse("billing:invoice_pdf", kwargs={"invoice_id": invoice.id})
    publish(InvoiceIssued(invoice=invoice, pdf_url=pdf_url))


def _payer_language(invoice: Invoice) -> str:
    if invoice.bill_to_contact_id:
        return (
            Contact.objects.filter(id=invoice.bill_to_contact_id)
            .values_list("preferred_language", flat=True)
            .first()
            or ""
        )
    return (
        Patient.objects.filter(id=invoice.patient_id)
        .values_list("preferred_language", flat=True)
        .first()
        or ""
    )


def _lock_invoice(invoice_id) -> Invoice:
    return Invoice.objects.select_for_update().get(id=invoice_id)


def credit_note_create(
    *,
    actor: Membership,
    invoice: Invoice,
    amount: Any = None,
    reason: Any = None,
    issue_date: dt.date | None = None,
) -> CreditNote:
    """A numbered credit note of `amount` (gross; the whole creditable amount when omitted).

    The credit first reduces what is still owed; beyond that, payments allocated to the invoice
    are released (newest first) and become the payer's credit (to allocate elsewhere or refund).
    An invoice credited in full is void."""
    errors = Errors()
    value = _amount(amount, "amount", errors, positive=True) if amount is not None else None
    reason_text = _text(reason, "reason", errors, max_length=500, required=True)
    errors.raise_if_any(_("The credit note is not valid."))
    with transaction.atomic():
        invoice = _lock_invoice(invoice.id)
        if invoice.status == InvoiceStatus.DRAFT:
            message = _("A draft is changed or deleted, not credited.")
            raise Conflict(message, details={"invoice_id": [message]})
        creditable = invoice.gross_total - invoice.credited_total
        if value is None:
            value = creditable
        if value <= 0 or value > creditable:
            message = _("At most %(max)s can still be credited on this invoice.") % {
                "max": f"{creditable:.2f}"
            }
            raise ValidationFailed(message, details={"amount": [message]})
        release = value - invoice.balance
        if release > 0:
            _allocations_release(invoice, release)
        net, tax = calc.credit_split(
            amount=value,
            credited=invoice.credited_total,
            credited_tax=invoice.credited_tax,
            net_total=invoice.net_total,
            tax_total=invoice.tax_total,
        )
        on = issue_date or _local_today(actor.organization)
        settings_row = billing_settings_get(actor.organization_id)
        note = CreditNote(
            organization_id=actor.organization_id,
            invoice=invoice,
            number=number_next(
                organization_id=actor.organization_id,
                kind=SequenceKind.CREDIT_NOTE,
                fmt=settings_row.credit_note_number_format,
                on=on,
            ),
            issue_date=on,
            amount=value,
            net_amount=net,
            tax_amount=tax,
            reason=reason_text,
            created_by=actor,
        )
        with database_refusals():
            note.save(force_insert=True)
    return note


def _allocations_release(invoice: Invoice, amount: Decimal) -> None:
    """Take `amount` of payments back off an invoice (newest allocations first)."""
    allocations = list(
        PaymentAllocation.objects.filter(invoice=invoice).order_by("-created_at", "-id")
    )
    payment_ids = sorted({a.payment_id for a in allocations})
    list(Payment.objects.select_for_update().filter(id__in=payment_ids).order_by("id"))
    left = amount
    with database_refusals():
        for allocation in allocations:
            if left <= 0:
                break
            take = min(left, allocation.amount)
            allocation.delete()
            if take < allocation.amount:
                PaymentAllocation.objects.create(
                    organization_id=invoice.organization_id,
                    payment_id=allocation.payment_id,
                    invoice=invoice,
                    amount=allocation.amount - take,
                )
            left -= take


def invoice_void(*, actor: Membership, invoice: Invoice, reason: Any = None) -> Invoice:
    """Void an issued invoice that has no payment: a full credit note keeps the numbering and the
    ledger whole. Once payments exist, issue a credit note instead (it releases them)."""
    errors = Errors()
    reason_text = _text(reason, "reason", errors, max_length=500, required=True)
    errors.raise_if_any(_("Say why the invoice is void."))
    with transaction.atomic():
        locked = _lock_invoice(invoice.id)
        if locked.status == InvoiceStatus.DRAFT:
            message = _("A draft is deleted, not voided.")
            raise Conflict(message, details={"status": [message]})
        if locked.status == InvoiceStatus.VOID:
            message = _("This invoice is already void.")
            raise Conflict(message, details={"status": [message]})
        if locked.paid_total > 0:
            message = _("Payments exist: issue a credit note (it releases them) instead.")
            raise Conflict(message, details={"status": [message]})
        credit_note_create(actor=actor, invoice=locked, reason=reason_text)
        Invoice.objects.filter(id=locked.id).update(void_reason=reason_text)
        locked.refresh_from_db()
    return locked


# --- payments ------------------------------------------------------------------------------------

PAYMENT_FIELDS = {
    "patient_id",
    "contact_id",
    "amount",
    "method",
    "received_at",
    "reference",
    "allocations",
    "allocate",
}


def _received_at(value: Any, errors: Errors, field: str = "received_at") -> dt.datetime | None:
    if value in (None, ""):
        return timezone.now()
    if isinstance(value, dt.datetime):
        parsed = value
    else:
        try:
            parsed = dt.datetime.fromisoformat(str(value))
        except ValueError:
            errors.add(field, _("An ISO 8601 date and time with an offset is expected."))
            return None
    if parsed.tzinfo is None:
        errors.add(field, _("Give the time zone offset, e.g. 2026-01-31T10:00:00+01:00."))
        return None
    if parsed > timezone.now() + dt.timedelta(minutes=5):
        errors.add(field, _("A payment cannot be received in the future."))
        return None
    return parsed


def payment_record(*, actor: Membership, data: Mapping[str, Any]) -> Payment:
    """Record money received from a patient or a contact and allocate it: to the invoices given
    in `allocations`, or oldest-first (by due date) to the payer's open invoices by default
    (`allocate: "none"` keeps it all as credit). What is left over is the payer's credit."""
    errors = Errors()
    _unknown(data, PAYMENT_FIELDS, errors)
    patient_id = _uuid(data.get("patient_id"), "patient_id", errors)
    contact_id = _uuid(data.get("contact_id"), "contact_id", errors)
    if bool(patient_id) == bool(contact_id) and not errors:
        errors.add("patient_id", _("Give the payer: patient_id or contact_id (one of them)."))
    patient = Patient.objects.filter(id=patient_id).first() if patient_id else None
    if patient_id and patient is None:
        errors.add("patient_id", _("No such patient."))
    contact = Contact.objects.filter(id=contact_id).first() if contact_id else None
    if contact_id and contact is None:
        errors.add("contact_id", _("No such contact."))
    amount = _amount(data.get("amount"), "amount", errors, required=True, positive=True)
    method = data.get("method")
    if method not in PaymentMethod.values:
        errors.add("method", _("One of: %s.") % ", ".join(PaymentMethod.values))
    received_at = _received_at(data.get("received_at"), errors)
    reference = _text(data.get("reference"), "reference", errors, max_length=200)
    allocate = data.get("allocate") or "oldest_first"
    if allocate not in ("oldest_first", "none"):
        errors.add("allocate", _("oldest_first or none."))
    chosen = _allocations_clean(data.get("allocations"), errors)
    errors.raise_if_any(_("The payment is not valid."))
    with transaction.atomic():
        payment = Payment(
            organization_id=actor.organization_id,
            payer_patient=patient,
            payer_contact=contact,
            method=method,
            amount=amount,
            currency=actor.organization.currency,
            received_at=received_at,
            reference=reference,
            created_by=actor,
        )
        with database_refusals():
            payment.save(force_insert=True)
        if chosen is not None:
            payment_allocate(actor=actor, payment=payment, allocations=chosen)
        elif allocate == "oldest_first":
            payment_allocate(actor=actor, payment=payment, allocations=None)
        payment.refresh_from_db()
    return payment


def _allocations_clean(raw: Any, errors: Errors) -> list[tuple[uuid.UUID, Decimal]] | None:
    if raw is None:
        return None
    if not isinstance(raw, list | tuple):
        errors.add("allocations", _("A list of {invoice_id, amount} is expected."))
        return None
    out: list[tuple[uuid.UUID, Decimal]] = []
    seen = set()
    for i, item in enumerate(raw):
        if not isinstance(item, Mapping):
            errors.add(f"allocations.{i}", _("An object {invoice_id, amount} is expected."))
            continue
        _unknown(item, {"invoice_id", "amount"}, errors, f"allocations.{i}.")
        invoice_id = _uuid(
            item.get("invoice_id"), f"allocations.{i}.invoice_id", errors, required=True
        )
        amount = _amount(
            item.get("amount"), f"allocations.{i}.amount", errors, required=True, positive=True
        )
        if invoice_id in seen:
            errors.add(f"allocations.{i}.invoice_id", _("This invoice is listed twice."))
        seen.add(invoice_id)
        if invoice_id and amount is not None:
            out.append((invoice_id, amount))
    return out


def _payer_invoices_open(payment: Payment):
    qs = Invoice.objects.filter(status__in=OPEN_STATUSES, currency=payment.currency)
    if payment.payer_contact_id:
        return qs.filter(bill_to_contact_id=payment.payer_contact_id)
    return qs.filter(patient_id=payment.payer_patient_id, bill_to_contact__isnull=True)


def payment_allocate(
    *,
    actor: Membership,
    payment: Payment,
    allocations: Sequence[tuple[Any, Decimal]] | None = None,
) -> list[PaymentAllocation]:
    """Apply a payment's unallocated amount to invoices: the ones given (invoice id, amount), or
    the payer's open invoices oldest first. Never beyond an invoice's balance nor the payment's
    unallocated amount: checked here under row locks, and refused by the database anyway."""
    with transaction.atomic():
        if allocations is None:
            candidates = list(
                _payer_invoices_open(payment)
                .order_by("due_date", "issue_date", "number")
                .values_list("id", flat=True)
            )
        else:
            candidates = [uuid.UUID(str(i)) for i, _amt in allocations]
        # Lock order: invoices by id, then the payment.
        invoices = {
            inv.id: inv
            for inv in Invoice.objects.select_for_update().filter(id__in=candidates).order_by("id")
        }
        payment = Payment.objects.select_for_update().get(id=payment.id)
        left = payment.unallocated
        plan: list[tuple[Invoice, Decimal]] = []
        if allocations is None:
            ordered = [invoices[i] for i in candidates if i in invoices]
            split, _rest = calc.allocate_oldest_first(
                left, [(inv, inv.balance) for inv in ordered if inv.status in OPEN_STATUSES]
            )
            plan = list(split)
        else:
            errors = Errors()
            total = Decimal(0)
            for i, (invoice_id, amount) in enumerate(allocations):
                invoice = invoices.get(uuid.UUID(str(invoice_id)))
                field = f"allocations.{i}"
                if invoice is None:
                    errors.add(f"{field}.invoice_id", _("No such invoice."))
                    continue
                if invoice.status not in OPEN_STATUSES:
                    errors.add(f"{field}.invoice_id", _("This invoice is not open for payment."))
                    continue
                if not _same_payer(payment, invoice):
                    errors.add(
                        f"{field}.invoice_id",
                        _("A payment goes only to invoices of its own payer, in its currency."),
                    )
                    continue
                if amount > invoice.balance:
                    errors.add(
                        f"{field}.amount",
                        _("More than the invoice's balance (%(balance)s).")
                        % {"balance": f"{invoice.balance:.2f}"},
                    )
                    continue
                total += amount
                plan.append((invoice, amount))
            if total > left:
                errors.add(
                    "allocations",
                    _("More than the payment's unallocated amount (%(left)s).")
                    % {"left": f"{left:.2f}"},
                )
            errors.raise_if_any(_("The allocation is not valid."))
        created = []
        with database_refusals():
            for invoice, amount in plan:
                created.append(
                    PaymentAllocation.objects.create(
                        organization_id=payment.organization_id,
                        payment=payment,
                        invoice=invoice,
                        amount=amount,
                    )
                )
    return created


def _same_payer(payment: Payment, invoice: Invoice) -> bool:
    if payment.currency != invoice.currency:
        return False
    if invoice.bill_to_contact_id:
        return payment.payer_contact_id == invoice.bill_to_contact_id
    return payment.payer_patient_id == invoice.patient_id


def allocation_remove(*, actor: Membership, allocation: PaymentAllocation) -> None:
    """Undo an allocation: the amount goes back to the payer's credit."""
    with transaction.atomic():
        _lock_invoice(allocation.invoice_id)
        Payment.objects.select_for_update().get(id=allocation.payment_id)
        with database_refusals():
            allocation.delete()


def refund_record(*, actor: Membership, payment: Payment, data: Mapping[str, Any]) -> Refund:
    """Give back part of a payment's unallocated amount (the payer's credit)."""
    errors = Errors()
    _unknown(data, {"amount", "method", "refunded_at", "reference", "reason"}, errors)
    amount = _amount(data.get("amount"), "amount", errors, positive=True)
    method = data.get("method") or None
    if method is not None and method not in PaymentMethod.values:
        errors.add("method", _("One of: %s.") % ", ".join(PaymentMethod.values))
    refunded_at = _received_at(data.get("refunded_at"), errors, "refunded_at")
    reference = _text(data.get("reference"), "reference", errors, max_length=200)
    reason = _text(data.get("reason"), "reason", errors, max_length=500)
    errors.raise_if_any(_("The refund is not valid."))
    with transaction.atomic():
        payment = Payment.objects.select_for_update().get(id=payment.id)
        if amount is None:
            amount = payment.unallocated
        if amount <= 0 or amount > payment.unallocated:
            message = _("At most the payment's unallocated amount (%(left)s) can be refunded.") % {
                "left": f"{payment.unallocated:.2f}"
            }
            raise ValidationFailed(message, details={"amount": [message]})
        refund = Refund(
            organization_id=payment.organization_id,
            payment=payment,
            amount=amount,
            method=method or payment.method,
            refunded_at=refunded_at,
            reference=reference,
            reason=reason,
            created_by=actor,
        )
        with database_refusals():
            refund.save(force_insert=True)
    return refund


# --- billing appointments -----------------------------------------------------------------------


def _bill_to_contacts(patient_ids: set) -> dict:
    """patient id → the contact who pays (a "payer" relationship, primary first), if any."""
    out: dict = {}
    links = (
        PatientContact.objects.filter(
            patient_id__in=patient_ids,
            relationship=Relationship.PAYER,
            contact__archived_at__isnull=True,
        )
        .order_by("patient_id", "-is_primary", "created_at")
        .values_list("patient_id", "contact_id")
    )
    for patient_id, contact_id in links:
        out.setdefault(patient_id, contact_id)
    return out


def _appointment_label(appointment) -> str:
    label = appointment.service.name
    if appointment.status == "no_show":
        label = _("%(service)s — no-show") % {"service": label}
    elif appointment.status == "cancelled":
        label = _("%(service)s — late cancellation") % {"service": label}
    return label[:300]


def _appointments_attach(
    invoice: Invoice, appointments: Sequence[Any], *, first_position: int
) -> list[InvoiceLine]:
    """One line per appointment (its service at the service's price and tax rate, its day in
    its location's zone, its practitioner) and the link that stops it being billed again. The
    caller holds the draft's lock and recalculates the totals."""
    errors = Errors()
    services = {a.service.id: a.service for a in appointments}
    lines = []
    for i, appointment in enumerate(appointments):
        line = _line_build(
            {
                "service_id": appointment.service.id,
                "description": _appointment_label(appointment),
                "quantity": "1",
                "unit_price": appointment.service.price,
            },
            f"appointment_ids.{i}.",
            errors,
            services,
            {},
        )
        if line is None:
            continue
        line.organization_id = invoice.organization_id
        line.invoice = invoice
        line.position = first_position + i
        line.service_date = timefmt.localize(appointment.start_at, appointment).date()
        line.practitioner_id = appointment.practitioner_id
        lines.append(line)
    errors.raise_if_any(_("An appointment cannot be billed."))
    with database_refusals():
        InvoiceLine.objects.bulk_create(lines)
        InvoiceAppointment.objects.bulk_create(
            [
                InvoiceAppointment(
                    organization_id=invoice.organization_id,
                    invoice=invoice,
                    line=line,
                    appointment=appointment,
                    practitioner_id=appointment.practitioner_id,
                )
                for line, appointment in zip(lines, appointments, strict=True)
            ]
        )
    return lines


def _raise_first(errors: Errors) -> None:
    """Refuse with the first problem as the message (one form, one sentence to show)."""
    if errors:
        first = next(iter(errors.errors.values()))[0]
        raise ValidationFailed(first, details=errors.errors)


def invoice_appointments_add(
    *, actor: Membership, invoice: Invoice, appointment_ids: Any
) -> list[InvoiceLine]:
    """Add the patient's completed appointments to a draft, one line each. An appointment is
    billed once: already billed ones are refused (409) — checked under the draft's lock, and
    the unique link per appointment refuses what two drafts would race for."""
    from clinic.scheduling.models import Appointment

    errors = Errors()
    ids: list[uuid.UUID] = []
    if not isinstance(appointment_ids, list | tuple) or not appointment_ids:
        errors.add("appointment_ids", _("Choose at least one appointment."))
    else:
        for value in appointment_ids:
            parsed = _uuid(value, "appointment_ids", errors, required=True)
            if parsed and parsed not in ids:
                ids.append(parsed)
    _raise_first(errors)
    with transaction.atomic():
        invoice = _lock_draft(invoice)
        found = {
            a.id: a
            for a in Appointment.objects.filter(id__in=ids).select_related("service", "location")
        }
        for appointment_id in ids:
            appointment = found.get(appointment_id)
            if appointment is None or appointment.patient_id != invoice.patient_id:
                errors.add("appointment_ids", _("No such appointment of this patient."))
            elif appointment.status != "completed":
                errors.add("appointment_ids", _("Only completed appointments can be billed."))
            elif appointment.service is None:
                errors.add("appointment_ids", _("This appointment has no service to bill."))
        _raise_first(errors)
        if InvoiceAppointment.objects.filter(appointment_id__in=ids).exists():
            message = _("This appointment is already billed.")
            raise Conflict(message, details={"appointment_ids": [message]})
        existing = InvoiceLine.objects.filter(invoice=invoice).aggregate(
            count=Count("id"), last=Max("position")
        )
        if existing["count"] + len(ids) > MAX_LINES:
            message = _("At most %(n)d lines.") % {"n": MAX_LINES}
            raise ValidationFailed(message, details={"lines": [message]})
        appointments = sorted((found[i] for i in ids), key=lambda a: (a.start_at, str(a.id)))
        lines = _appointments_attach(
            invoice,
            appointments,
            first_position=(existing["last"] or 0) + 1,
        )
        invoice_recalculate(invoice)
        audit_record(
            action="billing.appointments_added",
            organization_id=invoice.organization_id,
            actor_id=actor.user_id,
            object_type="billing_invoice",
            object_id=str(invoice.id),
            details={"appointments": [str(a.id) for a in appointments]},
        )
    return lines


def appointments_bill(
    *,
    actor: Membership,
    date_from: dt.date,
    date_to: dt.date,
    practitioner_id: Any = None,
    patient_id: Any = None,
) -> list[Invoice]:
    """Draft invoices for the completed (and, if the organization charges for them, late
    cancelled and no-show) appointments in [date_from, date_to] (local dates) not yet billed:
    one invoice per patient and payer, one line per appointment. An appointment is never billed
    twice: the runs of one organization are serialised, and the link table has a unique
    constraint on the appointment."""
    from clinic.billing import selectors

    errors = Errors()
    if date_to < date_from:
        errors.add("date_to", _("Must not be before date_from."))
    if (date_to - date_from).days > 366:
        errors.add("date_to", _("At most one year at a time."))
    errors.raise_if_any(_("The billing run is not valid."))
    org = actor.organization
    settings_row = billing_settings_get(org.id)
    with transaction.atomic():
        with connection.cursor() as cur:
            cur.execute(
                "SELECT pg_advisory_xact_lock(hashtext('billing.appointments_bill'), hashtext(%s))",
                [str(org.id)],
            )
        appointments = list(
            selectors.appointments_billable(
                organization=org,
                settings_row=settings_row,
                date_from=date_from,
                date_to=date_to,
                practitioner_id=practitioner_id,
                patient_id=patient_id,
            )
        )
        payers = _bill_to_contacts({a.patient_id for a in appointments})
        groups: dict[tuple, list] = {}
        for appointment in appointments:
            key = (appointment.patient_id, payers.get(appointment.patient_id))
            groups.setdefault(key, []).append(appointment)
        invoices = []
        for (patient_id_, contact_id), items in groups.items():
            invoice = invoice_create(
                actor=actor,
                data={"patient_id": patient_id_, "bill_to_contact_id": contact_id, "lines": []},
            )
            _appointments_attach(invoice, items, first_position=1)
            invoice_recalculate(invoice)
            invoices.append(invoice)
        audit_record(
            action="billing.appointments_billed",
            organization_id=org.id,
            actor_id=actor.user_id,
            object_type="billing_invoice",
            details={
                "date_from": date_from.isoformat(),
                "date_to": date_to.isoformat(),
                "appointments": len(appointments),
                "invoices": [str(i.id) for i in invoices],
            },
        )
    return invoices


# --- insurance -----------------------------------------------------------------------------------

POLICY_FIELDS = {
    "patient_id",
    "insurer",
    "policy_number",
    "group_number",
    "coverage_start",
    "coverage_end",
    "coverage_percent",
    "annual_limit",
    "is_active",
}


def _policy_values(data: Mapping[str, Any], errors: Errors, *, creating: bool) -> dict[str, Any]:
    _unknown(data, POLICY_FIELDS if creating else POLICY_FIELDS - {"patient_id"}, errors)
    values: dict[str, Any] = {}
    if creating:
        patient_id = _uuid(data.get("patient_id"), "patient_id", errors, required=True)
        patient = Patient.objects.filter(id=patient_id).first() if patient_id else None
        if patient_id and patient is None:
            errors.add("patient_id", _("No such patient."))
        values["patient"] = patient
    for name, length in (("insurer", 200), ("policy_number", 64), ("group_number", 64)):
        if creating or name in data:
            values[name] = _text(
                data.get(name), name, errors, max_length=length, required=name != "group_number"
            )
    for name in ("coverage_start", "coverage_end"):
        if creating or name in data:
            values[name] = _date(data.get(name), name, errors, required=name == "coverage_start")
    if creating or "coverage_percent" in data:
        percent = _percent(data.get("coverage_percent"), "coverage_percent", errors)
        if percent is None and "coverage_percent" not in errors.errors:
            errors.add("coverage_percent", _("This field is required."))
        values["coverage_percent"] = percent
    if creating or "annual_limit" in data:
        values["annual_limit"] = _amount(data.get("annual_limit"), "annual_limit", errors)
    if "is_active" in data:
        values["is_active"] = bool(data["is_active"])
    if values.get("policy_number"):
        values["policy_number_last4"] = values["policy_number"][-4:]
    return values


def insurance_policy_create(*, actor: Membership, data: Mapping[str, Any]) -> InsurancePolicy:
    errors = Errors()
    values = _policy_values(data, errors, creating=True)
    start, end = values.get("coverage_start"), values.get("coverage_end")
    if start and end and end < start:
        errors.add("coverage_end", _("Must not be before coverage_start."))
    errors.raise_if_any(_("The insurance policy is not valid."))
    with transaction.atomic(), database_refusals():
        return InsurancePolicy.objects.create(organization_id=actor.organization_id, **values)


def insurance_policy_update(
    *, actor: Membership, policy: InsurancePolicy, data: Mapping[str, Any]
) -> InsurancePolicy:
    errors = Errors()
    values = _policy_values(data, errors, creating=False)
    start = values.get("coverage_start", policy.coverage_start)
    end = values.get("coverage_end", policy.coverage_end)
    if start and end and end < start:
        errors.add("coverage_end", _("Must not be before coverage_start."))
    errors.raise_if_any(_("The insurance policy is not valid."))
    with transaction.atomic():
        for name, value in values.items():
            setattr(policy, name, value)
        with database_refusals():
            policy.save()
    return policy


def _policy_year_used(policy: InsurancePolicy, year: int, exclude_claim=None) -> Decimal:
    """What the policy has already been claimed (or approved, once decided) this year."""
    used = Decimal(0)
    claims = Claim.objects.filter(policy=policy, created_at__year=year).exclude(
        status=ClaimStatus.DENIED
    )
    if exclude_claim is not None:
        claims = claims.exclude(id=exclude_claim.id)
    for status, claimed, approved in claims.values_list(
        "status", "claimed_amount", "approved_amount"
    ):
        used += (
            approved if status not in ("draft", "submitted") and approved is not None else claimed
        )
    return used


def claim_create(
    *, actor: Membership, invoice: Invoice, policy_id: Any, notes: Any = None
) -> Claim:
    """A draft claim for an issued invoice: each line's gross x the policy's coverage percent,
    within the annual limit left."""
    errors = Errors()
    pid = _uuid(policy_id, "policy_id", errors, required=True)
    policy = InsurancePolicy.objects.filter(id=pid).first() if pid else None
    if pid and policy is None:
        errors.add("policy_id", _("No such insurance policy."))
    notes_text = _text(notes, "notes", errors, max_length=5000)
    errors.raise_if_any(_("The claim is not valid."))
    with transaction.atomic():
        invoice = _lock_invoice(invoice.id)
        if invoice.status not in OPEN_STATUSES and invoice.status != InvoiceStatus.PAID:
            message = _("Claims are made for issued invoices.")
            raise Conflict(message, details={"invoice_id": [message]})
        if policy.patient_id != invoice.patient_id:
            raise ValidationFailed(
                _("The policy does not cover this invoice's patient."),
                details={"policy_id": [_("The policy does not cover this invoice's patient.")]},
            )
        if (
            not policy.is_active
            or policy.coverage_start > invoice.issue_date
            or (policy.coverage_end and policy.coverage_end < invoice.issue_date)
        ):
            message = _("The policy does not cover the invoice date.")
            raise ValidationFailed(message, details={"policy_id": [message]})
        lines = list(InvoiceLine.objects.filter(invoice=invoice).order_by("position"))
        planned = [
            (line, calc.money(line.gross_amount * policy.coverage_percent / calc.HUNDRED))
            for line in lines
        ]
        if policy.annual_limit is not None:
            left = max(
                policy.annual_limit - _policy_year_used(policy, timezone.now().year), Decimal(0)
            )
            capped = []
            for line, amount in planned:
                take = min(amount, left)
                left -= take
                capped.append((line, take))
            planned = capped
        total = sum((amount for _line, amount in planned), Decimal(0))
        if total <= 0:
            message = _("Nothing to claim: no coverage left on this policy.")
            raise ValidationFailed(message, details={"policy_id": [message]})
        claim = Claim.objects.create(
            organization_id=actor.organization_id,
            policy=policy,
            invoice=invoice,
            claimed_amount=total,
            notes=notes_text,
            created_by=actor,
        )
        ClaimLine.objects.bulk_create(
            [
                ClaimLine(
                    organization_id=actor.organization_id,
                    claim=claim,
                    invoice_line=line,
                    description=line.description,
                    procedure_code=(line.service.code if line.service_id else "")[:32],
                    billed_amount=line.gross_amount,
                    claimed_amount=amount,
                )
                for line, amount in planned
            ]
        )
    return claim


CLAIM_TRANSITIONS = {
    ClaimStatus.DRAFT: {ClaimStatus.SUBMITTED},
    ClaimStatus.SUBMITTED: {
        ClaimStatus.APPROVED,
        ClaimStatus.PARTIALLY_APPROVED,
        ClaimStatus.DENIED,
    },
    ClaimStatus.APPROVED: {ClaimStatus.PAID},
    ClaimStatus.PARTIALLY_APPROVED: {ClaimStatus.PAID},
    ClaimStatus.DENIED: set(),
    ClaimStatus.PAID: set(),
}


def _claim_lock(claim: Claim, target: str) -> Claim:
    locked = Claim.objects.select_for_update().get(id=claim.id)
    if target not in CLAIM_TRANSITIONS[locked.status]:
        allowed = sorted(CLAIM_TRANSITIONS[locked.status])
        message = _("A %(status)s claim cannot become %(target)s.") % {
            "status": locked.status,
            "target": target,
        }
        raise Conflict(message, details={"status": [message], "allowed": allowed})
    return locked


def claim_submit(*, actor: Membership, claim: Claim, insurer_reference: Any = None) -> Claim:
    errors = Errors()
    reference = _text(insurer_reference, "insurer_reference", errors, max_length=100)
    errors.raise_if_any(_("The claim is not valid."))
    with transaction.atomic():
        claim = _claim_lock(claim, ClaimStatus.SUBMITTED)
        claim.status = ClaimStatus.SUBMITTED
        claim.submitted_at = timezone.now()
        claim.insurer_reference = reference or claim.insurer_reference
        claim.save()
    return claim


def claim_decide(*, actor: Membership, claim: Claim, data: Mapping[str, Any]) -> Claim:
    """The insurer's answer: `approved_amount` (the whole claim when equal to it, partial when
    less, denied when 0 or with `denied: true` and a `denial_reason`)."""
    errors = Errors()
    _unknown(data, {"approved_amount", "denied", "denial_reason", "insurer_reference"}, errors)
    denied = bool(data.get("denied"))
    approved = None
    if not denied:
        approved = _amount(data.get("approved_amount"), "approved_amount", errors, required=True)
    reason = _text(data.get("denial_reason"), "denial_reason", errors, max_length=500)
    reference = _text(data.get("insurer_reference"), "insurer_reference", errors, max_length=100)
    errors.raise_if_any(_("The decision is not valid."))
    if approved is not None and approved == 0:
        denied = True
    target = (
        ClaimStatus.DENIED
        if denied
        else (
            ClaimStatus.APPROVED
            if approved == claim.claimed_amount
            else ClaimStatus.PARTIALLY_APPROVED
        )
    )
    with transaction.atomic():
        claim = _claim_lock(claim, target)
        if approved is not None and approved > claim.claimed_amount:
            message = _("At most the claimed amount (%(max)s).") % {
                "max": f"{claim.claimed_amount:.2f}"
            }
            raise ValidationFailed(message, details={"approved_amount": [message]})
        claim.status = target
        claim.approved_amount = Decimal(0) if denied else approved
        claim.denial_reason = reason if denied else ""
        claim.decided_at = timezone.now()
        if reference:
            claim.insurer_reference = reference
        claim.save()
        # Spread the approved amount over the lines in proportion (the last takes the rest).
        lines = list(ClaimLine.objects.filter(claim=claim).order_by("id"))
        left = claim.approved_amount
        for i, line in enumerate(lines):
            if i == len(lines) - 1:
                share = left
            else:
                share = (
                    calc.money(claim.approved_amount * line.claimed_amount / claim.claimed_amount)
                    if claim.claimed_amount
                    else Decimal(0)
                )
                share = min(share, left, line.claimed_amount)
            line.approved_amount = min(share, line.claimed_amount)
            left -= line.approved_amount
            line.save(update_fields=["approved_amount"])
    return claim


def claim_pay(*, actor: Membership, claim: Claim, data: Mapping[str, Any]) -> Claim:
    """The insurer paid: an insurance payment for the invoice's payer, allocated to the invoice
    (never beyond its balance; the rest stays as the payer's credit)."""
    errors = Errors()
    _unknown(data, {"amount", "received_at", "reference"}, errors)
    amount = _amount(data.get("amount"), "amount", errors, positive=True)
    received_at = _received_at(data.get("received_at"), errors)
    reference = _text(data.get("reference"), "reference", errors, max_length=200)
    errors.raise_if_any(_("The claim payment is not valid."))
    with transaction.atomic():
        claim = _claim_lock(claim, ClaimStatus.PAID)
        amount = amount if amount is not None else claim.approved_amount
        if amount > claim.approved_amount:
            message = _("At most the approved amount (%(max)s).") % {
                "max": f"{claim.approved_amount:.2f}"
            }
            raise ValidationFailed(message, details={"amount": [message]})
        invoice = Invoice.objects.get(id=claim.invoice_id)
        payment = Payment(
            organization_id=claim.organization_id,
            payer_patient_id=None if invoice.bill_to_contact_id else invoice.patient_id,
            payer_contact_id=invoice.bill_to_contact_id,
            method=PaymentMethod.INSURANCE,
            amount=amount,
            currency=invoice.currency,
            received_at=received_at,
            reference=reference or claim.insurer_reference or str(claim.id)[:8],
            claim=claim,
            created_by=actor,
        )
        with database_refusals():
            payment.save(force_insert=True)
        invoice = _lock_invoice(invoice.id)
        if invoice.status in OPEN_STATUSES:
            take = min(amount, invoice.balance)
            if take > 0:
                payment_allocate(actor=actor, payment=payment, allocations=[(invoice.id, take)])
        claim.status = ClaimStatus.PAID
        claim.paid_amount = amount
        claim.paid_at = received_at
        claim.save()
    return claim
