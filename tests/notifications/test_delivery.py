"""Deliveries to a real SMTP server on loopback (aiosmtpd): what arrives, in which language,
bounces, temporary failures and retries, and staff told of failures."""

from __future__ import annotations

import datetime

import pytest
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from clinic.notifications.models import Delivery, Notification
from clinic.notifications.services import appointment_notifications_plan
from tests.notifications.conftest import appointment_make, at, contact_make, patient_make

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _no_quiet_hours(clinic, tenant):
    """Messages go at once whatever the time the tests run (quiet hours: test_reminders)."""
    from clinic.notifications.services import notification_settings_update

    with tenant(clinic.org):
        notification_settings_update(quiet_hours_start=None, quiet_hours_end=None)


def _plan_booking(clinic, tenant, patient, start=None):
    with tenant(clinic.org):
        appt = appointment_make(clinic, patient, start or at(days=3, hour=15))
        appointment_notifications_plan(appointment=appt, event="booked")
    return appt


def test_a_booking_confirmation_arrives_once_by_smtp(clinic, tenant, smtp, run_tasks):
    patient = patient_make(clinic, email="sam@example.org")
    appt = _plan_booking(clinic, tenant, patient)
    run_tasks()
    assert smtp.count() == 1
    (msg,) = smtp.parsed()
    assert msg["To"] == "sam@example.org"
    assert "Clinic A" in msg["From"]
    assert msg["Subject"].startswith("Clinic A: appointment booked for ")
    body = msg.get_body(("plain",)).get_content()
    assert "Dr Alice Martin" in body and "Physiotherapy" in body and "1 rue de la Paix" in body
    html = msg.get_body(("html",)).get_content()
    assert 'dir="ltr"' in html
    with tenant(clinic.org):
        (d,) = Delivery.objects.filter(subject_id=appt.pk, event="appointment.booked")
        assert d.status == "sent" and d.sent_at and d.attempts == 1
        assert "queued as Q1" in d.provider_message_id
        assert msg["Message-ID"] in d.provider_message_id
        assert d.rendered_subject == msg["Subject"]
    run_tasks()
    assert smtp.count() == 1  # nothing sent twice


def test_times_are_shown_in_the_locations_zone(clinic, tenant, smtp, run_tasks):
    patient = patient_make(clinic)
    start = datetime.datetime(2031, 3, 14, 13, 30, tzinfo=datetime.UTC)  # 14:30 in Paris
    _plan_booking(clinic, tenant, patient, start)
    run_tasks()
    (msg,) = smtp.parsed()
    assert "Friday, 14 March 2031, 14:30" in msg["Subject"]  # Paris: en_FR style, 24-hour


def test_french_and_arabic_recipients_get_their_language(clinic, tenant, smtp, run_tasks):
    fr = patient_make(clinic, email="fr@example.org", language="fr", given="Élise")
    ar = patient_make(clinic, email="ar@example.org", language="ar", given="Karim", family="Haddad")
    start = datetime.datetime(2031, 3, 14, 13, 30, tzinfo=datetime.UTC)
    _plan_booking(clinic, tenant, fr, start)
    _plan_booking(clinic, tenant, ar, start + datetime.timedelta(hours=2))
    run_tasks()
    by_to = {m["To"]: m for m in smtp.parsed()}
    fr_msg, ar_msg = by_to["fr@example.org"], by_to["ar@example.org"]
    fr_body = fr_msg.get_body(("plain",)).get_content()
    assert (
        fr_msg["Subject"].strip()
        == "Clinic A : rendez-vous réservé le vendredi 14 mars 2031, 14:30"
    )
    assert fr_body.startswith("Bonjour Élise Durand,")
    assert "Votre rendez-vous chez Clinic A est réservé" in fr_body
    assert "Physiotherapy avec Dr Alice Martin" in fr_body
    ar_body = ar_msg.get_body(("plain",)).get_content()
    assert ar_body.startswith("مرحبًا Karim Haddad،")
    assert "تم حجز موعدك لدى Clinic A" in ar_body
    assert "الجمعة، 14 مارس 2031" in ar_body and "4:30 م" in ar_body
    assert 'dir="rtl"' in ar_msg.get_body(("html",)).get_content()


def test_a_reminder_email_carries_a_working_unsubscribe_link(
    clinic, tenant, smtp, run_tasks, client
):
    patient = patient_make(clinic, email="sam@example.org")
    appt = _plan_booking(clinic, tenant, patient, at(days=2, hour=15))
    with tenant(clinic.org):
        reminder = Delivery.objects.filter(
            subject_id=appt.pk, event="appointment.reminder"
        ).order_by("scheduled_for")[0]
    run_tasks(now=reminder.scheduled_for + datetime.timedelta(seconds=1))
    reminders = [m for m in smtp.parsed() if m["Subject"].startswith("Reminder")]
    assert len(reminders) == 1
    msg = reminders[0]
    link = msg["List-Unsubscribe"].strip().strip("<>")
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert link in msg.get_body(("plain",)).get_content()
    path = link.split("://", 1)[1].split("/", 1)[1]
    page = client.get("/" + path)
    assert page.status_code == 200 and b"Stop appointment reminders?" in page.content
    done = client.post("/" + path)  # one-click: no session, no CSRF token
    assert done.status_code == 200 and b"no longer receive reminders" in done.content
    with tenant(clinic.org):
        from clinic.notifications.selectors import contact_preference_get

        pref = contact_preference_get(patient=patient)
        assert pref.reminders_enabled is False and pref.unsubscribed_at is not None
        # the other reminder, still queued, is skipped when its time comes
        other = Delivery.objects.filter(
            subject_id=appt.pk, event="appointment.reminder", status="queued"
        ).first()
    run_tasks(now=other.scheduled_for + datetime.timedelta(seconds=1))
    with tenant(clinic.org):
        other.refresh_from_db()
        assert other.status == "skipped"
    assert client.get("/notifications/unsubscribe/forged-token/").status_code == 404


