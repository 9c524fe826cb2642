"""Billing completed appointments: one draft per payer, a line per appointment, late cancellations
and no-shows only when the organization charges for them, never billed twice."""

from __future__ import annotations

import datetime as dt
import itertools
from decimal import Decimal as D

import pytest
from django.db import IntegrityError, transaction

from clinic.billing import services
from clinic.billing.models import Invoice, InvoiceAppointment, InvoiceLine
from clinic.core.errors import Conflict
from clinic.core.tenancy import tenant_context
from tests.billing import factories as f
from tests.directory import factories as directory

_slot = itertools.count()


def appointment(
    persona, *, practitioner, patient, service, location, day, status="completed", late_cancel=False
):
    """An appointment row as scheduling leaves it (written directly: billing reads it)."""
    from clinic.scheduling.models import Appointment

    # 12 slots from 08:00 UTC: the day stays the same in every test zone, however many
    # appointments earlier tests made
    n = next(_slot) % 12
    start = dt.datetime.combine(day, dt.time(8, 0), tzinfo=dt.UTC) + dt.timedelta(minutes=50 * n)
    end = start + dt.timedelta(minutes=45)
    with tenant_context(persona.org.id):
        return Appointment.objects.create(
            practitioner=practitioner,
            patient=patient,
            service=service,
            location=location,
            start_at=start,
            end_at=end,
            occupied_start=start,
            occupied_end=end,
            status=status,
            late_cancel=late_cancel,
            cancelled_at=start if status == "cancelled" else None,
        )


def completed_appointments(persona, count=3, day=None):
    day = day or dt.date(2026, 4, 14)
    location = directory.location(persona)
    practitioner = directory.practitioner(persona)
    service = directory.service(persona, price="55.00", tax_rate="0")
    patients = [directory.patient(persona) for _ in range(2)]
    rows = [
        appointment(
            persona,
            practitioner=practitioner,
            patient=patients[i % 2],
            service=service,
            location=location,
            day=day,
        )
        for i in range(count)
    ]
    return rows, day


@pytest.mark.django_db
def test_bill_completed_appointments_once(api, owner_a):
    _rows, day = completed_appointments(owner_a, count=3)
    response = api.post(
        "billing/bill-appointments",
        owner_a,
        json={"date_from": day.isoformat(), "date_to": day.isoformat()},
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["appointments_billed"] == 3 and len(body["invoices"]) == 2  # one per patient
    assert {i["status"] for i in body["invoices"]} == {"draft"}
    assert sorted(i["gross_total"] for i in body["invoices"]) == ["110.00", "55.00"]
    again = api.post(
        "billing/bill-appointments",
        owner_a,
        json={"date_from": day.isoformat(), "date_to": day.isoformat()},
    )
    assert again.json()["appointments_billed"] == 0
    # the database refuses a second link to the same appointment
    with tenant_context(owner_a.org.id):
        link = InvoiceAppointment.objects.first()
        with pytest.raises(IntegrityError), transaction.atomic():
            InvoiceAppointment.objects.create(
                invoice=link.invoice,
                line=link.line,
                appointment=link.appointment,
                practitioner_id=link.practitioner_id,
            )


@pytest.mark.django_db
def test_no_shows_and_late_cancellations_follow_the_setting(api, owner_a):
    rows, day = completed_appointments(owner_a, count=1)
    base = dict(
        practitioner=rows[0].practitioner,
        service=rows[0].service,
        location=rows[0].location,
        day=day,
    )
    patient = directory.patient(owner_a)
    appointment(owner_a, patient=patient, status="no_show", **base)
    appointment(owner_a, patient=patient, status="cancelled", late_cancel=True, **base)
    appointment(owner_a, patient=patient, status="cancelled", late_cancel=False, **base)
    body = {"date_from": day.isoformat(), "date_to": day.isoformat()}
    assert (
        api.post("billing/bill-appointments", owner_a, json=body).json()["appointments_billed"] == 1
    )
    api.patch(
        "billing/settings",
        owner_a,
        json={"charge_no_shows": True, "charge_late_cancellations": True},
    )
    result = api.post("billing/bill-appointments", owner_a, json=body).json()
    assert result["appointments_billed"] == 2
    with tenant_context(owner_a.org.id):
        descriptions = sorted(
            InvoiceLine.objects.filter(invoice_id=result["invoices"][0]["id"]).values_list(
                "description", flat=True
            )
        )
    assert any("no-show" in d for d in descriptions)
    assert any("late cancellation" in d for d in descriptions)


@pytest.mark.django_db
def test_payer_contact_gets_the_invoice_and_deleting_the_draft_frees_the_appointment(owner_a):
    rows, day = completed_appointments(owner_a, count=1)
    patient = rows[0].patient
    with tenant_context(owner_a.org.id):
        from clinic.directory.models import Patient

        patient = Patient.objects.get(id=patient.id)
    payer = directory.contact(owner_a)
    directory.link(owner_a, patient, payer, relationship="payer")
    (invoice,) = f.in_tenant(
        owner_a, lambda a: services.appointments_bill(actor=a, date_from=day, date_to=day)
    )
    assert invoice.bill_to_contact_id == payer.id
    f.in_tenant(owner_a, lambda a: services.invoice_delete(actor=a, invoice=invoice))
    (again,) = f.in_tenant(
        owner_a, lambda a: services.appointments_bill(actor=a, date_from=day, date_to=day)
    )
    assert again.gross_total == D("55.00")
    issued = f.in_tenant(owner_a, lambda a: services.invoice_issue(actor=a, invoice=again))
    with pytest.raises(Conflict):
        f.in_tenant(owner_a, lambda a: services.invoice_delete(actor=a, invoice=issued))
    with tenant_context(owner_a.org.id):
        assert Invoice.objects.filter(id=issued.id).exists()


@pytest.mark.django_db
def test_practitioner_sees_own_appointment_invoices_only_when_granted(
    api, owner_a, persona_factory
):
    login = persona_factory("practitioner")
    rows, day = completed_appointments(owner_a, count=1)
    mine = directory.practitioner(owner_a, membership_id=login.membership.id)
    _other, _day = completed_appointments(owner_a, count=1, day=day + dt.timedelta(days=1))
    appointment(
        owner_a,
        practitioner=mine,
        patient=rows[0].patient,
        service=rows[0].service,
        location=rows[0].location,
        day=day + dt.timedelta(days=2),
    )
    api.post(
        "billing/bill-appointments",
        owner_a,
        json={"date_from": day.isoformat(), "date_to": (day + dt.timedelta(days=2)).isoformat()},
    )
    assert api.get("invoices", login).json()["count"] == 0
    api.patch("billing/settings", owner_a, json={"practitioners_see_own_invoices": True})
    listed = api.get("invoices", login).json()
    assert listed["count"] == 1
