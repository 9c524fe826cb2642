"""Issue 18, defect 3: no CSV export writes a cell a spreadsheet would run as a formula. Every
exporter writes through clinic.core.csv; each is fed a value led by =, +, -, @, tab and CR."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from pathlib import Path

import pytest

from clinic.core.csv import cell
from tests.billing import factories as billing
from tests.directory import factories as directory

SRC = Path(__file__).resolve().parents[2] / "src" / "clinic"
FORMULAS = ["=cmd|' /C calc'!A0", "+1+cmd|' /C calc'!A0", "-2+3", "@SUM(A1)", "\tx=1", "\rx=1"]


def _cells(body: bytes | str) -> list[str]:
    text = body.decode() if isinstance(body, bytes) else body
    return [value for row in csv.reader(io.StringIO(text, newline="")) for value in row]


def _assert_no_formula(cells: list[str], expected: list[str]) -> None:
    for value in cells:
        assert not (
            value[:1] and value[0] in "=+-@\t\r" and not re.fullmatch(r"[+-]?\d[\d.]*", value)
        ), value
    for formula in expected:
        # text fields are stored stripped: a tab or CR lead may not reach the export at all
        assert "'" + formula in cells or formula.strip() in cells, (formula, cells)


@pytest.mark.parametrize(
    ("value", "written"),
    [
        ("=1+1", "'=1+1"),
        ("+cmd", "'+cmd"),
        ("-cmd", "'-cmd"),
        ("@cmd", "'@cmd"),
        ("\tcmd", "'\tcmd"),
        ("\rcmd", "'\rcmd"),
        ("-12.50", "-12.50"),
        ("+33612345678", "+33612345678"),
        ("O'Brien", "O'Brien"),
        (None, ""),
        (True, "true"),
    ],
)
def test_cell(value, written):
    assert cell(value) == written


def test_statement_csv_escapes_references_and_reasons(api, owner_a):
    patient = directory.patient(owner_a)
    invoice = billing.issued_invoice(owner_a, patient, lines=[billing.line(unit_price="500.00")])
    payments = [
        billing.payment(owner_a, patient, amount="10.00", reference=formula) for formula in FORMULAS
    ]
    for formula in FORMULAS[:3]:
        response = api.post(
            "credit-notes",
            owner_a,
            json={"invoice_id": str(invoice.id), "amount": "10.00", "reason": formula},
        )
        assert response.status_code == 201, response.content
    extra = billing.payment(owner_a, patient, amount="100.00", allocate="none")
    for formula in FORMULAS[3:]:
        response = api.post(
            f"payments/{extra.id}/refunds",
            owner_a,
            json={"amount": "5.00", "method": "cash", "reason": formula, "reference": formula},
        )
        assert response.status_code == 201, response.content
    assert len(payments) == len(FORMULAS)
    # the clinic's day may already be tomorrow in UTC terms (Paris at 23:30 UTC): a window
    # around today, not one ending on the UTC date
    today = dt.date.today()
    window = f"date_from={today - dt.timedelta(days=2)}&date_to={today + dt.timedelta(days=2)}"
    query = f"patient_id={patient.id}&{window}"
    response = api.get(f"statements?{query}&format=csv", owner_a)
    assert response.status_code == 200
    _assert_no_formula(_cells(response.content), FORMULAS)
    from clinic.billing import exports

    parsed = exports.statement_csv_parse(response.content.decode())
    assert parsed["closing"] is not None


def test_statement_csv_escapes_tab_and_cr_leads_too():
    """The services store text stripped; the exporter escapes whatever it is given."""
    from decimal import Decimal

    from clinic.billing.exports import statement_csv
    from clinic.billing.selectors import Statement, StatementLine

    day = dt.date(2026, 1, 5)
    zero = Decimal("0.00")
    lines = [
        StatementLine(day, "payment", formula, formula, zero, Decimal("1.00"), Decimal("-1.00"))
        for formula in FORMULAS
    ]
    statement = Statement(
        account=None,
        currency="EUR",
        date_from=day,
        date_to=day,
        opening=zero,
        lines=lines,
        closing=Decimal("-6.00"),
        total_debits=zero,
        total_credits=Decimal("6.00"),
        aging={},
        generated_at=dt.datetime(2026, 1, 5, tzinfo=dt.UTC),
    )
    cells = _cells(statement_csv(statement))
    _assert_no_formula(cells, FORMULAS)
    assert all(cells.count("'" + formula) == 2 for formula in FORMULAS)
    assert "-1.00" in cells  # numbers stay numbers


def test_patient_and_service_exports_escape(api, owner_a):
    values = FORMULAS[:4]
    for formula in values:
        directory.patient(owner_a, given_name=formula, notes=formula)
        directory.service(owner_a, name=f"{formula} svc", description=formula)
    patients = api.get("patients/export.csv", owner_a)
    services = api.get("services/export.csv", owner_a)
    assert patients.status_code == services.status_code == 200
    _assert_no_formula(_cells(patients.content), values)
    _assert_no_formula(_cells(services.content), values)


def test_every_csv_writer_is_the_shared_one():
    """No module writes CSV by itself: csv.writer/DictWriter only in clinic/core/csv.py."""
    offenders = [
        str(path.relative_to(SRC))
        for path in SRC.rglob("*.py")
        if path != SRC / "core" / "csv.py"
        and re.search(r"csv\.(writer|DictWriter)\(", path.read_text())
    ]
    assert offenders == []
