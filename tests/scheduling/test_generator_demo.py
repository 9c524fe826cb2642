"""Bulk appointment generation (deterministic, conflict-free) and the demo clinic's schedule."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from django.db import connection
from django.utils import timezone

from clinic.core.tenancy import tenant_context
from tests.conftest import PASSWORD, unique_slug

pytestmark = pytest.mark.django_db


def _directory(seed: int):
    from clinic.accounts.selectors import organization_by_slug
    from clinic.directory.generator import generate

    slug = unique_slug("gen")
    generate(org_slug=slug, practitioners=4, patients=60, seed=seed)
    return organization_by_slug(slug)


def _generated_then_rolled_back(org, seed: int):
    from django.db import transaction

    from clinic.scheduling.generator import appointments_generate

    with transaction.atomic():
        result = appointments_generate(
            organization_id=org.id, appointments=300, seed=seed, today=date(2031, 6, 4)
        )
        shape = _shape(org)
        transaction.set_rollback(True)
    return result, shape


def _shape(org):
    from clinic.scheduling.models import Appointment

    with tenant_context(org.id):
        rows = Appointment.objects.values_list(
            "start_at", "end_at", "status", "practitioner__display_name", "patient__mrn"
        )
        return sorted(rows)


def test_generation_is_deterministic_and_conflict_free():
    from clinic.scheduling.generator import appointments_generate

    org1 = _directory(seed=5)
    result, first = _generated_then_rolled_back(org1, seed=5)
    _result, again = _generated_then_rolled_back(org1, seed=5)
    _result, other = _generated_then_rolled_back(org1, seed=6)
    assert first == again and first != other
    result = appointments_generate(
        organization_id=org1.id, appointments=300, seed=5, today=date(2031, 6, 4)
    )
    assert result.appointments == 300 and result.rules == 20
    assert result.first_day < date(2031, 6, 4) < result.last_day
    with tenant_context(org1.id), connection.cursor() as cur:
        cur.execute("""
            SELECT count(*) FROM scheduling_appointment a JOIN scheduling_appointment b
              ON a.id < b.id AND a.patient_id = b.patient_id
             AND tstzrange(a.start_at, a.end_at) && tstzrange(b.start_at, b.end_at)
             AND a.status NOT IN ('cancelled', 'no_show')
             AND b.status NOT IN ('cancelled', 'no_show')""")
        assert cur.fetchone()[0] == 0
        cur.execute("SELECT count(DISTINCT status) FROM scheduling_appointment")
        assert cur.fetchone()[0] >= 3


def test_generate_command_accepts_appointments():
    from clinic.cli import parser_build

    args = parser_build().parse_args(["generate", "--org-slug", "x", "--appointments", "1000"])
    assert args.appointments == 1000


def test_demo_has_hours_and_a_live_week():
    from clinic.accounts.selectors import organization_by_slug
    from clinic.core.demo import demo_create
    from clinic.scheduling.models import Appointment, AppointmentSeries, AvailabilityRule

    slug = unique_slug("demo")
    demo_create(slug=slug, password=PASSWORD)
    org = organization_by_slug(slug)
    today = timezone.now().date()
    with tenant_context(org.id):
        assert AvailabilityRule.objects.filter(weekday=0).exists()
        assert not AvailabilityRule.objects.filter(weekday__gte=5).exists()
        week = Appointment.objects.filter(
            start_at__date__gte=today - timedelta(days=7),
            start_at__date__lte=today + timedelta(days=14),
        )
        assert week.count() >= 40
        assert AppointmentSeries.objects.count() == 1


@pytest.mark.parametrize(
    ("today", "first", "last"),
    [
        ("2026-11-16", "2026-11-16", "2026-11-20"),  # Monday: this week
        ("2026-11-20", "2026-11-16", "2026-11-20"),  # Friday: this week
        ("2026-11-21", "2026-11-16", "2026-11-27"),  # Saturday: this week and the coming one
        ("2026-11-22", "2026-11-16", "2026-11-27"),  # Sunday
    ],
)
def test_demo_books_this_working_week_and_at_the_weekend_the_next(today, first, last):
    from datetime import date

    from clinic.scheduling.demo import demo_days

    days = demo_days(date.fromisoformat(today))
    assert days[0] == date.fromisoformat(first) and days[-1] == date.fromisoformat(last)
    assert all(d.weekday() < 5 for d in days) and len(days) == len(set(days))
