"""The patient chart page (/patients/{id}/): each section with its data and its empty state, the
timeline's filter and "Older" fragment, cancelling from the chart, access, and a constant
number of queries whatever the history size."""

from __future__ import annotations

import re
import uuid
from datetime import date

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from clinic.core.tenancy import tenant_context
from tests.conftest import persona_create
from tests.directory.chart_rows import history_build, plan_make

pytestmark = pytest.mark.django_db

# the day after the first history day: ORIGIN's appointment is past, the later ones upcoming
NOW = "2031-03-03T12:00:00+00:00"


@pytest.fixture
def login(client):
    def as_(persona):
        client.force_login(persona.user)
        return client

    return as_


def _upcoming(history, status="scheduled"):
    from clinic.scheduling.models import Appointment

    with tenant_context(history.clinic.org.id):
        Appointment.objects.filter(patient=history.patient, start_at__gt=NOW).update(status=status)


def _section(html: str, section_id: str) -> str:
    match = re.search(rf'<section[^>]*id="{section_id}".*?</section>', html, re.S)
    assert match, f"no #{section_id} section"
    return match.group(0)


def test_every_section_shows_its_data(login, owner_a, clock):
    from tests.billing import factories as billing

    clock.travel(NOW)
    history = history_build(owner_a, appointments=3, payments=1, deliveries=1)
    _upcoming(history)
    plan_make(owner_a, history, title="Shoulder rehab")
    invoice = billing.issued_invoice(owner_a, history.patient, issue_date=date(2031, 1, 1))
    html = login(owner_a).get(f"/patients/{history.patient.id}/").content.decode()

    assert "may receive clinical information" not in html  # no contact yet: none shown
    assert history.patient.mrn in html
    assert 'id="patient-age"' in html and "51 years old" in html  # born 1980-01-01
    # nothing to warn about: no red box, only that allergies were never asked about
    assert 'id="banner-urgent"' not in html and 'data-state="not_recorded"' in html
    upcoming = _section(html, "appointments")
    # 4 Mar 2031 10:00 in Paris (09:00 UTC), shown in the clinic's zone
    assert "10:00" in upcoming and "Reschedule" in upcoming and "Confirm cancellation" in upcoming
    assert "Completed" in upcoming  # the past one, with its status
    assert "Shoulder rehab" in _section(html, "plans")
    assert "0 of 6 done" in _section(html, "plans")
    billing_html = _section(html, "billing")
    assert invoice.number in billing_html and "Overdue" in billing_html
    assert "20,00\xa0€" in billing_html  # the payment, in the clinic's regional style (en-FR)
    assert 'id="balance-due"' in html
    assert "Reminder: your appointment" in _section(html, "messages")
    timeline = _section(html, "timeline")
    for text in ("Shoulder rehab", invoice.number, "Reminder: your appointment", "Payment"):
        assert text in timeline
    assert "Older" not in timeline


def test_every_section_has_its_empty_state(login, owner_a):
    history = history_build(owner_a, appointments=0, payments=0, deliveries=0)
    html = login(owner_a).get(f"/patients/{history.patient.id}/").content.decode()
    for marker in (
        "no-upcoming",
        "no-past",
        "no-plans",
        "no-invoices",
        "no-payments",
        "no-messages",
        "timeline-empty",
    ):
        assert f'id="{marker}"' in html, marker
    assert "Book one" in html
    assert "Appointments, treatment plans, clinical notes" not in html


def test_an_animal_shows_its_species_and_owner(login, owner_a):
    from tests.directory import factories

    pet = factories.patient(owner_a, given_name="Rex", species="dog", breed="Beagle")
    factories.link(owner_a, pet, may_receive_clinical_info=True)
    html = login(owner_a).get(f"/patients/{pet.id}/").content.decode()
    assert 'id="patient-species"' in html and "Beagle" in html
    assert "Owners and contacts" in html and "may receive clinical information" in html


def test_timeline_filter_and_older_fragment(login, owner_a):
    history = history_build(owner_a, appointments=15, payments=15, deliveries=0)
    client = login(owner_a)
    html = client.get(f"/patients/{history.patient.id}/").content.decode()
    timeline = _section(html, "timeline")
    assert timeline.count('class="list-group-item px-0 timeline-item"') == 20
    older = re.search(r'hx-get="([^"]+)"', timeline).group(1).replace("&amp;", "&")
    more = client.get(older, HTTP_HX_REQUEST="true").content.decode()
    assert more.count("timeline-item") == 10 and "Older" not in more

    only = client.get(f"/patients/{history.patient.id}/?kind=payment").content.decode()
    kinds = set(re.findall(r'timeline-item" data-kind="(\w+)"', _section(only, "timeline")))
    assert kinds == {"payment"}
    # a cursor that is not one starts from the newest rather than failing
    bad = client.get(f"/patients/{history.patient.id}/?before=garbage")
    assert bad.status_code == 200


