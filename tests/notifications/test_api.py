"""The notifications API: the in-app centre (list, unread count, mark read), settings,
contact preferences, the delivery log; permissions, validation, constant query counts."""

from __future__ import annotations

import pytest

from clinic.notifications.services import notification_create
from tests.notifications.conftest import appointment_make, at, patient_make

pytestmark = pytest.mark.django_db


def _notify(persona, n=1, category="system", event="staff.delivery_failed"):
    from clinic.core.tenancy import tenant_context

    with tenant_context(persona.org.id):
        for i in range(n):
            notification_create(
                user_id=persona.user.id,
                event=event,
                context={
                    "recipient_name": f"R{i}",
                    "to_address": "x@example.org",
                    "error": "550",
                    "channel_label": "Email",
                    "message_subject": "S",
                },
                language=persona.user.preferred_locale or "en",
                category=category,
                link="/notifications/",
            )


def test_list_and_unread_count(api, owner_a, practitioner_a):
    _notify(owner_a, 3)
    _notify(practitioner_a, 1)
    r = api.get("notifications", owner_a)
    assert r.status_code == 200
    body = r.json()
    assert body["count"] == 3 and len(body["items"]) == 3
    assert body["items"][0]["title"] == "Message not delivered to R2"
    assert api.get("notifications/unread-count", owner_a).json() == {"unread": 3}
    assert api.get("notifications/unread-count", practitioner_a).json() == {"unread": 1}


def test_mark_one_and_all_read(api, owner_a, practitioner_a):
    _notify(owner_a, 3)
    _notify(practitioner_a, 1)
    first = api.get("notifications", owner_a).json()["items"][0]
    r = api.post(f"notifications/{first['id']}/read", owner_a)
    assert r.status_code == 200 and r.json()["read_at"]
    assert api.get("notifications/unread-count", owner_a).json() == {"unread": 2}
    assert api.get("notifications?unread=true", owner_a).json()["count"] == 2
    assert api.get("notifications?unread=false", owner_a).json()["count"] == 1
    # someone else's notification: not found
    theirs = api.get("notifications", practitioner_a).json()["items"][0]["id"]
    assert api.post(f"notifications/{theirs}/read", owner_a).status_code == 404
    assert api.post("notifications/read-all", owner_a).json() == {"marked": 2}
    assert api.get("notifications/unread-count", owner_a).json() == {"unread": 0}
    assert api.get("notifications/unread-count", practitioner_a).json() == {"unread": 1}


def test_list_filters_validate(api, owner_a):
    r = api.get("notifications?category=nonsense", owner_a)
    assert r.status_code == 422
    assert "category" in r.json()["error"]["details"]


def test_notification_list_query_count_is_constant(api, owner_a, django_assert_max_num_queries):
    _notify(owner_a, 2)
    with django_assert_max_num_queries(12) as small:
        api.get("notifications?page_size=2", owner_a)
    _notify(owner_a, 40)
    with django_assert_max_num_queries(len(small.captured_queries)):
        r = api.get("notifications?page_size=40", owner_a)
    assert len(r.json()["items"]) == 40


def test_user_settings_mute_a_category(api, owner_a, persona_factory):
    r = api.patch(
        "notifications/settings",
        owner_a,
        json={"muted_categories": ["delivery_failures"], "email_copies": True},
    )
    assert r.status_code == 200, r.content
    assert r.json() == {"muted_categories": ["delivery_failures"], "email_copies": True}
    bad = api.patch("notifications/settings", owner_a, json={"muted_categories": ["nope"]})
    assert bad.status_code == 422 and "muted_categories" in bad.json()["error"]["details"]

    from clinic.core.tenancy import tenant_context
    from clinic.notifications.models import Notification
    from clinic.notifications.selectors import staff_to_notify

    with tenant_context(owner_a.org.id):
        targets = staff_to_notify(category="delivery_failures", permission="delivery.view")
        assert owner_a.user.id not in {m.user_id for m, _s in targets}
        assert Notification.objects.count() == 0


def test_organization_settings(api, owner_a, practitioner_a):
    r = api.get("notification-settings", practitioner_a)
    assert r.status_code == 200 and r.json()["reminder_offsets_minutes"] == [1440, 120]
    assert (
        api.patch("notification-settings", practitioner_a, json={"sms_enabled": False}).status_code
        == 403
    )
    r = api.patch(
        "notification-settings",
        owner_a,
        json={"reminder_offsets_minutes": [120, 2880], "sms_enabled": False},
    )
    assert r.status_code == 200, r.content
    assert r.json()["reminder_offsets_minutes"] == [2880, 120]
    assert r.json()["sms_enabled"] is False
    bad = api.patch("notification-settings", owner_a, json={"reminder_offsets_minutes": [1]})
    assert bad.status_code == 422
    assert "reminder_offsets_minutes" in bad.json()["error"]["details"]
    half = api.patch(
        "notification-settings",
        owner_a,
        json={"quiet_hours_start": "22:00", "quiet_hours_end": None},
    )
    assert half.status_code == 422 and "quiet_hours_end" in half.json()["error"]["details"]
    # nothing was written by the refused requests
    assert api.get("notification-settings", owner_a).json()["quiet_hours_start"] == "21:00:00"


def test_patient_contact_preferences(api, owner_a, owner_b, clinic):
    patient = patient_make(clinic)
    path = f"patients/{patient.pk}/contact-preferences"
    r = api.get(path, owner_a)
    assert r.status_code == 200 and r.json()["reminders_enabled"] is True
    r = api.patch(
        path,
        owner_a,
        json={
            "language": "ar",
            "quiet_hours_start": "20:00",
            "quiet_hours_end": "09:00",
            "sms_enabled": False,
        },
    )
    assert r.status_code == 200, r.content
    assert r.json()["language"] == "ar" and r.json()["sms_enabled"] is False
    assert api.patch(path, owner_a, json={"language": "de"}).status_code == 422
    assert api.get(path, owner_b).status_code == 404


def test_delivery_log_permissions_and_retry(
    api, owner_a, practitioner_a, clinic, tenant, settings, run_tasks, django_assert_max_num_queries
):
    from clinic.notifications.services import appointment_notifications_plan

    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    patient = patient_make(clinic, phone="+33611111111")
    with tenant(clinic.org):
        appt = appointment_make(clinic, patient, at(days=3, hour=15))
        appointment_notifications_plan(appointment=appt, event="booked")
    assert api.get("deliveries", practitioner_a).status_code == 403
    with django_assert_max_num_queries(12):
        r = api.get("deliveries?page_size=200", owner_a)
    assert r.status_code == 200 and r.json()["count"] == 6
    queued = api.get("deliveries?status=queued&channel=email", owner_a).json()
    assert queued["count"] == 3
    assert api.get("deliveries?status=lost", owner_a).status_code == 422
    one = queued["items"][0]["id"]
    detail = api.get(f"deliveries/{one}", owner_a)
    assert detail.status_code == 200 and "rendered_body" in detail.json()
    r = api.post(f"deliveries/{one}/retry", owner_a)
    assert r.status_code == 422 and "status" in r.json()["error"]["details"]
    by_subject = api.get(f"deliveries?subject_id={appt.pk}", owner_a).json()
    assert by_subject["count"] == 6
