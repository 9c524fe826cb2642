"""Invoice messages (issued with the PDF link, overdue reminders once per configured delay)
and staff in-app notifications (bookings by patients, cancellations)."""

from __future__ import annotations

import datetime

import pytest
from django.utils import timezone

from clinic.notifications.models import Delivery, Notification
from clinic.notifications.services import appointment_notifications_plan
from tests.conftest import persona_create
from tests.notifications.conftest import (
    appointment_make,
    at,
    clinic_make,
    contact_make,
    patient_make,
)

pytestmark = pytest.mark.django_db


def _invoice(clinic, patient, *, due_days_ago=0, contact=None, number="INV-1"):
    from clinic.billing.models import Invoice

    today = timezone.localdate()
    return Invoice.objects.create(
        patient=patient,
        bill_to_contact=contact,
        status="issued",
        number=number,
        currency="EUR",
        issue_date=today - datetime.timedelta(days=due_days_ago + 30),
        due_date=today - datetime.timedelta(days=due_days_ago),
        subtotal=120,
        net_total=120,
        gross_total=120,
    )


def test_invoice_issued_is_emailed_to_the_payer_with_the_pdf_link(clinic, tenant):
    from clinic.notifications.invoices import invoice_issued_notify

    patient = patient_make(clinic, email="pat@example.org", language="fr")
    with tenant(clinic.org):
        invoice = _invoice(clinic, patient)
        (d,) = invoice_issued_notify(invoice=invoice, pdf_url="https://x.test/inv.pdf")
        assert d.event == "invoice.issued" and d.channel == "email" and d.language == "fr"
        assert d.context["amount"] == "120,00\xa0€"
        assert d.context["pdf_url"] == "https://x.test/inv.pdf"
        assert invoice_issued_notify(invoice=invoice) == []  # once per invoice


def test_overdue_reminders_once_per_delay(clinic, tenant):
    from clinic.notifications.invoices import invoices_overdue_remind

    patient = patient_make(clinic, email="pat@example.org")
    guardian_payer = contact_make(clinic, patient, email="payer@example.org", primary=False)
    with tenant(clinic.org):
        _invoice(clinic, patient, due_days_ago=8, number="INV-8")
        _invoice(clinic, patient, due_days_ago=31, contact=guardian_payer, number="INV-31")
        _invoice(clinic, patient, due_days_ago=2, number="INV-2")  # not yet
        assert invoices_overdue_remind()["planned"] == 2
        assert invoices_overdue_remind()["planned"] == 0
        rows = {
            d.context["invoice_number"]: d for d in Delivery.objects.filter(event="invoice.overdue")
        }
        assert set(rows) == {"INV-8", "INV-31"}
        assert rows["INV-31"].to_address == "payer@example.org"
        assert rows["INV-31"].idempotency_key.startswith(
            f"invoice:{rows['INV-31'].subject_id}:overdue:30"
        )
        assert rows["INV-8"].context["days_overdue"] == 8
        assert "/pdf/" in rows["INV-8"].context["pdf_url"]


def test_a_booking_by_a_patient_and_a_cancellation_tell_the_practitioner(org_a, owner_a, tenant):
    practitioner = persona_create(org_a, "practitioner")
    clinic = clinic_make(org_a, owner_a, practitioner_persona=practitioner)
    patient_login = persona_create(org_a, "patient")
    patient = patient_make(clinic, membership=patient_login.membership)
    with tenant(clinic.org):
        appt = appointment_make(clinic, patient, at(days=3, hour=11))
        appointment_notifications_plan(
            appointment=appt, event="booked", actor=patient_login.membership
        )
        (n,) = Notification.objects.filter(user=practitioner.user, event="staff.patient_booking")
        assert n.category == "patient_bookings" and "Sam Durand" in n.title
        # the patient's own notification centre has the confirmation
        assert Notification.objects.filter(
            user=patient_login.user, event="appointment.booked"
        ).exists()
        appt.status = "cancelled"
        appt.cancel_reason = "Feeling better"
        appt.save()
        appointment_notifications_plan(
            appointment=appt, event="cancelled", actor=patient_login.membership
        )
        (c,) = Notification.objects.filter(user=practitioner.user, event="staff.cancellation")
        assert "Feeling better" in c.body
        # booked by the front desk: no "booking by a patient" alert
        other = appointment_make(clinic, patient, at(days=4, hour=11))
        appointment_notifications_plan(appointment=other, event="booked", actor=owner_a.membership)
        assert (
            Notification.objects.filter(
                user=practitioner.user, event="staff.patient_booking"
            ).count()
            == 1
        )


def test_muted_categories_are_not_notified(org_a, owner_a, tenant):
    from clinic.notifications.services import user_notification_settings_update

    practitioner = persona_create(org_a, "practitioner")
    clinic = clinic_make(org_a, owner_a, practitioner_persona=practitioner)
    with tenant(clinic.org):
        user_notification_settings_update(
            membership=practitioner.membership, muted_categories=["cancellations"]
        )
        patient = patient_make(clinic)
        appt = appointment_make(clinic, patient, at(days=3, hour=11), status="cancelled")
        appointment_notifications_plan(appointment=appt, event="cancelled")
        assert not Notification.objects.filter(user=practitioner.user).exists()
