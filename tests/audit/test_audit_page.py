"""The audit log page reads as sentences: who (a name), did what (a verb), to which record (a
label and a link), which fields (their names only); filtered, paged, in constant queries."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from clinic.core.tenancy import tenant_context
from tests.scheduling.conftest import MONDAY, at, clinic_build

pytestmark = pytest.mark.django_db


def _appointment(clinic, patient, start):
    from clinic.scheduling.models import Appointment

    return Appointment.objects.create(
        practitioner=clinic.practitioner,
        patient=patient,
        service=clinic.consult,
        location=clinic.location,
        start_at=start,
        end_at=start + timedelta(minutes=30),
        occupied_start=start,
        occupied_end=start + timedelta(minutes=30),
    )


@pytest.fixture
def history(owner_a):
    from clinic.accounts.models import User

    with tenant_context(owner_a.org.id, owner_a.user.id):
        User.objects.filter(id=owner_a.user.id).update(full_name="Owner Demo")
    clinic = clinic_build(owner_a)
    with tenant_context(owner_a.org.id, owner_a.user.id):
        patient = clinic.patients[0]
        appointment = _appointment(clinic, patient, at(MONDAY, 9))
        later = at(MONDAY, 10)
        appointment.start_at = later
        appointment.end_at = later + timedelta(minutes=30)
        appointment.occupied_start = appointment.start_at
        appointment.occupied_end = appointment.end_at
        appointment.status = "confirmed"
        appointment.save()
    clinic.appointment = appointment
    return clinic


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", html))


def test_entries_are_sentences_with_names_fields_and_links(client, owner_a, history):
    client.force_login(owner_a.user)
    response = client.get("/audit/")
    assert response.status_code == 200
    html = response.content.decode()
    text = _text(html)
    patient = history.patients[0]
    assert f"Owner Demo changed the appointment of {patient.display_name} (end, start, status)" in (
        text
    )
    assert f"Owner Demo created patient {patient.display_name}" in text
    assert f'href="/appointments/{history.appointment.id}/"' in html
    assert f'href="/patients/{patient.id}/"' in html
    # no table names, no raw ids, no developer actions
    assert "scheduling_appointment" not in text and str(history.appointment.id) not in text
    assert "occupied" not in text


def test_filters_by_person_kind_and_date(client, owner_a, practitioner_a, history):
    client.force_login(owner_a.user)
    text = _text(client.get("/audit/?kind=directory_patient").content.decode())
    assert "created patient" in text and "appointment of" not in text
    html = client.get(f"/audit/?actor={practitioner_a.user.id}").content.decode()
    entries = _text(html.split('id="audit-entries"')[1])
    assert "created an API token" in entries and "Owner Demo" not in entries
    text = _text(client.get("/audit/?from=2000-01-01&to=2000-01-02").content.decode())
    assert "No audit events match these filters." in text
    # nonsense filters are ignored rather than failing
    assert client.get("/audit/?kind=pg_authid&from=yesterday&page=zzz").status_code == 200


def test_pages_and_in_french(client, owner_a, history):
    with tenant_context(owner_a.org.id, owner_a.user.id):
        for i in range(60):
            _appointment(history, history.patients[0], at(MONDAY + timedelta(days=i + 1), 9))
    client.force_login(owner_a.user)
    html = client.get("/audit/").content.decode()
    assert "Page 1 of" in html and "Older" in html
    assert "Page 2 of" in client.get("/audit/?page=2").content.decode()
    client.post("/i18n/setlang/", {"language": "fr", "next": "/"})
    text = _text(client.get("/audit/").content.decode())
    assert "Owner Demo a créé le rendez-vous de" in text


def _queries(client, path) -> int:
    with CaptureQueriesContext(connection) as ctx:
        assert client.get(path).status_code == 200
    return len(ctx.captured_queries)


def test_constant_queries_whatever_the_page_holds(client, owner_a, history):
    client.force_login(owner_a.user)
    few = _queries(client, "/audit/?kind=scheduling_appointment")
    with tenant_context(owner_a.org.id, owner_a.user.id):
        for i in range(30):
            _appointment(history, history.patients[i % 3], at(MONDAY + timedelta(days=i + 1), 9))
    many = _queries(client, "/audit/?kind=scheduling_appointment")
    assert many == few
    assert _queries(client, "/audit/") <= few + 15  # one query per kind of record on the page
