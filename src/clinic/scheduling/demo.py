"""The demo clinic's schedule: Monday-to-Friday hours for every practitioner and a realistic week
of appointments around today (past ones completed or missed), booked through the services so
they pass the same checks as real bookings; plus one weekly series."""

from __future__ import annotations

import random
from datetime import date, datetime, time, timedelta

from django.utils import timezone

from clinic.core.errors import DomainError

HOURS = [(time(9), time(12, 30)), (time(13, 30), time(18))]


def scheduling_demo_create(*, organization) -> int:
    """Call inside the organization's tenant context, after the directory demo. Returns the
    number of appointments booked."""
    from clinic.accounts.models import Membership
    from clinic.directory.models import Location, Patient, Practitioner, PractitionerService
    from clinic.scheduling import services
    from clinic.scheduling.models import Appointment, AvailabilityRule
    from clinic.scheduling.selectors import tz

    actor = Membership.objects.select_related("organization", "user").filter(role="owner").first()
    practitioners = list(Practitioner.objects.filter(is_active=True).order_by("display_name"))
    first_location = Location.objects.filter(is_active=True).order_by("name").first()
    if actor is None or not practitioners or first_location is None:
        return 0
    rules = []
    for p in practitioners:
        location_id = p.default_location_id or first_location.id
        for weekday in range(5):
            for start, end in HOURS:
                rules.append(
                    AvailabilityRule(
                        organization_id=organization.id,
                        practitioner=p,
                        location_id=location_id,
                        weekday=weekday,
                        start_time=start,
                        end_time=end,
                    )
                )
    AvailabilityRule.objects.bulk_create(rules)
    patients = list(Patient.objects.filter(archived_at__isnull=True).order_by("mrn")[:60])
    offered: dict = {}
    for link in PractitionerService.objects.select_related("service"):
        if link.service.is_active:
            offered.setdefault(link.practitioner_id, []).append(link.service)
    if not patients:
        return 0
    rng = random.Random(f"demo:{organization.slug}")
    days = demo_days(timezone.localdate(timezone=tz(organization.time_zone)))
    booked = []
    for p in practitioners:
        zone = tz((p.default_location or first_location).time_zone)
        for day in days:
            for start, end in HOURS:
                cursor = datetime.combine(day, start, tzinfo=zone)
                stop = datetime.combine(day, end, tzinfo=zone)
                while cursor < stop:
                    if rng.random() < 0.3:  # a free gap
                        cursor += timedelta(minutes=30)
                        continue
                    service = rng.choice(offered.get(p.id) or [None])
                    if service is None:
                        break
                    try:
                        appointment = services.appointment_book(
                            actor=actor,
                            practitioner_id=p.id,
                            patient_id=rng.choice(patients).id,
                            service_id=service.id,
                            start=cursor + timedelta(minutes=service.buffer_before_minutes),
                            # a demo clinic has a history: past days are booked on purpose
                            override=True,
                        )
                    except DomainError:
                        cursor += timedelta(minutes=15)
                        continue
                    booked.append(appointment)
                    cursor = appointment.occupied_end
    now = timezone.now()
    for appointment in booked:
        if appointment.end_at < now:
            status = "no_show" if rng.random() < 0.07 else "completed"
        elif appointment.start_at < now:
            status = "in_progress"
        else:
            status = "confirmed" if rng.random() < 0.4 else "scheduled"
        if status != "scheduled":
            Appointment.objects.filter(id=appointment.id).update(
                status=status, status_changed_at=now
            )
    # one weekly series, for a patient with a plan of care
    p = practitioners[0]
    if offered.get(p.id):
        zone = tz((p.default_location or first_location).time_zone)
        monday = days[0] - timedelta(days=days[0].weekday())
        start = datetime.combine(monday + timedelta(days=7 + 3), time(17), tzinfo=zone)
        try:
            services.series_create(
                actor=actor,
                practitioner_id=p.id,
                patient_id=patients[0].id,
                service_id=offered[p.id][0].id,
                start=start,
                rrule="FREQ=WEEKLY;COUNT=8",
                on_conflict="skip",
            )
        except DomainError:
            pass
    return len(booked)


def demo_days(today: date) -> list[date]:
    """The working days the demo books: Monday to Friday of this week and, at the weekend, of
    the coming week too, so the calendar opened today shows a lived-in week and the days ahead
    are never all empty."""
    monday = today - timedelta(days=today.weekday())
    weeks = 2 if today.weekday() >= 5 else 1
    return [monday + timedelta(days=7 * w + d) for w in range(weeks) for d in range(5)]
