"""Planning messages for appointments: confirmation and reminders when booked, re-planned when
moved, never for a cancelled appointment; quiet hours; recipients and languages."""

from __future__ import annotations

import datetime

import pytest
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from clinic.notifications.models import Delivery
from clinic.notifications.services import appointment_notifications_plan
from tests.notifications.conftest import appointment_make, at, contact_make, patient_make

pytestmark = pytest.mark.django_db


def _queued(appointment, event=None):
    qs = Delivery.objects.filter(subject_id=appointment.pk, status="queued")
    if event:
        qs = qs.filter(event=event)
    return list(qs.order_by("scheduled_for"))


def test_booking_plans_a_confirmation_and_two_reminders(clinic, tenant):
    patient = patient_make(clinic, email="sam@example.org", phone="+33611111111")
    start = at(days=3, hour=15)
    with tenant(clinic.org):
        appt = appointment_make(clinic, patient, start)
        planned = appointment_notifications_plan(appointment=appt, event="booked")
        assert {(d.event, d.channel) for d in planned} == {
            ("appointment.booked", "email"),
            ("appointment.booked", "sms"),
            ("appointment.reminder", "email"),
            ("appointment.reminder", "sms"),
        } and len(planned) == 6
        reminders = _queued(appt, "appointment.reminder")
        times = sorted({d.scheduled_for for d in reminders})
        assert times == [start - datetime.timedelta(hours=24), start - datetime.timedelta(hours=2)]
        # each delivery has a deferred task, in the same transaction
        for d in reminders:
            task = DBTaskResult.objects.get(id=d.task_id)
            assert task.run_after == d.scheduled_for
            assert task.args_kwargs["args"] == [str(clinic.org.id), str(d.id)]
        # planning again creates nothing new (idempotency keys)
        assert appointment_notifications_plan(appointment=appt, event="booked") == []
        assert Delivery.objects.filter(subject_id=appt.pk).count() == 6


def test_reminder_offsets_are_configurable_per_organization(clinic, tenant):
    from clinic.notifications.services import notification_settings_update

    patient = patient_make(clinic)
    start = at(days=5, hour=11)
    with tenant(clinic.org):
        notification_settings_update(reminder_offsets_minutes=[72 * 60, 30])
        appt = appointment_make(clinic, patient, start)
        appointment_notifications_plan(appointment=appt, event="booked")
        times = [d.scheduled_for for d in _queued(appt, "appointment.reminder")]
        assert times == [
            start - datetime.timedelta(hours=72),
            start - datetime.timedelta(minutes=30),
        ]


def test_a_moved_appointment_gets_its_reminders_at_the_new_time(clinic, tenant):
    patient = patient_make(clinic)
    start = at(days=3, hour=15)
    with tenant(clinic.org):
        appt = appointment_make(clinic, patient, start)
        appointment_notifications_plan(appointment=appt, event="booked")
        old = _queued(appt, "appointment.reminder")
        new_start = at(days=6, hour=10)
        appt.start_at, appt.end_at = new_start, new_start + datetime.timedelta(minutes=45)
        appt.occupied_start, appt.occupied_end = appt.start_at, appt.end_at
        appt.save()
        appointment_notifications_plan(appointment=appt, event="rescheduled", previous_start=start)
        for d in old:
            d.refresh_from_db()
            assert d.status == "cancelled"
            assert not DBTaskResult.objects.filter(id=d.task_id).exists()  # task row removed
        reminders = _queued(appt, "appointment.reminder")
        assert [d.scheduled_for for d in reminders] == [
            new_start - datetime.timedelta(hours=24),
            new_start - datetime.timedelta(hours=2),
        ]
        moved = _queued(appt, "appointment.rescheduled")
        assert len(moved) == 1 and moved[0].context["old_start_at"] == start.isoformat()
        # moved back to the first time: the cancelled reminders are planned again, not duplicated
        appt.start_at, appt.end_at = start, start + datetime.timedelta(minutes=45)
        appt.occupied_start, appt.occupied_end = appt.start_at, appt.end_at
        appt.save()
        appointment_notifications_plan(
            appointment=appt, event="rescheduled", previous_start=new_start
        )
        assert [d.scheduled_for for d in _queued(appt, "appointment.reminder")] == [
            start - datetime.timedelta(hours=24),
            start - datetime.timedelta(hours=2),
        ]


