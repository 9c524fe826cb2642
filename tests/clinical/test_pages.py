"""The note page and the chart's "Encounters & notes": who sees what, autosave (saved / conflict),
signing, addenda, version history; every display of content logged; constant query counts."""

from __future__ import annotations

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from clinic.clinical.models import ClinicalNote
from tests.clinical.factories import SOAP, actor_of, note_make

pytestmark = pytest.mark.django_db


@pytest.fixture
def login(client):
    def as_(persona):
        client.force_login(persona.user)
        return client

    return as_


def _reads(setup, tenant, user):
    from clinic.clinical.selectors import patient_access_log

    with tenant(setup.owner.org, setup.owner.user):
        return [
            e
            for e in patient_access_log(setup.patient.id)
            if e.actor_id == user.id and e.action == "clinical_note.read"
        ]


def test_the_note_page_edits_a_draft_and_logs_the_read(login, setup, tenant):
    note = note_make(setup)
    client = login(setup.practitioner)
    html = client.get(f"/notes/{note.id}/").content.decode()
    assert 'id="note-editor"' in html and "Knee pain for two weeks." in html
    assert 'id="sign-open"' in html and 'name="version" id="note-version" value="1"' in html
    assert len(_reads(setup, tenant, setup.practitioner.user)) == 1
    body = {f"s_{k}": v for k, v in SOAP.items()} | {
        "s_plan": "Physio twice a week.",
        "version": "1",
    }
    saved = client.post(f"/notes/{note.id}/save/", body)
    assert saved.status_code == 200
    text = saved.content.decode()
    assert re.search(r"Saved \d{1,2}:\d{2}", text) and 'value="2"' in text and "hx-swap-oob" in text
    stale = client.post(f"/notes/{note.id}/save/", {**body, "s_plan": "Other", "version": "1"})
    assert stale.status_code == 409
    assert "saved by someone else" in stale.content.decode()
    assert "hx-swap-oob" not in stale.content.decode()  # the stale version is kept: no overwrite
    with tenant(setup.owner.org, setup.owner.user):
        assert ClinicalNote.objects.get(id=note.id).sections["plan"] == "Physio twice a week."
    history = client.get(f"/notes/{note.id}/").content.decode()
    assert "Version 2" in history and "diff-add" in history and "Physio twice a week." in history


def test_sign_then_add_an_addendum_on_the_page(login, setup, tenant):
    note = note_make(setup)
    client = login(setup.practitioner)
    response = client.post(f"/notes/{note.id}/sign/")
    assert response.status_code == 302
    html = client.get(f"/notes/{note.id}/").content.decode()
    assert 'id="note-editor"' not in html and 'id="addendum-form"' in html
    assert "Note signed." in html
    client.post(f"/notes/{note.id}/addenda/", {"text": "Phoned: better."})
    html = client.get(f"/notes/{note.id}/").content.decode()
    assert "Phoned: better." in html and "Addendum added." in html
    refused = client.post(f"/notes/{note.id}/save/", {"s_plan": "x", "version": "1"})
    assert refused.status_code == 409 and "add an addendum" in refused.content.decode()


def test_managers_see_that_a_note_exists_outsiders_get_404(login, setup, persona_factory, tenant):
    note = note_make(setup)
    manager = persona_factory("manager")
    html = login(manager).get(f"/notes/{note.id}/").content.decode()
    assert 'id="content-hidden"' in html and "Knee pain" not in html
    assert _reads(setup, tenant, manager.user) == []
    outsider = persona_factory("practitioner")
    assert login(outsider).get(f"/notes/{note.id}/").status_code == 404
    assert login(outsider).post(f"/notes/{note.id}/sign/").status_code == 404
    patient = persona_factory("patient")
    assert login(patient).get(f"/notes/{note.id}/").status_code == 403


def test_new_note_from_the_chart(login, setup, tenant):
    client = login(setup.practitioner)
    chart = client.get(f"/patients/{setup.patient.id}/").content.decode()
    assert 'id="encounters"' in chart and 'id="no-encounters"' in chart
    assert 'id="note-new-button"' in chart
    response = client.post(f"/patients/{setup.patient.id}/notes/new/", {"template": "dap"})
    assert response.status_code == 302
    page = client.get(response["Location"]).content.decode()
    assert 'id="s_data"' in page and 'id="s_subjective"' not in page
    chart = client.get(f"/patients/{setup.patient.id}/").content.decode()
    assert "DAP" in chart and "Draft" in chart
    # someone outside the caseload gets no "New note" and cannot start one
    stranger_chart = client.get(f"/patients/{setup.stranger.id}/").content.decode()
    assert 'id="note-new-button"' not in stranger_chart
    assert client.post(f"/patients/{setup.stranger.id}/notes/new/", {}).status_code == 404
    with tenant(setup.owner.org, setup.owner.user):
        assert not ClinicalNote.objects.filter(patient=setup.stranger).exists()


@pytest.mark.parametrize("role", ["owner", "practitioner", "assistant"])
def test_the_chart_keeps_a_constant_query_count_with_encounters(login, setup, tenant, role):
    persona = {"owner": setup.owner, "practitioner": setup.practitioner}.get(role)
    if persona is None:
        from tests.conftest import persona_create

        persona = persona_create(setup.owner.org, role)
    client = login(persona)
    path = f"/patients/{setup.patient.id}/"
    client.get(path)

    def count():
        with CaptureQueriesContext(connection) as ctx:
            assert client.get(path).status_code == 200
        return len(ctx.captured_queries)

    note_make(setup)
    small = count()
    actor = actor_of(setup.practitioner)
    from clinic.clinical import services

    with tenant(setup.practitioner.org, setup.practitioner.user):
        for _ in range(12):
            extra = note_make(setup)
            services.note_sign(actor=actor, note_id=extra.id)
            note_make(
                setup,
                encounter=extra.encounter,
                template="free",
                sections=[{"title": "T", "text": "x"}],
            )
    assert count() == small
