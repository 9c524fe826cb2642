from __future__ import annotations

import argparse
import datetime as dt

import pytest

from clinic.billing.cli import cmd_billing
from tests.billing import factories as f
from tests.directory import factories as directory

pytestmark = pytest.mark.django_db


def test_cli_overdue_and_statement(owner_a, capsys):
    patient = directory.patient(owner_a)
    inv = f.issued_invoice(owner_a, patient, issue_date=dt.date(2026, 1, 1))
    code = cmd_billing(
        argparse.Namespace(
            billing_action="overdue", org=owner_a.org.slug, as_of=dt.date(2026, 3, 1)
        )
    )
    out = capsys.readouterr().out
    assert code == 0 and inv.number in out and "29 days" in out
    code = cmd_billing(
        argparse.Namespace(
            billing_action="statement",
            org=owner_a.org.slug,
            patient=str(patient.id),
            date_from=dt.date(2026, 1, 1),
            date_to=dt.date(2026, 1, 31),
        )
    )
    out = capsys.readouterr().out
    assert code == 0 and out.startswith("date,type,reference") and inv.number in out
    assert cmd_billing(argparse.Namespace(billing_action="overdue", org="nope", as_of=None)) == 2
