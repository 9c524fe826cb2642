"""PDF documents in English, French or Arabic (fpdf2 with HarfBuzz text shaping; right to
left laid out mirrored): the layout helper invoices, statements and clinical notes share.

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
from pathlib import Path

from django.utils.translation import gettext as _

from clinic.core.errors import DomainError

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


class PdfDocument:
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
            logging.getLogger(__name__).warning("pdf.logo_unreadable", exc_info=True)
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
