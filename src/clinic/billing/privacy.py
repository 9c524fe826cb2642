"""Billing's personal data (core/privacy.py): invoices, payments and credit notes are
accounting records the law requires the clinic to keep; declared, exported, and kept."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from clinic.billing.models import Invoice, Payment
from clinic.core.privacy import Outcome, personal_data


def billing_export(patient) -> dict:
    return {
        "invoices": [
            {
                "number": i.number,
                "status": i.status,
                "issue_date": i.issue_date,
                "total": str(i.gross_total),
                "currency": i.currency,
            }
            for i in Invoice.objects.filter(patient=patient).order_by("issue_date", "number")
        ],
        "payments": [
            {"received_at": p.received_at, "amount": str(p.amount), "method": p.method}
            for p in Payment.objects.filter(payer_patient=patient).order_by("received_at")
        ],
    }


def register() -> None:
    personal_data(
        "billing.accounts",
        holds=_("Invoices, payments, refunds and credit notes"),
        outcome=Outcome.KEPT,
        count=lambda patient: Invoice.objects.filter(patient=patient).count(),
        export=billing_export,
        kept_because=_("Accounting records must be kept for the legal retention period."),
        order=90,
    )
