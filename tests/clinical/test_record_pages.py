"""The chart's "Clinical summary" card and the banner (chart and note editor): who sees them,
the htmx forms (card back, banner out of band, refusals in words), the read logged, and a
constant query count with and without records."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from clinic.clinical import services
from tests.clinical.factories import actor_of, note_make

pytestmark = pytest.mark.django_db


@pytest.fixture
def login(client):
    def as_(persona):
        client.force_login(persona.user)
        return client

    return as_


def _fill(setup, tenant, *, times: int = 1):
    actor = actor_of(setup.practitioner)
    now = timezone.now()
    with tenant(setup.practitioner.org, setup.practitioner.user):
        for i in range(times):
            services.allergy_create(
                actor=actor,
                patient_id=setup.patient.id,
                substance=f"Substance {i}",
                severity=("life_threatening", "mild")[i % 2],
            )
            services.alert_create(
                actor=actor, patient_id=setup.patient.id, text=f"Alert {i}", level="danger"
            )
            services.condition_create(actor=actor, patient_id=setup.patient.id, code="J45.0")
            for code, value in (("weight", "70"), ("heart_rate", "72"), ("temperature", "37.1")):
                services.observation_create(
                    actor=actor,
                    patient_id=setup.patient.id,
                    code=code,
                    value=value,
                    recorded_at=now - timedelta(days=i + 1),
                )


def test_the_banner_distinguishes_not_recorded_from_none_known(login, setup):
    client = login(setup.practitioner)
    path = f"/patients/{setup.patient.id}/"
    html = client.get(path).content.decode()
    assert 'id="clinical-summary"' in html and 'data-state="not_recorded"' in html
    assert "Allergies not recorded" in html and 'id="no-vitals"' in html
    answered = client.post(
        f"/patients/{setup.patient.id}/allergies/none-known/", HTTP_HX_REQUEST="true"
    )
    assert answered.status_code == 200
    text = answered.content.decode()
    assert 'data-state="none_known"' in text and 'hx-swap-oob="true"' in text
    assert 'data-state="none_known"' in client.get(path).content.decode()


def test_the_card_adds_and_refuses_in_words(login, setup, tenant):
    client = login(setup.practitioner)
    base = f"/patients/{setup.patient.id}"
    added = client.post(
        f"{base}/allergies/",
        {"substance": "Penicillin", "severity": "life_threatening", "reaction": "Anaphylaxis"},
        HTTP_HX_REQUEST="true",
    )
    text = added.content.decode()
    assert added.status_code == 200 and 'id="banner-urgent"' in text and "Penicillin" in text
    bad = client.post(
        f"{base}/observations/", {"code": "temperature", "value": "55"}, HTTP_HX_REQUEST="true"
    )
    assert bad.status_code == 422 and "Body temperature must be between" in bad.content.decode()
    ok = client.post(
        f"{base}/observations/",
        {
            "code": "weight",
            "value": "70.2",
            "recorded_at": (timezone.now() - timedelta(days=2)).strftime("%Y-%m-%dT%H:%M"),
        },
        HTTP_HX_REQUEST="true",
    )
    assert ok.status_code == 200 and 'data-vital="weight"' in ok.content.decode()
    wrong = client.post(f"{base}/conditions/", {"code": "nonsense"}, HTTP_HX_REQUEST="true")
    assert wrong.status_code == 422 and "is not an ICD-10 code" in wrong.content.decode()
    plain = client.post(f"{base}/conditions/", {"code": "E11"})
    assert plain.status_code == 302 and plain["Location"].endswith("#clinical-summary")
    choices = client.get("/icd10/choices/?code=asthma").content.decode()
    assert '<option value="J45">' in choices
    alert = client.post(f"{base}/alerts/", {"text": "Needle phobia", "level": "danger"})
    assert alert.status_code == 302
    html = client.get(f"{base}/").content.decode()
    assert "Needle phobia" in html and "Type 2 diabetes mellitus" in html


def test_front_desk_sees_neither_card_nor_banner(login, setup, persona_factory, tenant):
    _fill(setup, tenant)
    assistant = persona_factory("assistant")
    html = login(assistant).get(f"/patients/{setup.patient.id}/").content.decode()
    assert 'id="clinical-summary"' not in html and 'id="alerts"' not in html
    refused = login(assistant).post(
        f"/patients/{setup.patient.id}/allergies/", {"substance": "X", "severity": "mild"}
    )
    assert refused.status_code in (403, 404)


def test_the_note_editor_shows_the_banner(login, setup, tenant):
    _fill(setup, tenant)
    note = note_make(setup)
    html = login(setup.practitioner).get(f"/notes/{note.id}/").content.decode()
    assert 'id="banner-urgent"' in html and "Substance 0" in html and "Alert 0" in html


@pytest.mark.parametrize("role", ["owner", "practitioner"])
def test_the_chart_keeps_a_constant_query_count_with_records(login, setup, tenant, role):
    persona = {"owner": setup.owner, "practitioner": setup.practitioner}[role]
    client = login(persona)
    path = f"/patients/{setup.patient.id}/"
    client.get(path)

    def count():
        with CaptureQueriesContext(connection) as ctx:
            assert client.get(path).status_code == 200
        return len(ctx.captured_queries)

    empty = count()
    _fill(setup, tenant)
    one = count()
    _fill(setup, tenant, times=8)
    assert count() == one
    # an empty record skips the review lookup only when allergies are active
    assert abs(one - empty) <= 1


def test_today_lists_the_notes_still_to_write_and_the_cosignatures(login, setup, tenant):
    from tests.clinical.factories import appointment_make, encounter_make

    clinic = setup.clinic
    now = timezone.now().replace(microsecond=0)
    with tenant(setup.owner.org, setup.owner.user):
        visits = [
            appointment_make(
                clinic,
                practitioner=setup.profile,
                patient=setup.patient,
                start=now - timedelta(days=days, hours=2),
                status="completed",
            )
            for days in (1, 3, 20)
        ]
    # the first visit gets its signed note, the second only a draft; the third is too old
    actor = actor_of(setup.practitioner)
    with tenant(setup.practitioner.org, setup.practitioner.user):
        signed = note_make(setup, encounter=encounter_make(setup, appointment_id=visits[0].id))
        services.note_sign(actor=actor, note_id=signed.id)
        draft = note_make(setup, encounter=encounter_make(setup, appointment_id=visits[1].id))
    html = login(setup.practitioner).get("/").content.decode()
    assert 'id="today-notes"' in html
    assert f'data-appointment="{visits[1].id}"' in html
    assert f'data-appointment="{visits[0].id}"' not in html
    assert f'data-appointment="{visits[2].id}"' not in html
    assert f"/notes/{draft.id}/" in html


def test_my_day_shows_serious_allergies_and_danger_alerts(login, setup, tenant):
    from zoneinfo import ZoneInfo

    _fill(setup, tenant)
    zone = ZoneInfo(setup.owner.org.time_zone)
    day = setup.appointment.start_at.astimezone(zone).date().isoformat()
    html = login(setup.practitioner).get(f"/?day={day}").content.decode()
    row = html.split(f'data-alerts-for="{setup.patient.id}"', 1)[1].split("</div>", 1)[0]
    assert "Allergy: Substance 0" in row and "Alert 0" in row and " hidden" not in row[:20]


def test_the_cosignature_queue_on_today(login, setup, tenant, persona_factory):
    from clinic.directory import services as directory
    from tests.clinical.factories import encounter_make

    supervisor = persona_factory("practitioner")
    with tenant(setup.owner.org, setup.owner.user):
        profile = directory.practitioner_create(
            actor=actor_of(setup.owner),
            data={"display_name": "Dr Supervisor", "membership_id": str(supervisor.membership.id)},
        )
    with tenant(setup.practitioner.org, setup.practitioner.user):
        note = note_make(
            setup, encounter=encounter_make(setup), requires_cosign=True, cosigner_id=profile.id
        )
        services.note_sign(actor=actor_of(setup.practitioner), note_id=note.id)
    html = login(supervisor).get("/").content.decode()
    assert 'id="today-cosign"' in html and f'data-note="{note.id}"' in html
