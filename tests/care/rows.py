"""Care rows for the RLS proof and the route walk (another clinic's plan and consultation)."""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo


def care_rows(persona) -> tuple:
    """A plan and one consultation in the persona's clinic (tenant must be active)."""
    from clinic.accounts.models import Membership
    from clinic.care import services as care
    from clinic.directory import services as directory

    actor = Membership.objects.select_related("organization").get(id=persona.membership.id)
    service = directory.service_create(
        actor=actor,
        data={
            "name": f"Care RLS service {uuid.uuid4().hex[:6]}",
            "duration_minutes": 30,
            "price": "10.00",
        },
    )
    practitioner = directory.practitioner_create(
        actor=actor, data={"display_name": "Care RLS practitioner", "service_ids": [service.id]}
    )
    patient = directory.patient_create(
        actor=actor,
        force=True,
        data={
            "given_name": f"Care {uuid.uuid4().hex[:6]}",
            "family_name": "Rls",
            "date_of_birth": "1990-01-01",
        },
    )
    plan = care.plan_create(
        actor=actor,
        data={
            "patient_id": patient.id,
            "practitioner_id": practitioner.id,
            "title": "RLS plan",
            "start_date": date.today(),
            "service_id": service.id,
        },
    )
    start = datetime.combine(
        date.today() + timedelta(days=1), datetime.min.time(), tzinfo=ZoneInfo("UTC")
    ).replace(hour=9)
    consultation = care.consultation_create(actor=actor, plan=plan, data={"planned_start": start})
    return plan, consultation


def other_org_object(kind: str):
    def make(persona):
        from clinic.core.tenancy import tenant_context

        with tenant_context(persona.org.id, persona.user.id):
            plan, consultation = care_rows(persona)
        return plan.id if kind == "plan_id" else consultation.id

    return make
