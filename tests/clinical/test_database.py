"""What the database itself guarantees, proved with raw SQL as the application role: a signed
note's content cannot change, versions and addenda are never updated, clinical text is stored
encrypted, and the audit log holds hashes of it, never the text."""

from __future__ import annotations

import json

import pytest
from django.db import connection, transaction

from clinic.audit.models import AuditEvent
from clinic.clinical import services
from clinic.core.tenancy import tenant_activate
from tests.clinical.factories import SOAP, actor_of, note_make

pytestmark = pytest.mark.django_db


def _sql(persona, statement, params=()):
    with transaction.atomic():
        tenant_activate(persona.org.id, persona.user.id)
        with connection.cursor() as cur:
            cur.execute(statement, params)
            return cur.fetchall() if cur.description else cur.rowcount


def _signed(setup, tenant):
    note = note_make(setup)
    with tenant(setup.practitioner.org, setup.practitioner.user):
        actor = actor_of(setup.practitioner)
        services.note_update(
            actor=actor, note_id=note.id, sections={"plan": "Second version"}, version=1
        )
        services.note_sign(actor=actor, note_id=note.id)
        services.addendum_add(actor=actor, note_id=note.id, text="Later words.")
    return note


def test_a_signed_note_s_sections_cannot_be_updated_in_sql(setup, tenant):
    note = _signed(setup, tenant)
    with pytest.raises(Exception, match="is signed"):
        _sql(
            setup.owner,
            "UPDATE clinical_clinicalnote SET sections = sections || 'x' WHERE id = %s",
            [note.id],
        )
    with pytest.raises(Exception, match="is signed"):
        _sql(
            setup.owner,
            "UPDATE clinical_clinicalnote SET status = 'draft' WHERE id = %s",
            [note.id],
        )
    with pytest.raises(Exception, match="cannot be deleted"):
        _sql(setup.owner, "DELETE FROM clinical_clinicalnote WHERE id = %s", [note.id])
    # what signing may still change: its co-signature fields
    assert (
        _sql(setup.owner, "UPDATE clinical_clinicalnote SET late = true WHERE id = %s", [note.id])
        == 1
    )


def test_a_draft_can_still_be_updated_in_sql(setup, tenant):
    note = note_make(setup)
    assert (
        _sql(
            setup.owner,
            "UPDATE clinical_clinicalnote SET version = version + 1 WHERE id = %s",
            [note.id],
        )
        == 1
    )


@pytest.mark.parametrize(
    ("table", "assignment"),
    [("clinical_noteversion", "number = number + 10"), ("clinical_addendum", "text = 'edited'")],
)
def test_versions_and_addenda_are_never_updated(setup, tenant, table, assignment):
    note = _signed(setup, tenant)
    with pytest.raises(Exception, match="never changed"):
        _sql(setup.owner, f"UPDATE {table} SET {assignment} WHERE note_id = %s", [note.id])


def test_an_addendum_cannot_be_deleted(setup, tenant):
    note = _signed(setup, tenant)
    with pytest.raises(Exception, match="never changed"):
        _sql(setup.owner, "DELETE FROM clinical_addendum WHERE note_id = %s", [note.id])


def test_clinical_text_is_stored_encrypted(setup, tenant):
    note = _signed(setup, tenant)
    rows = _sql(
        setup.owner,
        "SELECT n.sections, v.sections, a.text FROM clinical_clinicalnote n "
        "JOIN clinical_noteversion v ON v.note_id = n.id "
        "JOIN clinical_addendum a ON a.note_id = n.id WHERE n.id = %s",
        [note.id],
    )
    assert rows
    for row in rows:
        for stored in row:
            assert stored.startswith("enc1:")
            for plain in ("Knee pain", "Swelling", "Second version", "Later words", "subjective"):
                assert plain not in stored


def test_the_audit_log_holds_hashes_of_clinical_text_never_the_text(setup, tenant):
    note = _signed(setup, tenant)
    with tenant(setup.owner.org, setup.owner.user):
        events = list(
            AuditEvent.objects.filter(
                object_type__in=[
                    "clinical_clinicalnote",
                    "clinical_noteversion",
                    "clinical_addendum",
                ]
            )
        )
    assert {e.object_type for e in events} == {
        "clinical_clinicalnote",
        "clinical_noteversion",
        "clinical_addendum",
    }
    stored_ciphertexts = _sql(
        setup.owner, "SELECT sections FROM clinical_clinicalnote WHERE id = %s", [note.id]
    )[0]
    for event in events:
        dumped = json.dumps([event.before, event.after, event.details])
        for plain in (*SOAP.values(), "Second version", "Later words."):
            assert plain not in dumped
        assert stored_ciphertexts[0] not in dumped  # not even the ciphertext
        for image in (event.before, event.after):
            if image and ("sections" in image or "text" in image):
                value = image.get("sections", image.get("text"))
                assert value.startswith("sha256:") and len(value) == 7 + 64
    updates = [
        e for e in events if e.object_type == "clinical_clinicalnote" and e.action == "update"
    ]
    assert any("sections" in e.details["changed"] for e in updates)
    assert any(set(e.details["changed"]) >= {"status", "signed_at"} for e in updates)
