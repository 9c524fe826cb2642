"""Billing rows for tests, made through the services (so they obey the same rules)."""

from __future__ import annotations

import itertools
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