def test_a_cancelled_appointment_never_gets_a_reminder(clinic, tenant, run_tasks, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    from django.core import mail

    patient = patient_make(clinic)
    start = at(days=2, hour=16)
    with tenant(clinic.org):
        appt = appointment_make(clinic, patient, start)
        appointment_notifications_plan(appointment=appt, event="booked")
        appt.status = "cancelled"
        appt.cancelled_at = timezone.now()
        appt.cancel_reason = "Therapist unwell"
        appt.save()
        appointment_notifications_plan(appointment=appt, event="cancelled")
        assert _queued(appt, "appointment.reminder") == []
        cancelled = _queued(appt, "appointment.cancelled")
        assert len(cancelled) == 1
    # even if a reminder task ran (catch-up, clock skew), it would find the delivery cancelled
    run_tasks(now=start)
    subjects = [m.subject for m in mail.outbox]
    assert any("cancelled" in s for s in subjects)
    assert not any("Reminder" in s for s in subjects)
    assert "Therapist unwell" in mail.outbox[-1].body


def test_a_reminder_for_an_appointment_cancelled_after_planning_is_not_sent(
    clinic, tenant, run_tasks, settings
):
    """Cancelled without the planner being told (e.g. a direct status change): the send-time
    check still refuses."""
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    from django.core import mail

    patient = patient_make(clinic)
    start = at(days=2, hour=16)
    with tenant(clinic.org):
        appt = appointment_make(clinic, patient, start)
        appointment_notifications_plan(appointment=appt, event="booked")
        reminder = _queued(appt, "appointment.reminder")[0]
        type(appt).objects.filter(pk=appt.pk).update(
            status="cancelled", cancelled_at=timezone.now()
        )
    mail.outbox.clear()
    run_tasks(now=reminder.scheduled_for + datetime.timedelta(seconds=1))
    assert not any("Reminder" in m.subject for m in mail.outbox)
    with tenant(clinic.org):
        reminder.refresh_from_db()
        assert reminder.status == "cancelled"
        assert "no longer upcoming" in reminder.last_error


def test_quiet_hours_move_reminders_earlier_and_other_messages_later(clinic, tenant):
    from clinic.notifications.services import contact_preference_update

    patient = patient_make(clinic)
    # 08:30 appointment: the 2-hour reminder would go at 06:30, inside 21:00–08:00 quiet hours
    start = at(days=3, hour=8, minute=30)
    with tenant(clinic.org):
        appt = appointment_make(clinic, patient, start)
        appointment_notifications_plan(appointment=appt, event="booked")
        reminders = _queued(appt, "appointment.reminder")
        local = [d.scheduled_for.astimezone(start.tzinfo) for d in reminders]
        assert local[0] == start - datetime.timedelta(hours=24)  # 08:30 the day before
        assert (local[1].date(), local[1].hour, local[1].minute) == (
            (start - datetime.timedelta(days=1)).date(),
            20,
            59,
        )
        # the patient's own quiet hours override the clinic's
        contact_preference_update(
            patient=patient,
            quiet_hours_start=datetime.time(12, 0),
            quiet_hours_end=datetime.time(14, 0),
        )
    from clinic.notifications.services import quiet_hours_adjust

    noonish = at(days=1, hour=13, minute=15)
    quiet = (datetime.time(12, 0), datetime.time(14, 0))
    later = quiet_hours_adjust(noonish, quiet=quiet, time_zone="Europe/Paris", earlier=False)
    earlier = quiet_hours_adjust(noonish, quiet=quiet, time_zone="Europe/Paris", earlier=True)
    assert later.astimezone(noonish.tzinfo).hour == 14
    assert earlier.astimezone(noonish.tzinfo).strftime("%H:%M") == "11:59"


def test_a_booking_made_at_night_is_announced_in_the_morning(clinic, tenant, monkeypatch):
    import clinic.notifications.services as services

    patient = patient_make(clinic)
    night = at(days=1, hour=23, minute=10)
    monkeypatch.setattr(services.timezone, "now", lambda: night)
    start = at(days=4, hour=10)
    with tenant(clinic.org):
        appt = appointment_make(clinic, patient, start)
        appointment_notifications_plan(appointment=appt, event="booked")
        (booked,) = _queued(appt, "appointment.booked")
        local = booked.scheduled_for.astimezone(start.tzinfo)
        assert (local.hour, local.minute) == (8, 0)
        assert local.date() == (night.astimezone(start.tzinfo) + datetime.timedelta(days=1)).date()


def test_guardians_receive_messages_for_their_patients_when_flagged(clinic, tenant):
    dog = patient_make(clinic, email="", species="dog", given="Rex", family="")
    owner = contact_make(clinic, dog, email="owner@example.org", relationship="owner", primary=True)
    contact_make(
        clinic,
        dog,
        email="neighbour@example.org",
        relationship="emergency_contact",
        primary=False,
        given="Paul",
        family="Voisin",
    )
    child = patient_make(clinic, email="", given="Léa", family="Petit")
    parent = contact_make(
        clinic,
        child,
        email="parent@example.org",
        relationship="parent",
        primary=False,
        clinical=True,
        given="Marc",
        family="Petit",
    )
    with tenant(clinic.org):
        for hour, patient, expected in ((14, dog, {owner.email}), (16, child, {parent.email})):
            appt = appointment_make(clinic, patient, at(days=3, hour=hour))
            appointment_notifications_plan(appointment=appt, event="booked")
            addresses = {d.to_address for d in _queued(appt)}
            assert addresses == expected
            assert all(d.recipient_kind == "contact" for d in _queued(appt))


def test_unsubscribed_recipients_get_no_reminders_but_still_hear_of_changes(clinic, tenant):
    from clinic.notifications.services import contact_preference_update

    patient = patient_make(clinic)
    with tenant(clinic.org):
        contact_preference_update(patient=patient, reminders_enabled=False)
        appt = appointment_make(clinic, patient, at(days=3, hour=14))
        appointment_notifications_plan(appointment=appt, event="booked")
        assert [d.event for d in _queued(appt)] == ["appointment.booked"]
        skipped = Delivery.objects.filter(subject_id=appt.pk, status="skipped")
        assert {d.event for d in skipped} == {"appointment.reminder"}


def test_holds_and_past_appointments_get_no_messages(clinic, tenant):
    patient = patient_make(clinic)
    with tenant(clinic.org):
        past = appointment_make(clinic, patient, at(days=-1, hour=10))
        assert appointment_notifications_plan(appointment=past, event="booked") == []
        soon = appointment_make(clinic, patient, at(minutes=50))
        planned = appointment_notifications_plan(appointment=soon, event="booked")
        # booked 50 minutes ahead: a confirmation, no reminder (both offsets have passed)
        assert {d.event for d in planned} == {"appointment.booked"}


def test_catch_up_plans_missing_reminders_once(clinic, tenant):
    from clinic.notifications.services import reminders_catch_up

    patient = patient_make(clinic)
    with tenant(clinic.org):
        appt = appointment_make(clinic, patient, at(hours=20))  # never announced
        result = reminders_catch_up()
        assert result["planned"] == 1  # the 2-hour reminder (the 24-hour one has passed)
        assert reminders_catch_up()["planned"] == 0
        assert len(_queued(appt, "appointment.reminder")) == 1


def test_catch_up_requeues_a_delivery_whose_task_was_lost(clinic, tenant):
    from clinic.notifications.services import reminders_catch_up

    patient = patient_make(clinic)
    with tenant(clinic.org):
        appt = appointment_make(clinic, patient, at(days=3, hour=14))
        (booked,) = appointment_notifications_plan(appointment=appt, event="booked")[:1]
        DBTaskResult.objects.filter(id=booked.task_id).delete()
        Delivery.objects.filter(pk=booked.pk).update(
            scheduled_for=timezone.now() - datetime.timedelta(hours=1)
        )
        assert reminders_catch_up()["requeued"] == 1
        booked.refresh_from_db()
        assert DBTaskResult.objects.filter(id=booked.task_id, status="READY").exists()


def test_status_changes_keep_reminders_until_the_appointment_is_over(clinic, tenant):
    patient = patient_make(clinic)
    with tenant(clinic.org):
        appt = appointment_make(clinic, patient, at(days=3, hour=14))
        appointment_notifications_plan(appointment=appt, event="booked")
        appt.status = "confirmed"
        appt.save()
        assert appointment_notifications_plan(appointment=appt, event="status") == []
        assert len(_queued(appt, "appointment.reminder")) == 2  # confirming keeps them
        appt.status = "checked_in"
        appt.save()
        appointment_notifications_plan(appointment=appt, event="status")
        assert _queued(appt, "appointment.reminder") == []
