"""Pages: the bell in the layout, the notification list, settings pages, the delivery log and a
patient's contact preferences; permissions and constant query counts."""

from __future__ import annotations

import pytest

from tests.notifications.conftest import patient_make
from tests.notifications.test_api import _notify

pytestmark = pytest.mark.django_db


def _login(client, persona):
    from clinic.accounts.middleware import SESSION_ORG_KEY

    client.force_login(persona.user)
    session = client.session
    session[SESSION_ORG_KEY] = str(persona.org.id)
    session.save()
    return client


def test_the_layout_has_the_bell_and_it_counts(client, owner_a):
    _notify(owner_a, 3)
    c = _login(client, owner_a)
    home = c.get("/")
    assert b'id="notification-bell"' in home.content
    bell = c.get("/notifications/bell/")
    assert bell.status_code == 200
    assert b'data-unread="3"' in bell.content
    assert b"Notifications: 3 unread" in bell.content


def test_list_mark_read_and_all_read(client, owner_a, django_assert_max_num_queries):
    _notify(owner_a, 2)
    c = _login(client, owner_a)
    with django_assert_max_num_queries(20) as few:
        page = c.get("/notifications/")
    assert page.status_code == 200 and page.content.count(b'class="notification unread"') == 2
    _notify(owner_a, 20)
    with django_assert_max_num_queries(len(few.captured_queries)):
        assert c.get("/notifications/").status_code == 200
    from clinic.core.tenancy import tenant_context
    from clinic.notifications.models import Notification

    with tenant_context(owner_a.org.id):
        first = Notification.objects.first()
    r = c.post(f"/notifications/{first.pk}/read/", HTTP_HX_REQUEST="true")
    assert r.status_code == 200 and b'class="notification"' in r.content
    assert r["HX-Trigger"] == "notifications-changed"
    assert b'data-unread="21"' in c.get("/notifications/bell/").content
    r = c.post("/notifications/read-all/")
    assert r.status_code == 302
    assert b"data-unread" not in c.get("/notifications/bell/").content
    assert c.get("/notifications/?state=unread").content.count(b'class="notification unread"') == 0


def test_my_settings_page(client, practitioner_a):
    c = _login(client, practitioner_a)
    assert c.get("/notifications/settings/").status_code == 200
    r = c.post("/notifications/settings/", {"categories": ["appointments", "cancellations"]})
    assert r.status_code == 302
    from clinic.core.tenancy import tenant_context
    from clinic.notifications.selectors import user_notification_settings_get

    with tenant_context(practitioner_a.org.id):
        muted = user_notification_settings_get(practitioner_a.membership).muted_categories
    assert "patient_bookings" in muted and "appointments" not in muted


def test_organization_settings_page(client, owner_a, practitioner_a):
    assert (
        _login(client, practitioner_a).get("/notifications/organization-settings/").status_code
        == 403
    )
    c = _login(client, owner_a)
    page = c.get("/notifications/organization-settings/")
    assert page.status_code == 200 and b'value="24, 2"' in page.content
    bad = c.post("/notifications/organization-settings/", {"reminder_hours": "24, soon"})
    assert bad.status_code == 422 and b"id_reminder_hours_error" in bad.content
    ok = c.post(
        "/notifications/organization-settings/",
        {
            "reminder_hours": "48, 3",
            "overdue_reminder_days": "7",
            "email_enabled": "on",
            "quiet_hours_start": "22:00",
            "quiet_hours_end": "07:30",
        },
    )
    assert ok.status_code == 302
    assert b'value="48, 3"' in c.get("/notifications/organization-settings/").content


def test_delivery_pages(client, owner_a, practitioner_a, clinic, tenant):
    from clinic.notifications.services import appointment_notifications_plan
    from tests.notifications.conftest import appointment_make, at

    patient = patient_make(clinic)
    with tenant(clinic.org):
        appt = appointment_make(clinic, patient, at(days=3, hour=15))
        (d, *_rest) = appointment_notifications_plan(appointment=appt, event="booked")
    assert _login(client, practitioner_a).get("/notifications/deliveries/").status_code == 403
    c = _login(client, owner_a)
    page = c.get("/notifications/deliveries/")
    assert page.status_code == 200 and b"pat@example.org" in page.content
    assert b"Messages" in page.content  # the navigation item
    assert c.get(f"/notifications/deliveries/{d.pk}/").status_code == 200
    assert c.post(f"/notifications/deliveries/{d.pk}/retry/").status_code == 422


def test_patient_preferences_page(client, owner_a, owner_b, clinic):
    patient = patient_make(clinic)
    c = _login(client, owner_a)
    url = f"/notifications/patients/{patient.pk}/preferences/"
    page = c.get(url)
    assert page.status_code == 200 and b"pat@example.org" in page.content
    r = c.post(url, {"email_enabled": "on", "language": "fr", "quiet_hours_start": "21:00"})
    assert r.status_code == 422 and b"id_quiet_hours_end_error" in r.content
    r = c.post(url, {"email_enabled": "on", "reminders_enabled": "on", "language": "fr"})
    assert r.status_code == 302
    assert _login(client, owner_b).get(url).status_code == 404
