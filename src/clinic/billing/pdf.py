"""Invoices and statements as PDF, in English, French or Arabic (the layout helper and the
font rules: core.pdf)."""

from __future__ import annotations

from decimal import Decimal

from babel.numbers import format_currency, format_decimal
from django.utils import translation
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from clinic.core.pdf import PdfDocument, PdfUnavailable, font_files, pdf_text
from clinic.core.timefmt import local_date

__all__ = ["PdfUnavailable", "font_files", "invoice_pdf", "statement_pdf"]


def amount_text(value: Decimal, currency: str, language: str) -> str:
    return pdf_text(format_currency(value, currency, locale=language, numbering_system="latn"))


def number_text(value: Decimal, language: str) -> str:
    return pdf_text(format_decimal(value, locale=language, numbering_system="latn"))


def date_text(value, language: str) -> str:
    """A day in the document's language and the organization's regional style (the shared
    time helper: an instant would be shown as its day in the organization's zone)."""
    return pdf_text(local_date(value, language=language)) if value else ""


def invoice_language(invoice, organization) -> str:
    """The payer's language: the invoice's own (set at issue), else the payer's preferred
    language (the contact who pays, or the patient), else the organization's."""
    payer = invoice.bill_to_contact if invoice.bill_to_contact_id else invoice.patient
    return (
        invoice.language
        or getattr(payer, "preferred_language", "")
        or organization.default_locale
        or "en"
    )


def payer_address_lines(payer) -> list[str]:
    """A patient's or contact's postal address, line by line (empty parts left out)."""
    town = " ".join(v for v in (payer.postal_code, payer.city) if v)
    parts = (payer.address_line1, payer.address_line2, town, payer.region, payer.country)
    return [part.strip() for part in parts if part and part.strip()]


def invoice_pdf(invoice, *, organization, language: str | None = None) -> bytes:
    """The invoice (with `selectors.invoice_detail` attributes: line_list, tax_bands,
    credit_note_list...) in the payer's language unless one is asked for."""
    from clinic.accounts.services import organization_logo_open

    language = language or invoice_language(invoice, organization)
    with translation.override(language):
        lang = translation.get_language()
        title = (
            _("Invoice %(number)s") % {"number": invoice.number}
            if invoice.number
            else _("Draft invoice")
        )
        doc = PdfDocument(lang, title)
        cur = invoice.currency
        logo = organization_logo_open(organization)
        if logo is not None:
            doc.logo(logo[0])
        doc.text(organization.name, size=14, bold=True)
        for line in organization_header_lines(organization):
            doc.text(line, size=9)
        doc.gap(2)
        doc.text(title, size=16, bold=True)
        if invoice.status == "void":
            doc.text(_("VOID"), size=12, bold=True)
        doc.gap(2)
        facts = [
            (_("Issue date"), date_text(invoice.issue_date, lang)),
            (_("Due date"), date_text(invoice.due_date, lang)),
            (_("Patient"), invoice.patient.display_name),
        ]
        for label, value in facts:
            doc.text(f"{label}: {value}")
        doc.gap(2)
        payer = invoice.bill_to_contact if invoice.bill_to_contact_id else invoice.patient
        doc.text(_("Bill to"), bold=True)
        doc.text(payer.display_name)
        for line in payer_address_lines(payer):
            doc.text(line, size=9, height=5)
        doc.gap()
        with_service = any(li.service_date or li.practitioner_id for li in invoice.line_list)
        with_discount = any(li.discount for li in invoice.line_list)
        columns = [(_("Description"), 60 if with_service else 80)]
        if with_service:
            columns += [(_("Date"), 22), (_("Practitioner"), 34)]
        columns += [(_("Qty"), 10), (_("Unit price"), 24)]
        if with_discount:
            columns.append((_("Discount"), 20))
        columns += [(_("Tax"), 14), (_("Amount"), 26)]
        rows = []
        for line in invoice.line_list:
            cells = [line.description]
            if with_service:
                cells += [
                    date_text(line.service_date, lang),
                    line.practitioner.display_name if line.practitioner_id else "",
                ]
            cells += [
                number_text(line.quantity, lang),
                amount_text(line.unit_price, cur, lang),
            ]
            if with_discount:
                cells.append(amount_text(line.discount, cur, lang) if line.discount else "")
            cells += [
                number_text(line.tax_rate_percent, lang) + " %",
                amount_text(line.gross_amount, cur, lang),
            ]
            rows.append(cells)
        first_number = 3 if with_service else 1
        doc.table(
            [label for label, _w in columns],
            rows,
            [w for _label, w in columns],
            numeric=set(range(first_number, len(columns))),
        )
        doc.gap()
        totals = [
            (_("Net"), amount_text(invoice.net_total, cur, lang)),
            (_("Tax"), amount_text(invoice.tax_total, cur, lang)),
            (_("Total"), amount_text(invoice.gross_total, cur, lang)),
        ]
        if invoice.discount_total:
            totals.insert(0, (_("Discounts"), amount_text(invoice.discount_total, cur, lang)))
        if invoice.paid_total:
            totals.append((_("Paid"), amount_text(invoice.paid_total, cur, lang)))
        if invoice.credited_total:
            totals.append((_("Credited"), amount_text(invoice.credited_total, cur, lang)))
        insurer = getattr(invoice, "insurer_share", Decimal(0)) or Decimal(0)
        if insurer:
            totals.append((_("Expected from insurance"), amount_text(insurer, cur, lang)))
            totals.append((_("Patient share"), amount_text(invoice.patient_share, cur, lang)))
        totals.append((_("Balance due"), amount_text(invoice.balance, cur, lang)))
        doc.pairs(totals, bold_last=True)
        bands = getattr(invoice, "tax_bands", None)
        if bands:
            doc.gap()
            doc.text(_("Tax breakdown"), bold=True)
            doc.table(
                [_("Tax rate"), _("Taxable amount"), _("Tax")],
                [
                    [
                        number_text(band.rate, lang) + " %",
                        amount_text(band.base, cur, lang),
                        amount_text(band.tax, cur, lang),
                    ]
                    for band in bands
                ],
                [30, 40, 40],
                numeric={0, 1, 2},
            )
        if invoice.credit_note_list:
            doc.gap()
            doc.text(_("Credit notes"), bold=True)
            for note in invoice.credit_note_list:
                doc.text(
                    f"{note.number} · {date_text(note.issue_date, lang)} · "
                    f"{amount_text(note.amount, cur, lang)} · {note.reason}"
                )
        if invoice.notes:
            doc.gap()
            doc.text(invoice.notes, size=9)
        footer = invoice_footer_lines(invoice, organization)
        if footer:
            doc.gap()
            for line in footer:
                doc.text(line, size=9)
        return doc.output()


