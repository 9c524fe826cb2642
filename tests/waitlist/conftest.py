"""A scheduling clinic (tests/scheduling/conftest.py) with helpers to put patients on the
waitlist, book and cancel. Time is fixed by the clock fixture: the Thursday before MONDAY."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from clinic.core.tenancy import tenant_context
from tests.scheduling.conftest import MONDAY, at, clinic_build

NOW = at(MONDAY - timedelta(days=4), 9)


def patients_add(clinic, count: int) -> list:
    from clinic.directory.models import Patient

    with tenant_context(clinic.org.id):
        extra = [
            Patient.objects.create(
                mrn=f"W{clinic.location.id.hex[:6]}-{i}",
                given_name=f"Wait{i}",
                family_name="List",
                date_of_birth=date(1990, 1, 1 + i),
                email=f"wait{i}@example.org",
                preferred_language=("fr" if i % 2 else "ar"),
            )
            for i in range(count)
        ]
    clinic.patients.extend(extra)
    return extra


def entry_body(clinic, patient, **extra) -> dict:
    body = {
        "patient_id": str(patient.id),
        "service_id": str(clinic.consult.id),
        "practitioner_ids": [str(clinic.practitioner.id)],
        "earliest_date": (MONDAY - timedelta(days=1)).isoformat(),
        "latest_date": (MONDAY + timedelta(days=20)).isoformat(),
        "urgency": "medium",
    }
    body.update(extra)
    return body


def book(api, clinic, persona, start, patient=None) -> dict:
    response = api.post(
        "appointments",
        persona,
        json={
            "practitioner_id": str(clinic.practitioner.id),
            "patient_id": str((patient or clinic.patients[0]).id),
            "service_id": str(clinic.consult.id),
            "start": start.isoformat(),
        },
    )
    assert response.status_code == 201, response.content
    return response.json()


def cancel(api, persona, appointment_id):
    response = api.post(
        f"appointments/{appointment_id}/status",
        persona,
        json={"status": "cancelled", "reason": "unwell"},
    )
    assert response.status_code == 200, response.content
    return response.json()


@pytest.fixture
def wl_clinic(db, clock):
    from tests.conftest import org_create, persona_create, unique_slug

    clock.travel(NOW)  # before the personas: their tokens are issued "now"
    org = org_create(unique_slug("waitlist"), "Clinic W")
    clinic = clinic_build(persona_create(org, "owner"))
    patients_add(clinic, 4)
    return clinic


__all__ = ["MONDAY", "NOW", "at"]
