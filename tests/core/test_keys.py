"""Field-encryption keys: none configured is a start-up error (never a key derived from
SECRET_KEY), and `clinic keys rotate` moves every stored value and document — signed notes,
their versions and addenda included — to a new key, in resumable batches, readable after."""

from __future__ import annotations

import base64
import os

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.files.storage import default_storage
from django.db import connections

from clinic.core import fields
from clinic.core.tenancy import tenant_context

OLD = "old1:" + base64.b64encode(b"o" * 32).decode()
NEW = "new1:" + base64.b64encode(b"n" * 32).decode()
PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\n%%EOF\n"
SOAP = {"subjective": "Sore neck", "objective": "Stiff", "assessment": "Strain", "plan": "Rest"}


@pytest.fixture
def keys(settings):
    """Switch FIELD_ENCRYPTION_KEYS for the test (and back)."""

    def use(raw: str) -> None:
        settings.FIELD_ENCRYPTION_KEYS = raw
        fields.keys_reset()

    yield use
    fields.keys_reset()


def test_no_key_is_an_error_not_a_derived_key(keys, monkeypatch):
    from clinic.core.startup import serving_refused_reason

    monkeypatch.delenv("FIELD_ENCRYPTION_KEYS", raising=False)
    keys("")
    with pytest.raises(ImproperlyConfigured, match="FIELD_ENCRYPTION_KEYS is not set"):
        fields.encrypt("secret")
    assert "FIELD_ENCRYPTION_KEYS" in serving_refused_reason()


def test_values_of_the_old_derived_key_stay_readable_for_rotation(keys):
    import hashlib

    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    from django.conf import settings

    legacy = hashlib.sha256(b"clinic-field-encryption:" + settings.SECRET_KEY.encode()).digest()
    nonce = os.urandom(12)
    blob = nonce + AESGCM(legacy).encrypt(nonce, b"old text", b"sk")
    keys(NEW)
    assert fields.decrypt("enc1:sk:" + base64.b64encode(blob).decode()) == "old text"
    assert fields.encrypt("new text").startswith("enc1:new1:")


def _stored(table: str, column: str, org_id) -> list[str]:
    with tenant_context(org_id, using="owner"):
        with connections["owner"].cursor() as cur:
            cur.execute(f"SELECT {column} FROM {table}")
            return [row[0] for row in cur.fetchall()]


def test_rotation_moves_notes_versions_addenda_and_documents(
    keys, live_db, settings, tmp_path, capsys
):
    from clinic.cli import main
    from clinic.clinical import selectors, services
    from clinic.clinical.models import Document
    from clinic.core.keys import keys_rotate
    from tests.clinical.factories import actor_of
    from tests.conftest import org_create, persona_create
    from tests.scheduling.conftest import clinic_build

    settings.MEDIA_ROOT = str(tmp_path)
    keys(OLD)
    owner = persona_create(org_create(), "owner")
    clinic = clinic_build(owner, rules=False)
    actor = actor_of(owner)
    org = owner.org.id
    with tenant_context(org, owner.user.id):
        encounter = services.encounter_create(
            actor=actor, patient_id=clinic.patients[0].id, practitioner_id=clinic.practitioner.id
        )
        notes = []
        for _ in range(3):
            note = services.note_create(
                actor=actor, encounter=encounter, template="soap", sections=SOAP
            )
            services.note_sign(actor=actor, note_id=note.id)
            services.addendum_add(actor=actor, note_id=note.id, text="Called back: better")
            notes.append(note.id)
        document = services.document_upload(
            actor=actor, patient_id=clinic.patients[0].id, data=PDF, title="Scan"
        )
    old_file = document.storage_name
    for table, column in (
        ("clinical_clinicalnote", "sections"),
        ("clinical_noteversion", "sections"),
        ("clinical_addendum", "text"),
    ):
        assert all(v.startswith("enc1:old1:") for v in _stored(table, column, org))

    keys(f"{NEW},{OLD}")
    # a first pass of one row per batch, stopped after the notes: the rest is picked up later
    first = keys_rotate(batch=1, organization_ids=[org])
    assert first.rotated["clinical_clinicalnote.sections"] == 3
    assert first.rotated["clinical documents"] == 1
    again = keys_rotate(batch=1, organization_ids=[org])
    assert again.total == 0  # resumable: nothing is left under the old key

    for table, column in (
        ("clinical_clinicalnote", "sections"),
        ("clinical_noteversion", "sections"),
        ("clinical_addendum", "text"),
    ):
        assert all(v.startswith("enc1:new1:") for v in _stored(table, column, org)), table
    keys(NEW)  # the old key is gone: everything still reads
    with tenant_context(org, owner.user.id):
        for note_id in notes:
            assert selectors.note_for_actor(actor, note_id).sections == SOAP
        rotated = Document.objects.get(id=document.id)
        assert rotated.key_id == "new1" and rotated.storage_name != old_file
        _doc, data = services.document_read(actor=actor, document_id=document.id)
        assert data == PDF
    assert not default_storage.exists(old_file)

    # the command says what it did
    keys(f"{OLD},{NEW}")
    assert main(["keys", "rotate", "--org", owner.org.slug, "--batch", "2"]) == 0
    out = capsys.readouterr().out
    assert "clinical_clinicalnote.sections: 3 re-encrypted" in out and "'old1'" in out


def test_the_app_role_cannot_rewrite_a_signed_note_even_declaring_a_rotation(keys, live_db):
    from django.db import DatabaseError

    from clinic.clinical import services
    from tests.clinical.factories import actor_of
    from tests.conftest import org_create, persona_create
    from tests.scheduling.conftest import clinic_build

    keys(OLD)
    owner = persona_create(org_create(), "owner")
    clinic = clinic_build(owner, rules=False)
    actor = actor_of(owner)
    with tenant_context(owner.org.id, owner.user.id):
        encounter = services.encounter_create(
            actor=actor, patient_id=clinic.patients[0].id, practitioner_id=clinic.practitioner.id
        )
        note = services.note_create(
            actor=actor, encounter=encounter, template="soap", sections=SOAP
        )
        services.note_sign(actor=actor, note_id=note.id)
    with pytest.raises(DatabaseError, match="signed"):
        with tenant_context(owner.org.id, owner.user.id):
            with connections["default"].cursor() as cur:
                cur.execute("SELECT set_config('app.key_rotation', 'on', true)")
                cur.execute(
                    "UPDATE clinical_clinicalnote SET sections = %s WHERE id = %s",
                    [fields.encrypt('{"plan": "changed"}'), note.id],
                )
