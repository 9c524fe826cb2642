"""A small clinic for scheduling tests: one Paris location with a single room and a shared room,
two practitioners working Monday to Friday, 08:00 to 18:00, three services, three patients."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from clinic.core.tenancy import tenant_context

_n = itertools.count(1)
PARIS = ZoneInfo("Europe/Paris")
NEW_YORK = ZoneInfo("America/New_York")
# A Monday well in the future, away from DST changes.
MONDAY = date(2031, 6, 2)


def at(day: date, hh: int, mm: int = 0, tz: ZoneInfo = PARIS) -> datetime:
    return datetime.combine(day, time(hh, mm), tzinfo=tz)


@dataclass
class Clinic:
    org: object
    owner: object
    location: object
    room: object
    shared_room: object
    practitioner: object
    other_practitioner: object
    consult: object  # 60 min, no buffers
    short: object  # 30 min, 10 min before, 5 min after
    patients: list

    def actor(self, persona=None):
        from clinic.accounts.models import Membership

        persona = persona or self.owner
        return Membership.objects.select_related("organization", "user").get(
            id=persona.membership.id
        )


def clinic_build(
    owner, *, time_zone: str = "Europe/Paris", practitioner_membership=None, rules: bool = True
) -> Clinic:
    from clinic.directory.models import (
        Location,
        Patient,
        Practitioner,
        PractitionerService,
        Room,
        Service,
    )
    from clinic.scheduling.models import AvailabilityRule

    n = next(_n)
    with tenant_context(owner.org.id, owner.user.id):
        # Not "Site n": the directory factories number their own "Site n" locations, and both may
        # run in one organization (the RLS proof's row makers).
        location = Location.objects.create(name=f"Scheduling site {n}", time_zone=time_zone)
        room = Room.objects.create(location=location, name=f"Room {n}", capacity=1)
        shared = Room.objects.create(location=location, name=f"Gym {n}", capacity=2)
        p1 = Practitioner.objects.create(
            display_name=f"Dr One {n}",
            default_location=location,
            membership_id=getattr(practitioner_membership, "id", None),
        )
        p2 = Practitioner.objects.create(display_name=f"Dr Two {n}", default_location=location)
        consult = Service.objects.create(
            name=f"Consult {n}", duration_minutes=60, price=Decimal("50.00")
        )
        short = Service.objects.create(
            name=f"Short {n}",
            duration_minutes=30,
            buffer_before_minutes=10,
            buffer_after_minutes=5,
            price=Decimal("30.00"),
        )
        for p in (p1, p2):
            for s in (consult, short):
                PractitionerService.objects.create(practitioner=p, service=s)
        patients = [
            Patient.objects.create(
                mrn=f"S{n}-{i}",
                given_name=f"Pat{i}",
                family_name=f"Fam{n}",
                date_of_birth=date(1980, 1, 1 + i),
            )
            for i in range(3)
        ]
        if rules:
            for p in (p1, p2):
                for weekday in range(5):
                    AvailabilityRule.objects.create(
                        practitioner=p,
                        location=location,
                        weekday=weekday,
                        start_time=time(8),
                        end_time=time(18),
                    )
    return Clinic(owner.org, owner, location, room, shared, p1, p2, consult, short, patients)


@pytest.fixture
def clinic(owner_a):
    return clinic_build(owner_a)


@pytest.fixture
def booking(clinic):
    """POST /appointments body for the first practitioner, consult service, first patient."""

    def make(start: datetime, **extra):
        body = {
            "practitioner_id": str(clinic.practitioner.id),
            "patient_id": str(clinic.patients[0].id),
            "service_id": str(clinic.consult.id),
            "start": start.isoformat(),
        }
        body.update({k: (str(v) if hasattr(v, "hex") else v) for k, v in extra.items()})
        return body

    return make


def in_days(days: int, hh: int = 10, tz: ZoneInfo = PARIS) -> datetime:
    """A weekday `days` or more days from now, at hh:00 local."""
    day = datetime.now(tz).date() + timedelta(days=days)
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return at(day, hh, tz=tz)