def test_cancel_from_the_chart(login, owner_a, clock):
    from clinic.scheduling.models import Appointment

    clock.travel(NOW)
    history = history_build(owner_a, appointments=3, payments=0, deliveries=0)
    _upcoming(history)
    client = login(owner_a)
    target = history.appointments[-1]
    other = history.clinic.patients[1]
    # through another patient's chart: not found, nothing changed
    response = client.post(
        f"/patients/{other.id}/appointments/{target.id}/cancel/", {"reason": "x"}
    )
    assert response.status_code == 404
    response = client.post(
        f"/patients/{history.patient.id}/appointments/{target.id}/cancel/",
        {"reason": "Patient is ill"},
    )
    assert response.status_code == 302
    assert response["Location"].endswith(f"/patients/{history.patient.id}/#appointments")
    with tenant_context(owner_a.org.id):
        cancelled = Appointment.objects.get(id=target.id)
    assert cancelled.status == "cancelled" and cancelled.cancel_reason == "Patient is ill"
    assert client.get(f"/patients/{history.patient.id}/").status_code == 200


def test_cancel_needs_the_permission(login, owner_a, persona_factory, clock):
    clock.travel(NOW)
    history = history_build(owner_a, appointments=3, payments=0, deliveries=0)
    _upcoming(history)
    patient_login = persona_factory("patient")
    target = history.appointments[-1]
    response = login(patient_login).post(
        f"/patients/{history.patient.id}/appointments/{target.id}/cancel/"
    )
    assert response.status_code == 403


def test_access_other_clinic_and_patient_role(login, owner_a, owner_b):
    from clinic.directory.models import Patient

    theirs = history_build(owner_b, appointments=1, payments=0, deliveries=0)
    assert login(owner_a).get(f"/patients/{theirs.patient.id}/").status_code == 404
    assert login(owner_a).get(f"/patients/{theirs.patient.id}/timeline/").status_code == 404
    assert login(owner_a).get(f"/patients/{uuid.uuid4()}/").status_code == 404

    mine = history_build(owner_a, appointments=1, payments=1, deliveries=1)
    me = persona_create(owner_a.org, "patient")
    with tenant_context(owner_a.org.id):
        Patient.objects.filter(id=mine.patient.id).update(membership_id=me.membership.id)
    html = login(me).get(f"/patients/{mine.patient.id}/").content.decode()
    assert 'id="billing"' in html and 'id="messages"' not in html  # the desk's message log
    assert "Confirm cancellation" not in html
    assert login(me).get(f"/patients/{mine.clinic.patients[1].id}/").status_code == 404


def _page_queries(client, path) -> int:
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(path)
    assert response.status_code == 200
    return len(ctx.captured_queries)


@pytest.mark.parametrize("role", ["owner", "assistant", "practitioner"])
def test_chart_queries_are_constant(login, owner_a, persona_factory, clock, role):
    from tests.billing import factories as billing

    clock.travel(NOW)
    persona = owner_a if role == "owner" else persona_factory(role)
    small = history_build(owner_a, appointments=3, payments=1, deliveries=1)
    large = history_build(owner_a, appointments=200, payments=150, deliveries=150)
    for history in (small, large):
        _upcoming(history)
        plan_make(owner_a, history)
    for _ in range(3):
        billing.issued_invoice(owner_a, large.patient)
    billing.issued_invoice(owner_a, small.patient)
    client = login(persona)
    client.get(f"/patients/{small.patient.id}/")  # warm: the session's first request
    counts = [_page_queries(client, f"/patients/{h.patient.id}/") for h in (small, large)]
    assert counts[0] == counts[1], counts
    fragment = [
        _page_queries(client, f"/patients/{h.patient.id}/timeline/?kind=payment")
        for h in (small, large)
    ]
    assert fragment[0] == fragment[1], fragment


@pytest.mark.parametrize(("language", "words"), [("fr", "Chronologie"), ("ar", "السجل الزمني")])
def test_the_chart_in_french_and_arabic(login, owner_a, language, words):
    history = history_build(owner_a, appointments=1, payments=1, deliveries=0)
    client = login(owner_a)
    html = client.get(
        f"/patients/{history.patient.id}/", HTTP_ACCEPT_LANGUAGE=language
    ).content.decode()
    assert words in html and "Nothing in the timeline yet." not in html
