"""Billing rows for tests, made through the services (so they obey the same rules)."""

from __future__ import annotations

import itertools
import uuid
from decimal import Decimal

from clinic.accounts.models import Membership
from clinic.billing import services
from clinic.core.tenancy import tenant_context
from tests.directory import factories as directory

_counter = itertools.count(1)


def actor_of(persona) -> Membership:
    return Membership.objects.select_related("organization", "user").get(id=persona.membership.id)


def in_tenant(persona, make):
    with tenant_context(persona.org.id, persona.user.id):
        return make(actor_of(persona))


def line(description=None, quantity="1", unit_price="100.00", **extra):
    data = {
        "description": description or f"Item {next(_counter)}",
        "quantity": quantity,
        "unit_price": unit_price,
    }
    data.update(extra)
    return data


def invoice(persona, patient=None, lines=None, **data):
    patient = patient or directory.patient(persona)
    data.setdefault("patient_id", patient.id)
    data.setdefault("lines", lines if lines is not None else [line()])
    return in_tenant(persona, lambda a: services.invoice_create(actor=a, data=data))


def issued_invoice(persona, patient=None, lines=None, issue_date=None, **data):
    draft = invoice(persona, patient, lines, **data)
    return in_tenant(
        persona, lambda a: services.invoice_issue(actor=a, invoice=draft, issue_date=issue_date)
    )


def payment(persona, patient=None, amount="50.00", **data):
    data.setdefault("amount", amount)
    data.setdefault("method", "card")
    if "contact_id" not in data:
        data.setdefault("patient_id", patient.id)
    return in_tenant(persona, lambda a: services.payment_record(actor=a, data=data))


def tax_rate(persona, name=None, rate="20.00"):
    return in_tenant(
        persona,
        lambda a: services.tax_rate_create(
            actor=a, data={"name": name or f"VAT {next(_counter)}", "rate": rate}
        ),
    )


def refreshed(persona, obj):
    with tenant_context(persona.org.id):
        return type(obj).objects.get(id=obj.id)


D = Decimal


def route_object(persona, kind: str):
    """An id of one of `persona`'s organization's objects of `kind` (route walk: other org)."""
    patient = directory.patient(persona)
    inv = issued_invoice(persona, patient)
    if kind == "invoice":
        return inv.id
    if kind == "line":
        with tenant_context(persona.org.id):
            return inv.lines.first().id
    if kind in ("payment", "allocation"):
        pay = payment(persona, patient, amount="10.00")
        if kind == "payment":
            return pay.id
        with tenant_context(persona.org.id):
            return pay.allocations.first().id
    if kind == "credit_note":
        return in_tenant(
            persona,
            lambda a: services.credit_note_create(actor=a, invoice=inv, amount="1.00", reason="r"),
        ).id
    if kind == "tax_rate":
        return tax_rate(persona).id
    policy = in_tenant(
        persona,
        lambda a: services.insurance_policy_create(
            actor=a,
            data={
                "patient_id": patient.id,
                "insurer": "Insurer",
                "policy_number": "P-1",
                "coverage_start": "2000-01-01",
                "coverage_percent": "50",
            },
        ),
    )
    if kind == "policy":
        return policy.id
    return in_tenant(
        persona, lambda a: services.claim_create(actor=a, invoice=inv, policy_id=policy.id)
    ).id


def every_table_rows(persona) -> None:
    """Rows in every billing table (the RLS proof)."""
    import datetime as dt

    from clinic.scheduling.models import Appointment

    patient = directory.patient(persona)
    with tenant_context(persona.org.id, persona.user.id):
        actor = actor_of(persona)
        services.billing_settings_get(persona.org.id)
        rate = services.tax_rate_create(
            actor=actor, data={"name": f"RLS VAT {uuid.uuid4().hex[:6]}", "rate": "5"}
        )
        location = directory.location(persona)
        practitioner = directory.practitioner(persona)
        service = directory.service(persona)
        start = dt.datetime(2026, 1, 5, 9, tzinfo=dt.UTC)
        Appointment.objects.create(
            practitioner=practitioner,
            patient=patient,
            service=service,
            location=location,
            start_at=start,
            end_at=start + dt.timedelta(minutes=30),
            occupied_start=start,
            occupied_end=start + dt.timedelta(minutes=30),
            status="completed",
        )
        (draft,) = services.appointments_bill(
            actor=actor, date_from=dt.date(2026, 1, 5), date_to=dt.date(2026, 1, 5)
        )
        services.invoice_line_add(
            actor=actor,
            invoice=draft,
            data={"description": "x", "unit_price": "10", "tax_rate_id": rate.id},
        )
        inv = services.invoice_issue(actor=actor, invoice=draft)
        pay = services.payment_record(
            actor=actor, data={"patient_id": patient.id, "amount": "20.00", "method": "cash"}
        )
        services.credit_note_create(actor=actor, invoice=inv, amount="1.00", reason="rls")
        with_credit = services.payment_record(
            actor=actor,
            data={"patient_id": patient.id, "amount": "5.00", "method": "cash", "allocate": "none"},
        )
        services.refund_record(actor=actor, payment=with_credit, data={"amount": "5.00"})
        policy = services.insurance_policy_create(
            actor=actor,
            data={
                "patient_id": patient.id,
                "insurer": "I",
                "policy_number": "N-1",
                "coverage_start": "2000-01-01",
                "coverage_percent": "50",
            },
        )
        services.claim_create(actor=actor, invoice=inv, policy_id=policy.id)
        assert pay.allocated_total > 0