def test_a_refused_address_bounces_and_staff_are_told(
    clinic, tenant, smtp, run_tasks, persona_factory
):
    manager = persona_factory("manager")
    smtp.refuse["nobody@example.org"] = "550 5.1.1 No such user"
    patient = patient_make(clinic, email="nobody@example.org")
    appt = _plan_booking(clinic, tenant, patient)
    run_tasks()
    assert smtp.count() == 0
    with tenant(clinic.org):
        (d,) = Delivery.objects.filter(subject_id=appt.pk, event="appointment.booked")
        assert d.status == "bounced" and "No such user" in d.last_error
        alerts = Notification.objects.filter(event="staff.delivery_failed")
        assert {n.user_id for n in alerts} == {clinic.owner.user.id, manager.user.id}
        assert "nobody@example.org" in alerts[0].body
        assert alerts[0].link.endswith(f"/notifications/deliveries/{d.pk}/")


def test_temporary_failures_are_retried_then_recorded(clinic, tenant, smtp, run_tasks):
    smtp.data_reply = "451 4.3.0 Try again later"
    patient = patient_make(clinic, email="sam@example.org")
    appt = _plan_booking(clinic, tenant, patient)
    with tenant(clinic.org):
        (d,) = Delivery.objects.filter(subject_id=appt.pk, event="appointment.booked")
    moment = timezone.now()
    for attempt in range(1, 7):
        run_tasks(now=moment)
        with tenant(clinic.org):
            d.refresh_from_db()
        task = DBTaskResult.objects.get(id=d.task_id)
        if attempt < 6:
            assert d.status == "queued", attempt
            assert "Try again later" in d.last_error
            assert task.status == "READY"
            moment = task.run_after + datetime.timedelta(seconds=1)
    # the server accepted none of them (4xx to the final "."), so none counts as delivered
    assert d.status == "failed" and d.attempts == 6
    assert task.status == "SUCCESSFUL"  # the task finished its job: recording the failure
    with tenant(clinic.org):
        assert Notification.objects.filter(event="staff.delivery_failed").exists()
    # a manager sends it again once the provider is back
    smtp.data_reply = None
    from clinic.notifications.services import delivery_retry

    with tenant(clinic.org):
        delivery_retry(delivery=d)
    run_tasks()
    with tenant(clinic.org):
        d.refresh_from_db()
    assert d.status == "sent"
    assert len([m for m in smtp.messages]) == 7  # 6 refused + 1 accepted transactions seen


def test_smtp_down_is_a_temporary_failure(clinic, tenant, settings, run_tasks):
    from tests.notifications.conftest import free_port

    settings.EMAIL_BACKEND = "clinic.notifications.mail.SMTPBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", free_port()
    patient = patient_make(clinic, email="sam@example.org")
    appt = _plan_booking(clinic, tenant, patient)
    run_tasks()
    with tenant(clinic.org):
        (d,) = Delivery.objects.filter(subject_id=appt.pk, event="appointment.booked")
    assert d.status == "queued" and "ConnectionRefused" in d.last_error
    assert DBTaskResult.objects.get(id=d.task_id).status == "READY"


def test_sms_goes_through_the_provider_interface(clinic, tenant, run_tasks, settings):
    from clinic.notifications.sms import LoggingSmsProvider

    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    LoggingSmsProvider.outbox.clear()
    patient = patient_make(clinic, email="", phone="+33611111111", language="fr")
    _plan_booking(
        clinic, tenant, patient, datetime.datetime(2031, 3, 14, 13, 30, tzinfo=datetime.UTC)
    )
    run_tasks()
    (sms,) = list(LoggingSmsProvider.outbox)
    assert sms["to"] == "+33611111111"
    assert sms["body"] == (
        "Clinic A : votre rendez-vous est réservé le vendredi 14 mars 2031, 14:30 avec "
        "Dr Alice Martin."
    )
    assert sms["idempotency_key"].endswith("sms:patient:" + str(patient.pk))


def test_a_guardian_gets_the_message_about_the_patient(clinic, tenant, smtp, run_tasks):
    cat = patient_make(clinic, email="", species="cat", given="Mimi", family="")
    contact_make(clinic, cat, email="owner@example.org", language="fr")
    _plan_booking(clinic, tenant, cat)
    run_tasks()
    (msg,) = smtp.parsed()
    assert msg["To"] == "owner@example.org"
    assert (
        "Le rendez-vous de Mimi chez Clinic A est réservé" in msg.get_body(("plain",)).get_content()
    )
