"""Statements as CSV (and back: `statement_csv_parse` reads what `statement_csv` writes, which the
round-trip test uses)."""

from __future__ import annotations

import csv
import datetime as dt
import io
from decimal import Decimal

from django.utils import translation
from django.utils.translation import gettext as _

from clinic.billing.selectors import Statement
from clinic.core.csv import SafeWriter

CSV_COLUMNS = ("date", "type", "reference", "description", "debit", "credit", "balance")


def _kind_label(kind: str) -> str:
    return {
        "invoice": _("Invoice"),
        "credit_note": _("Credit note"),
        "payment": _("Payment"),
        "refund": _("Refund"),
        "opening": _("Opening balance"),
        "closing": _("Closing balance"),
    }[kind]


def statement_csv(statement: Statement, language: str = "en") -> str:
    """One row per movement between an opening and a closing row; machine-readable columns
    (ISO dates, amounts with a dot and two decimals, `type` as a code) and a translated
    description. Cells go through `clinic.core.csv` (payment references and reasons are
    typed by people: a formula in them is written as text)."""
    out = io.StringIO()
    writer = SafeWriter(out)
    writer.writerow(CSV_COLUMNS)
    with translation.override(language):
        writer.writerow(
            [
                statement.date_from.isoformat(),
                "opening",
                "",
                _kind_label("opening"),
                "",
                "",
                f"{statement.opening:.2f}",
            ]
        )
        for line in statement.lines:
            writer.writerow(
                [
                    line.date.isoformat(),
                    line.kind,
                    line.reference,
                    line.description or _kind_label(line.kind),
                    f"{line.debit:.2f}" if line.debit else "",
                    f"{line.credit:.2f}" if line.credit else "",
                    f"{line.balance:.2f}",
                ]
            )
        writer.writerow(
            [
                statement.date_to.isoformat(),
                "closing",
                "",
                _kind_label("closing"),
                f"{statement.total_debits:.2f}",
                f"{statement.total_credits:.2f}",
                f"{statement.closing:.2f}",
            ]
        )
    return out.getvalue()


def statement_csv_parse(text: str) -> dict:
    """The figures of a statement CSV: opening, movements, closing (Decimals)."""
    rows = list(csv.DictReader(io.StringIO(text)))
    movements = []
    opening = closing = None
    for row in rows:
        if row["type"] == "opening":
            opening = Decimal(row["balance"])
        elif row["type"] == "closing":
            closing = Decimal(row["balance"])
        else:
            movements.append(
                {
                    "date": dt.date.fromisoformat(row["date"]),
                    "type": row["type"],
                    "reference": row["reference"],
                    "debit": Decimal(row["debit"] or "0"),
                    "credit": Decimal(row["credit"] or "0"),
                    "balance": Decimal(row["balance"]),
                }
            )
    return {"opening": opening, "movements": movements, "closing": closing}
