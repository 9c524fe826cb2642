"""Invoices and statements as PDF (fpdf2 with HarfBuzz text shaping), in English, French or
Arabic (right to left, shaped and joined).

The font must have Latin and Arabic glyphs. It is looked up, in this order:
1. `BILLING_PDF_FONT` (and optionally `BILLING_PDF_FONT_BOLD`): paths to TrueType files;
2. the pip package `fontpkg-ibm-plex-sans-arabic` (a dependency: installed by `make setup`);
3. Debian's `fonts-dejavu-core` (DejaVu Sans, /usr/share/fonts/truetype/dejavu).
With none of them, PDFs are refused with a message saying what to install.
"""

from __future__ import annotations

import functools
import logging
import os
import re
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from babel.numbers import format_currency, format_decimal
from django.utils import translation
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from clinic.core.errors import DomainError
from clinic.core.timefmt import local_date

# fpdf2 subsets fonts with fontTools, which logs every table at INFO.
logging.getLogger("fontTools").setLevel(logging.WARNING)


class PdfUnavailable(DomainError):
    status = 503
    code = "pdf_unavailable"


@dataclass(frozen=True)
class FontFiles:
    regular: Path
    bold: Path
    source: str


_DEBIAN_DEJAVU = Path("/usr/share/fonts/truetype/dejavu")


@functools.cache
def font_files() -> FontFiles | None:
    env = os.environ.get("BILLING_PDF_FONT")
    if env and Path(env).is_file():
        bold = os.environ.get("BILLING_PDF_FONT_BOLD") or env
        return FontFiles(Path(env), Path(bold if Path(bold).is_file() else env), "BILLING_PDF_FONT")
    try:
        import fontpkg_ibm_plex_sans_arabic as plex

        files = Path(plex.ROOT) / "files"
        regular, bold = (
            files / "IBMPlexSansArabic-Regular.ttf",
            files / "IBMPlexSansArabic-Bold.ttf",
        )
        if regular.is_file():
            return FontFiles(
                regular, bold if bold.is_file() else regular, "fontpkg-ibm-plex-sans-arabic"
            )
    except ImportError:
        pass
    regular, bold = _DEBIAN_DEJAVU / "DejaVuSans.ttf", _DEBIAN_DEJAVU / "DejaVuSans-Bold.ttf"
    if regular.is_file():
        return FontFiles(regular, bold if bold.is_file() else regular, "fonts-dejavu-core")
    return None


def _require_fonts() -> FontFiles:
    files = font_files()
    if files is None:
        raise PdfUnavailable(
            _(
                "No font with Arabic glyphs is installed for PDFs: install the Python package "
                "fontpkg-ibm-plex-sans-arabic (make setup does) or Debian's fonts-dejavu-core, "
                "or set BILLING_PDF_FONT to a TrueType file."
            )
        )
    return files


# Scripts that need shaping or are right to left (Hebrew, Arabic, Syriac, Thaana, N'Ko,
# Indic, presentation forms).
_COMPLEX_SCRIPT = re.compile("[\u0590-\u0dff\ufb1d-\ufdff\ufe70-\ufeff]")
_BIDI_MARKS = re.compile("[\u200e\u200f\u061c\u202a-\u202e\u2066-\u2069]")


def pdf_text(text: str) -> str:
    """What is written in the PDF: no bidi control marks (the shaper orders the text), plain
    spaces for the typographic ones."""
    return _BIDI_MARKS.sub("", text).replace("\u202f", " ").replace("\xa0", " ")


def amount_text(value: Decimal, currency: str, language: str) -> str:
    return pdf_text(format_currency(value, currency, locale=language, numbering_system="latn"))


def number_text(value: Decimal, language: str) -> str:
    return pdf_text(format_decimal(value, locale=language, numbering_system="latn"))


def date_text(value, language: str) -> str:
    """A day in the document's language and the organization's regional style (the shared
    time helper: an instant would be shown as its day in the organization's zone)."""
    return pdf_text(local_date(value, language=language)) if value else ""


