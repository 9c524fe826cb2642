"""Demo billing data for `clinic demo`: a tax rate, and for a dozen patients an invoice paid, an
invoice overdue, a draft, and a payment left as credit."""

from __future__ import annotations

import datetime as dt

from django.utils import timezone


def billing_demo_create(*, organization) -> None:
    """Runs inside the demo's tenant context."""
    from clinic.accounts.models import Membership
    from clinic.billing import services
    from clinic.directory.models import Patient, Service

    actor = (
        Membership.objects.select_related("organization")
        .filter(role="owner", is_active=True)
        .first()
    )
    if actor is None:
        return
    rate = services.tax_rate_create(actor=actor, data={"name": "VAT 20%", "rate": "20.00"})
    services.tax_rate_create(actor=actor, data={"name": "Exempt", "rate": "0.00"})
    service_ids = list(Service.objects.order_by("name").values_list("id", flat=True)[:3])
    today = timezone.localdate()
    for i, patient in enumerate(Patient.objects.order_by("mrn")[:12]):
        lines = [{"service_id": sid, "quantity": "1"} for sid in service_ids[: 1 + i % 3]]
        lines.append(
            {
                "description": "Report",
                "quantity": "1",
                "unit_price": "15.00",
                "tax_rate_id": rate.id,
            }
        )
        old = services.invoice_create(actor=actor, data={"patient_id": patient.id, "lines": lines})
        old = services.invoice_issue(
            actor=actor, invoice=old, issue_date=today - dt.timedelta(days=75 + i)
        )
        if i % 2 == 0:
            services.payment_record(
                actor=actor,
                data={
                    "patient_id": patient.id,
                    "amount": f"{old.gross_total:.2f}",
                    "method": "card",
                },
            )
        late = services.invoice_create(
            actor=actor, data={"patient_id": patient.id, "lines": lines[:1]}
        )
        services.invoice_issue(
            actor=actor, invoice=late, issue_date=today - dt.timedelta(days=40 + 3 * i)
        )
        services.invoice_create(actor=actor, data={"patient_id": patient.id, "lines": lines[-1:]})
        if i % 4 == 1:
            services.payment_record(
                actor=actor,
                data={
                    "patient_id": patient.id,
                    "amount": "20.00",
                    "method": "cash",
                    "allocate": "none",
                },
            )
