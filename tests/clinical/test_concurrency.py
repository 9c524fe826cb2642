"""Real threads, committed data: two saves of one draft with the same version at once — one
wins (200), the other is told (409 `version_conflict`), and nothing is lost."""

from __future__ import annotations

import json
import threading

import pytest
from django.db import connections
from django.test import Client

from clinic.core.tenancy import tenant_context
from tests.clinical.factories import SOAP, note_make, setup_build
from tests.conftest import org_create, persona_create, unique_slug


@pytest.fixture
def committed_setup(live_db):
    org = org_create(unique_slug("notes-race"))
    owner = persona_create(org, "owner")
    doc = persona_create(org, "practitioner")
    return setup_build(owner, doc)


def test_two_concurrent_saves_one_wins_one_conflicts_nothing_lost(committed_setup):
    setup = committed_setup
    note = note_make(setup)
    barrier = threading.Barrier(2)
    results: list = [None, None]

    def save(i):
        client = Client()
        try:
            barrier.wait()
            response = client.patch(
                f"/api/v1/notes/{note.id}",
                data=json.dumps({"sections": {**SOAP, "plan": f"writer {i}"}, "version": 1}),
                content_type="application/json",
                **setup.practitioner.headers,
            )
            results[i] = (response.status_code, response.json())
        finally:
            connections.close_all()

    threads = [threading.Thread(target=save, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    codes = sorted(code for code, _body in results)
    assert codes == [200, 409], results
    winner = next(body for code, body in results if code == 200)
    loser = next(body for code, body in results if code == 409)
    assert loser["error"]["code"] == "version_conflict"
    assert loser["error"]["details"]["current_version"] == 2
    with tenant_context(setup.owner.org.id, setup.owner.user.id):
        from clinic.clinical.models import ClinicalNote, NoteVersion

        stored = ClinicalNote.objects.get(id=note.id)
        assert stored.version == 2 and stored.sections == winner["sections"]
        assert NoteVersion.objects.filter(note=note).count() == 2