class _Doc:
    """A thin layout helper over FPDF that mirrors the layout for right-to-left languages."""

    def __init__(self, language: str, title: str):
        from fpdf import FPDF

        fonts = _require_fonts()
        self.language = language if language in ("en", "fr", "ar") else "en"
        self.rtl = self.language == "ar"
        pdf = FPDF(format="A4", unit="mm")
        pdf.set_margins(15, 15, 15)
        pdf.set_auto_page_break(True, margin=18)
        pdf.add_font("Body", "", str(fonts.regular))
        pdf.add_font("Body", "B", str(fonts.bold))
        pdf.set_title(pdf_text(title))
        pdf.set_lang(self.language)
        pdf.set_creator("clinic")
        pdf.add_page()
        self.pdf = pdf
        self._shaping = False
        self.width = pdf.w - pdf.l_margin - pdf.r_margin

    def shaped(self, value: str) -> str:
        """Shape (HarfBuzz + bidi) only the text that needs it: Latin text, digits and
        punctuation are written as they are, which keeps long statements fast."""
        text = pdf_text(value)
        needs = bool(_COMPLEX_SCRIPT.search(text))
        if needs != self._shaping:
            if needs:
                self.pdf.set_text_shaping(
                    use_shaping_engine=True,
                    direction="rtl" if self.rtl else "ltr",
                    language=self.language,
                )
            else:
                self.pdf.set_text_shaping(False)
            self._shaping = needs
        return text

    def fitted(self, text: str, width: float) -> str:
        """The text cut (with an ellipsis) to the column's width, so cells never overlap."""
        if not text or self.pdf.get_string_width(text) <= width:
            return text
        while len(text) > 1 and self.pdf.get_string_width(text + "…") > width:
            text = text[:-1]
        return text.rstrip() + "…"

    def logo(self, data: bytes, *, height: float = 16) -> None:
        """The clinic's logo on its own row at the top, on the start side."""
        import io

        from PIL import Image

        pdf = self.pdf
        try:
            with Image.open(io.BytesIO(data)) as image:
                ratio = image.width / image.height
            width = min(height * ratio, self.width * 0.5)
            x = pdf.l_margin + self.width - width if self.rtl else pdf.l_margin
            pdf.image(io.BytesIO(data), x=x, y=pdf.get_y(), w=width, h=width / ratio)
        except Exception:  # an unreadable logo never stops an invoice
            logging.getLogger(__name__).warning("billing.pdf.logo_unreadable", exc_info=True)
            return
        pdf.set_y(pdf.get_y() + width / ratio + 3)

    @property
    def start(self) -> str:
        return "R" if self.rtl else "L"

    @property
    def end(self) -> str:
        return "L" if self.rtl else "R"

    def text(
        self,
        value: str,
        *,
        size: float = 10,
        bold: bool = False,
        align: str | None = None,
        height: float = 6,
    ) -> None:
        self.pdf.set_font("Body", "B" if bold else "", size)
        self.pdf.multi_cell(
            self.width,
            height,
            self.shaped(value),
            align=align or self.start,
            new_x="LMARGIN",
            new_y="NEXT",
        )

    def gap(self, h: float = 4) -> None:
        self.pdf.ln(h)

    def table(
        self, headers: list[str], rows: list[list[str]], widths: list[float], numeric: set[int]
    ) -> None:
        """Columns in reading order; mirrored for right-to-left."""
        order = list(range(len(headers)))
        if self.rtl:
            order.reverse()
        total = sum(widths)
        scale = self.width / total
        pdf = self.pdf

        def row(cells: list[str], bold: bool) -> None:
            pdf.set_font("Body", "B" if bold else "", 9)
            if pdf.will_page_break(7):
                pdf.add_page()
            y = pdf.get_y()
            x = pdf.l_margin
            for i in order:
                w = widths[i] * scale
                align = self.end if i in numeric else self.start
                text = self.fitted(self.shaped(cells[i]), w - 2 * pdf.c_margin)
                if self._shaping:
                    pdf.set_xy(x, y)
                    pdf.cell(w, 7, text, align=align)
                elif text:
                    # Latin text, digits: placed directly (5x cheaper than a cell).
                    tw = pdf.get_string_width(text)
                    tx = x + w - tw - pdf.c_margin if align == "R" else x + pdf.c_margin
                    pdf.text(tx, y + 4.8, text)
                x += w
            pdf.line(pdf.l_margin, y + 7, pdf.l_margin + self.width, y + 7)
            pdf.set_xy(pdf.l_margin, y + 7)

        row(headers, True)
        for cells in rows:
            row(cells, False)

    def pairs(self, items: list[tuple[str, str]], *, bold_last: bool = False) -> None:
        """Label/value lines aligned to the end side (totals)."""
        pdf = self.pdf
        label_w, value_w = self.width * 0.30, self.width * 0.25
        for i, (label, value) in enumerate(items):
            bold = bold_last and i == len(items) - 1
            pdf.set_font("Body", "B" if bold else "", 10)
            if self.rtl:
                pdf.cell(value_w, 6, self.shaped(value), align="L")
                pdf.cell(label_w, 6, self.shaped(label), align="R")
            else:
                pdf.set_x(pdf.l_margin + self.width - label_w - value_w)
                pdf.cell(label_w, 6, self.shaped(label), align="L")
                pdf.cell(value_w, 6, self.shaped(value), align="R")
            pdf.ln(6)

    def output(self) -> bytes:
        return bytes(self.pdf.output())


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
        doc = _Doc(lang, title)
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
        doc = _Doc(lang, title)
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
