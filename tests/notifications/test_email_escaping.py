"""Issue 18, defect 10: plain-text parts (email text, SMS, in-app) are not HTML: O'Brien arrives
as O'Brien, not O&#x27;Brien; the HTML part of the email escapes each value exactly once."""

from __future__ import annotations

import pytest

from clinic.notifications.services import appointment_notifications_plan
from tests.conftest import org_create, persona_create, unique_slug
from tests.notifications.conftest import (
    appointment_make,
    at,
    clinic_make,
    contact_make,
    patient_make,
)

pytestmark = pytest.mark.django_db

ORG_NAME = "St Mary's <Care> & Co"


@pytest.fixture
def obrien_clinic(db, tenant):
    from clinic.notifications.services import notification_settings_update

    org = org_create(unique_slug("obrien"), ORG_NAME)
    clinic = clinic_make(org, persona_create(org, "owner"))
    with tenant(org):
        notification_settings_update(quiet_hours_start=None, quiet_hours_end=None)
    return clinic


def test_an_email_to_obrien_is_not_escaped_in_text_and_escaped_once_in_html(
    obrien_clinic, tenant, smtp, run_tasks
):
    clinic = obrien_clinic
    patient = patient_make(clinic, email="obrien@example.org", given="Siobhán", family="O'Brien")
    with tenant(clinic.org):
        appointment = appointment_make(clinic, patient, at(days=3, hour=15))
        appointment_notifications_plan(appointment=appointment, event="booked")
    run_tasks()
    (msg,) = smtp.parsed()
    text = msg.get_body(("plain",)).get_content()
    assert "Siobhán O'Brien" in text and ORG_NAME in text
    assert "&#x27;" not in text and "&amp;" not in text and "&lt;" not in text
    assert msg["Subject"].startswith(f"{ORG_NAME}: appointment booked")
    html = msg.get_body(("html",)).get_content()
    assert "Siobhán O&#x27;Brien" in html
    assert "St Mary&#x27;s &lt;Care&gt; &amp; Co" in html
    assert "&amp;#x27;" not in html and "&amp;lt;" not in html and "&amp;amp;" not in html


def test_sms_and_in_app_texts_are_not_escaped(obrien_clinic, tenant, run_tasks, settings):
    from clinic.notifications.messages import message_render

    context = {
        "recipient_name": "Seán O'Brien",
        "patient_name": "Niamh O'Brien",
        "for_self": False,
        "org_name": ORG_NAME,
        "when": "Mon 3 Mar, 09:00",
        "service_name": "Physio & Rehab",
        "practitioner_name": "Dr O'Neil",
        "location_name": "Centre",
    }
    sms = message_render(
        template="appointment_booked", channel="sms", language="en", context=context
    )
    in_app = message_render(
        template="appointment_booked", channel="in_app", language="en", context=context
    )
    assert "Niamh O'Brien's appointment" in sms.text and ORG_NAME in sms.text
    assert "Physio & Rehab with Dr O'Neil" in in_app.text
    for rendered in (sms, in_app):
        assert "&#x27;" not in rendered.text + rendered.subject
        assert "&amp;" not in rendered.text + rendered.subject


def test_a_guardian_email_names_the_patient_plainly(obrien_clinic, tenant, smtp, run_tasks):
    clinic = obrien_clinic
    patient = patient_make(clinic, email="", given="Niamh", family="O'Brien")
    contact_make(clinic, patient, email="mum@example.org", given="Máire", family="O'Brien")
    with tenant(clinic.org):
        appointment = appointment_make(clinic, patient, at(days=3, hour=15))
        appointment_notifications_plan(appointment=appointment, event="booked")
    run_tasks()
    (msg,) = smtp.parsed()
    text = msg.get_body(("plain",)).get_content()
    assert "O'Brien" in text and "&#x27;" not in text
