"""A patient with a history for the chart tests: appointments, a plan, invoices, payments and
messages, written straight to the tables for the large sizes (the services would take minutes
for 500 events), through the services where the rule matters (plans, invoices)."""

from __future__ import annotations

import itertools
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from clinic.core.tenancy import tenant_context
from tests.scheduling.conftest import clinic_build

_n = itertools.count(1)
# far from today and from DST changes: the tests never depend on the day they run
ORIGIN = datetime(2031, 3, 2, 9, 0, tzinfo=UTC)


@dataclass
class History:
    clinic: object
    patient: object
    appointments: list
    payments: list
    deliveries: list


def history_build(owner, *, appointments=2, payments=2, deliveries=1, clinic=None) -> History:
    """A patient of `owner`'s clinic with that many appointments (a day apart from ORIGIN,
    completed), payments and sent messages (a day apart, starting half a day later)."""
    from clinic.billing.models import Payment
    from clinic.notifications.models import Delivery
    from clinic.scheduling.models import Appointment

    clinic = clinic or clinic_build(owner, rules=False)
    patient = clinic.patients[0]
    org_id = owner.org.id
    with tenant_context(org_id, owner.user.id):
        made_appointments = Appointment.objects.bulk_create(
            Appointment(
                organization_id=org_id,
                kind="individual",
                status="completed",
                practitioner=clinic.practitioner,
                patient=patient,
                service=clinic.consult,
                location=clinic.location,
                start_at=ORIGIN + timedelta(days=i),
                end_at=ORIGIN + timedelta(days=i, hours=1),
                occupied_start=ORIGIN + timedelta(days=i),
                occupied_end=ORIGIN + timedelta(days=i, hours=1),
            )
            for i in range(appointments)
        )
        made_payments = Payment.objects.bulk_create(
            Payment(
                organization_id=org_id,
                payer_patient=patient,
                method="card",
                amount=Decimal("20.00"),
                currency="EUR",
                received_at=ORIGIN + timedelta(days=i, hours=12),
            )
            for i in range(payments)
        )
        made_deliveries = Delivery.objects.bulk_create(
            Delivery(
                organization_id=org_id,
                event="appointment.reminder",
                template="appointment_reminder",
                channel="email",
                status="sent",
                recipient_kind="patient",
                patient=patient,
                to_address="pat@example.org",
                language="en",
                scheduled_for=ORIGIN + timedelta(days=i, hours=6),
                sent_at=ORIGIN + timedelta(days=i, hours=6),
                idempotency_key=f"chart-{uuid.uuid4().hex}",
                rendered_subject="Reminder: your appointment",
            )
            for i in range(deliveries)
        )
    return History(clinic, patient, made_appointments, made_payments, made_deliveries)


def plan_make(owner, history: History, title: str = "Back pain programme"):
    from clinic.accounts.models import Membership
    from clinic.care import services as care

    with tenant_context(owner.org.id, owner.user.id):
        actor = Membership.objects.select_related("organization").get(id=owner.membership.id)
        return care.plan_create(
            actor=actor,
            data={
                "patient_id": history.patient.id,
                "practitioner_id": history.clinic.practitioner.id,
                "title": title,
                "start_date": date(2031, 3, 1),
                "planned_consultations": 6,
            },
        )
