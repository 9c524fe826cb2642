"""The privacy pages: the chart links to them for owners and admins; the plan, the download,
and the two-step erasure as a person would do it; refusals told on the page."""

from __future__ import annotations

import json

import pytest

from clinic.core.tenancy import tenant_context
from tests.directory import factories

pytestmark = pytest.mark.django_db


def test_the_erasure_as_an_owner_does_it(client, owner_a, practitioner_a):
    from clinic.directory.models import Patient

    patient = factories.patient(owner_a, given_name="Maëlys", email="maelys@example.org")
    client.force_login(owner_a.user)
    chart = client.get(f"/patients/{patient.id}/").content.decode()
    assert 'id="personal-data-link"' in chart
    page = client.get(f"/patients/{patient.id}/privacy/")
    assert page.status_code == 200
    html = page.content.decode()
    assert 'id="privacy-plan"' in html and "Accounting records must be kept" in html
    export = client.get(f"/patients/{patient.id}/privacy/export.json")
    assert export["Content-Disposition"].startswith("attachment;")
    assert json.loads(export.content)["directory.identity"]["email"] == "maelys@example.org"
    # no reason: the page says so, nothing asked
    empty = client.post(f"/patients/{patient.id}/privacy/erase/", {"reason": " "})
    assert empty.status_code == 422 and 'id="privacy-error"' in empty.content.decode()
    asked = client.post(f"/patients/{patient.id}/privacy/erase/", {"reason": "Email of 2 Dec"})
    assert asked.status_code == 200
    confirm = asked.content.decode()
    assert "Erase permanently" in confirm and "Email of 2 Dec" in confirm
    code = confirm.split('name="confirmation" value="')[1].split('"')[0]
    with tenant_context(owner_a.org.id):
        assert Patient.objects.get(id=patient.id).given_name == "Maëlys"  # not yet
    done = client.post(f"/patients/{patient.id}/privacy/erase/confirm/", {"confirmation": code})
    assert done.status_code == 302
    after = client.get(done["Location"]).content.decode()
    assert 'id="erased-notice"' in after and 'id="erase-form"' not in after
    with tenant_context(owner_a.org.id):
        assert Patient.objects.get(id=patient.id).email == ""
    # a practitioner sees neither the link nor the page
    client.force_login(practitioner_a.user)
    assert client.get(f"/patients/{patient.id}/privacy/").status_code == 403


def test_a_blocked_erasure_is_explained_on_the_page_in_arabic(client, owner_a):
    from datetime import timedelta

    from django.utils import timezone

    from clinic.scheduling.models import Appointment
    from tests.scheduling.conftest import clinic_build

    clinic = clinic_build(owner_a)
    start = timezone.now() + timedelta(days=5)
    with tenant_context(owner_a.org.id, owner_a.user.id):
        Appointment.objects.create(
            practitioner=clinic.practitioner,
            patient=clinic.patients[0],
            service=clinic.consult,
            location=clinic.location,
            start_at=start,
            end_at=start + timedelta(hours=1),
            occupied_start=start,
            occupied_end=start + timedelta(hours=1),
            status="scheduled",
        )
    client.force_login(owner_a.user)
    client.defaults["HTTP_ACCEPT_LANGUAGE"] = "ar"
    url = f"/patients/{clinic.patients[0].id}/privacy/"
    page = client.get(url).content.decode()
    assert 'dir="rtl"' in page and "موعد واحد قادم" in page
    refused = client.post(url + "erase/", {"reason": "طلب مكتوب"})
    assert refused.status_code == 409
    assert "لا يمكن محو بيانات المريض بعد" in refused.content.decode()
    assert "طلب مكتوب" in refused.content.decode()  # what was typed is kept
