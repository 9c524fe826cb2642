from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from tests.directory import factories

PARIS = ZoneInfo("Europe/Paris")


@dataclass
class CareWorld:
    location: object
    service: object
    practitioner: object  # practitioner_a's clinical profile
    other_practitioner: object
    patient: object


@pytest.fixture
def world(owner_a, practitioner_a) -> CareWorld:
    location = factories.location(owner_a, name="Main site", time_zone="Europe/Paris")
    service = factories.service(owner_a, name="Physiotherapy", duration_minutes=45)
    practitioner = factories.practitioner(
        owner_a,
        display_name="Dr Ada",
        membership_id=practitioner_a.membership.id,
        service_ids=[service.id],
        default_location_id=location.id,
    )
    other = factories.practitioner(owner_a, display_name="Dr Bob", service_ids=[service.id])
    patient = factories.patient(owner_a, given_name="Hélène", family_name="Durand")
    return CareWorld(location, service, practitioner, other, patient)


def monday(weeks_ahead: int = 1) -> date:
    today = date.today()
    return today + timedelta(days=(7 - today.weekday()) + 7 * (weeks_ahead - 1))


def at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=PARIS)


@pytest.fixture
def plan_payload(world):
    def make(**overrides):
        payload = {
            "patient_id": str(world.patient.id),
            "practitioner_id": str(world.practitioner.id),
            "title": "Knee rehabilitation",
            "start_date": str(date.today()),
            "end_date": str(date.today() + timedelta(days=90)),
            "planned_consultations": 10,
            "frequency_count": 2,
            "frequency_unit": "week",
            "service_id": str(world.service.id),
            "location_id": str(world.location.id),
            "diagnosis_codes": ["m17.1"],
            "goals": [{"text": "Climb stairs without pain", "target": "4 weeks"}],
        }
        payload.update(overrides)
        return payload

    return make


@pytest.fixture
def plan(api, owner_a, plan_payload):
    response = api.post("treatment-plans", owner_a, json=plan_payload())
    assert response.status_code == 201, response.content
    return response.json()


def queries_of(call) -> int:
    """How many SQL queries `call()` runs (the whole request: auth, tenant, reads)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        response = call()
    assert response.status_code == 200, response.content
    return len(captured.captured_queries)
