"""Retention rules (core/privacy.py), applied by the daily job `privacy.retention`: each rule
removes or empties only what is older than its period, in its own organization."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from clinic.core.privacy import RETENTION_RULES
from clinic.core.tenancy import tenant_context
from clinic.privacy.services import retention_apply

pytestmark = pytest.mark.django_db


def test_every_rule_is_declared_with_a_period():
    assert {
        "core.idempotency_keys",
        "accounts.sessions_expired",
        "notifications.delivered",
        "notifications.notices_read",
        "directory.import_uploads",
    } <= set(RETENTION_RULES)


def test_idempotency_keys_older_than_a_day_go(api, owner_a, owner_b):
    from clinic.core.models import IdempotencyRecord

    for persona, key in ((owner_a, "old-a"), (owner_a, "new-a"), (owner_b, "old-b")):
        response = api.post(
            "locations",
            persona,
            json={"name": f"Site {key}", "time_zone": "Europe/Paris"},
            headers={"HTTP_IDEMPOTENCY_KEY": key},
        )
        assert response.status_code == 201, response.content
    for persona, key in ((owner_a, "old-a"), (owner_b, "old-b")):
        with tenant_context(persona.org.id):
            IdempotencyRecord.objects.filter(key=key).update(
                created_at=timezone.now() - timedelta(days=2)
            )
    with tenant_context(owner_a.org.id):
        done = retention_apply()
        assert done["core.idempotency_keys"] == 1
        assert list(IdempotencyRecord.objects.values_list("key", flat=True)) == ["new-a"]
    with tenant_context(owner_b.org.id):  # another clinic's run does its own
        assert IdempotencyRecord.objects.filter(key="old-b").exists()


def test_old_messages_lose_their_text_and_old_read_notices_go(owner_a):
    from clinic.notifications.models import Delivery, Notification
    from clinic.notifications.services import notification_create
    from tests.notifications.conftest import appointment_make, at, clinic_make, patient_make

    clinic = clinic_make(owner_a.org, owner_a)
    patient = patient_make(clinic, email="old@example.org")
    with tenant_context(owner_a.org.id, owner_a.user.id):
        from clinic.notifications.services import appointment_notifications_plan

        appt = appointment_make(clinic, patient, at(days=3, hour=10))
        appointment_notifications_plan(appointment=appt, event="booked")
        deliveries = list(Delivery.objects.filter(patient_id=patient.id))
        old, recent = deliveries[0], deliveries[1]
        Delivery.objects.filter(id=old.id).update(
            status="sent",
            sent_at=timezone.now() - timedelta(days=200),
            rendered_subject="Your appointment",
            rendered_body="See you soon",
            scheduled_for=timezone.now() - timedelta(days=200),
        )
        Delivery.objects.filter(id=recent.id).update(
            status="sent", sent_at=timezone.now(), rendered_body="Recent text"
        )
        for days, read in ((400, True), (400, False), (10, True)):
            n = notification_create(
                user_id=owner_a.user.id,
                event="staff.patient_booking",
                context={"patient_name": "Asha Rao", "when": "x"},
                language="en",
                category="patient_bookings",
            )
            Notification.objects.filter(id=n.id).update(
                read_at=timezone.now() - timedelta(days=days) if read else None
            )
        done = retention_apply()
        assert done["notifications.delivered"] == 1
        old.refresh_from_db()
        recent.refresh_from_db()
        assert old.rendered_body == old.rendered_subject == "" and old.status == "sent"
        assert recent.rendered_body == "Recent text"
        assert done["notifications.notices_read"] == 1
        assert Notification.objects.filter(user_id=owner_a.user.id).count() == 2


def test_abandoned_import_uploads_lose_their_file(owner_a):
    from clinic.directory.models import PatientImport

    with tenant_context(owner_a.org.id, owner_a.user.id):
        rows = [
            PatientImport.objects.create(
                created_by_id=owner_a.user.id, filename=f"{n}.csv", content="given_name\nAna\n"
            )
            for n in ("old", "new")
        ]
        PatientImport.objects.filter(id=rows[0].id).update(
            created_at=timezone.now() - timedelta(days=8)
        )
        assert retention_apply()["directory.import_uploads"] == 1
        contents = dict(PatientImport.objects.values_list("filename", "content"))
        assert contents == {"old.csv": "", "new.csv": "given_name\nAna\n"}


def test_expired_sessions_are_swept(client, owner_a):
    """A signed-in session is kept until it expires, then swept (by the owner-run function)."""
    client.force_login(owner_a.user)
    assert client.get("/").status_code == 200
    with tenant_context(owner_a.org.id):
        assert retention_apply()["accounts.sessions_expired"] == 0
        later = timezone.now() + timedelta(days=400)
        assert retention_apply(now=later)["accounts.sessions_expired"] >= 1
    assert client.get("/").status_code == 302  # signed out: the session is gone
