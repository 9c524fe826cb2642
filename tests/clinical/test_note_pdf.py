"""A signed note as PDF: its sections, signature and addenda are in the file (text extracted
with pypdf), a draft is refused,
the read is logged, and outside the caseload it is a 404 — through the API and the page."""

from __future__ import annotations

import io

import pypdf
import pytest

from clinic.clinical import services
from clinic.core.tenancy import tenant_context
from tests.clinical.factories import SOAP, actor_of, note_make

pytestmark = pytest.mark.django_db


def _text(body: bytes) -> str:
    return "\n".join(page.extract_text() for page in pypdf.PdfReader(io.BytesIO(body)).pages)


def test_a_signed_note_prints_with_its_addenda(api, client, setup, owner_b):
    note = note_make(setup)
    doc = setup.practitioner
    draft = api.get(f"notes/{note.id}/pdf", doc)
    assert draft.status_code == 409 and draft.json()["error"]["code"] == "note_draft"
    with tenant_context(doc.org.id, doc.user.id):
        actor = actor_of(doc)
        services.note_sign(actor=actor, note_id=note.id)
        services.addendum_add(actor=actor, note_id=note.id, text="Phoned the patient: better.")
    response = api.get(f"notes/{note.id}/pdf", doc)
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    assert response.content.startswith(b"%PDF")
    text = _text(response.content)
    assert SOAP["plan"] in text and "Phoned the patient" in text and "Signed by" in text
    assert api.get(f"notes/{note.id}/pdf", owner_b).status_code == 404
    log = api.get(f"patients/{setup.patient.id}/access-log", setup.owner).json()["items"]
    assert any(e["what"] == "pdf" and e["note_id"] == str(note.id) for e in log)

    client.force_login(doc.user)
    page = client.get(f"/notes/{note.id}/")
    assert 'id="note-pdf"' in page.content.decode()
    printed = client.get(f"/notes/{note.id}/pdf/?language=ar")
    assert printed.status_code == 200 and printed.content.startswith(b"%PDF")