def organization_header_lines(organization) -> list[str]:
    """The clinic's legal details under its name (organization settings page)."""
    lines = [part.strip() for part in (organization.address or "").splitlines() if part.strip()]
    contact = " · ".join(v for v in (organization.phone, organization.email) if v)
    if contact:
        lines.append(contact)
    legal = []
    if organization.registration_number:
        legal.append(_("Registration number: %(n)s") % {"n": organization.registration_number})
    if organization.tax_number:
        legal.append(_("VAT number: %(n)s") % {"n": organization.tax_number})
    if legal:
        lines.append(" · ".join(legal))
    return lines


def invoice_footer_lines(invoice, organization) -> list[str]:
    """Payment terms (the invoice's own: due date minus issue date; a draft's: the
    organization's) and where to pay."""
    from clinic.billing.selectors import billing_settings

    lines = []
    days = None
    if invoice.issue_date and invoice.due_date:
        days = (invoice.due_date - invoice.issue_date).days
    elif invoice.issue_date is None:
        days = billing_settings(organization.id).payment_terms_days
    if days is not None:
        lines.append(
            ngettext("Payment terms: %(days)d day", "Payment terms: %(days)d days", days)
            % {"days": days}
        )
    if organization.bank_iban:
        bank = _("Bank details: IBAN %(iban)s") % {"iban": iban_grouped(organization.bank_iban)}
        if organization.bank_bic:
            bank += " · " + _("BIC %(bic)s") % {"bic": organization.bank_bic}
        lines.append(bank)
    return lines


def iban_grouped(iban: str) -> str:
    """An IBAN in groups of four, as printed on paper."""
    return " ".join(iban[i : i + 4] for i in range(0, len(iban), 4))


def statement_pdf(statement, *, organization, language: str | None = None) -> bytes:
    language = language or statement.account.language or organization.default_locale or "en"
    with translation.override(language):
        lang = translation.get_language()
        kinds = {
            "invoice": _("Invoice"),
            "credit_note": _("Credit note"),
            "payment": _("Payment"),
            "refund": _("Refund"),
        }
        cur = statement.currency
        title = _("Statement of account")
        doc = PdfDocument(lang, title)
        doc.text(organization.name, size=14, bold=True)
        doc.text(title, size=16, bold=True)
        doc.text(statement.account.name, bold=True)
        doc.text(
            _("Period: %(start)s - %(end)s")
            % {
                "start": date_text(statement.date_from, lang),
                "end": date_text(statement.date_to, lang),
            }
        )
        doc.gap()
        doc.pairs([(_("Opening balance"), amount_text(statement.opening, cur, lang))])
        rows = [
            [
                date_text(line.date, lang),
                kinds[line.kind],
                line.reference,
                amount_text(line.debit, cur, lang) if line.debit else "",
                amount_text(line.credit, cur, lang) if line.credit else "",
                amount_text(line.balance, cur, lang),
            ]
            for line in statement.lines
        ]
        doc.table(
            [_("Date"), _("Type"), _("Reference"), _("Debit"), _("Credit"), _("Balance")],
            rows,
            [24, 26, 40, 28, 28, 30],
            numeric={3, 4, 5},
        )
        doc.gap()
        doc.pairs(
            [
                (_("Total debits"), amount_text(statement.total_debits, cur, lang)),
                (_("Total credits"), amount_text(statement.total_credits, cur, lang)),
                (_("Closing balance"), amount_text(statement.closing, cur, lang)),
            ],
            bold_last=True,
        )
        doc.gap()
        doc.text(_("Aging of what is owed (days past due)"), bold=True)
        labels = {"0_30": "0-30", "31_60": "31-60", "61_90": "61-90", "90_plus": "90+"}
        doc.pairs([(labels[k], amount_text(v, cur, lang)) for k, v in statement.aging.items()])
        return doc.output()
