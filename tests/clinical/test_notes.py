"""Notes at the service level: versions kept, the version check, sign → locked → addenda,
co-signature by the named co-signer only, the late flag, and section validation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from clinic.clinical import selectors, services
from clinic.clinical.models import ClinicalNote, NoteVersion
from clinic.core.errors import Conflict, PermissionDenied, ValidationFailed
from tests.clinical.factories import SOAP, actor_of, encounter_make, note_make

pytestmark = pytest.mark.django_db


def test_every_saved_draft_keeps_a_version_and_the_diff_shows_it(setup, tenant):
    note = note_make(setup)
    actor = actor_of(setup.practitioner)
    with tenant(setup.practitioner.org, setup.practitioner.user):
        services.note_update(
            actor=actor, note_id=note.id, sections={**SOAP, "plan": "Rest.\nPhysio."}, version=1
        )
        # the same content again: no new version
        same = services.note_update(
            actor=actor, note_id=note.id, sections={**SOAP, "plan": "Rest.\nPhysio."}, version=2
        )
        assert same.version == 2
        versions = list(NoteVersion.objects.filter(note=note).order_by("number"))
        assert [v.number for v in versions] == [1, 2]
        assert versions[0].sections == SOAP and versions[1].sections["plan"] == "Rest.\nPhysio."
        diffs = selectors.note_version_diffs(ClinicalNote.objects.get(id=note.id))
        assert [d.number for d in diffs] == [2, 1]
        (plan,) = diffs[0].sections
        assert plan.title == "Plan"
        assert ("remove", SOAP["plan"]) in plan.lines
        assert ("add", "Physio.") in plan.lines


def test_a_stale_version_is_a_conflict_naming_the_current_one(setup, tenant):
    note = note_make(setup)
    actor = actor_of(setup.practitioner)
    with tenant(setup.practitioner.org, setup.practitioner.user):
        services.note_update(actor=actor, note_id=note.id, sections={"plan": "A"}, version=1)
        with pytest.raises(Conflict) as raised:
            services.note_update(actor=actor, note_id=note.id, sections={"plan": "B"}, version=1)
        assert raised.value.code == "version_conflict"
        assert raised.value.details["current_version"] == 2
        assert ClinicalNote.objects.get(id=note.id).sections["plan"] == "A"


def test_signing_locks_the_note_and_changes_become_addenda(setup, tenant):
    note = note_make(setup)
    actor = actor_of(setup.practitioner)
    with tenant(setup.practitioner.org, setup.practitioner.user):
        signed = services.note_sign(actor=actor, note_id=note.id)
        assert signed.status == "signed" and signed.signed_by_id == actor.id and not signed.late
        with pytest.raises(Conflict) as raised:
            services.note_update(actor=actor, note_id=note.id, sections=SOAP, version=1)
        assert raised.value.code == "note_signed"
        with pytest.raises(Conflict) as raised:
            services.note_sign(actor=actor, note_id=note.id)
        assert raised.value.code == "note_signed"
        addendum = services.addendum_add(actor=actor, note_id=note.id, text=" Seen again. ")
        assert addendum.text == "Seen again."
        assert [a.text for a in selectors.note_addenda(note)] == ["Seen again."]


def test_an_addendum_needs_a_signed_note_and_some_text(setup, tenant):
    note = note_make(setup)
    actor = actor_of(setup.practitioner)
    with tenant(setup.practitioner.org, setup.practitioner.user):
        with pytest.raises(Conflict) as raised:
            services.addendum_add(actor=actor, note_id=note.id, text="x")
        assert raised.value.code == "note_draft"
        services.note_sign(actor=actor, note_id=note.id)
        with pytest.raises(ValidationFailed):
            services.addendum_add(actor=actor, note_id=note.id, text="   ")


def test_only_the_author_edits_and_signs(setup, tenant, owner_a):
    note = note_make(setup)
    with tenant(owner_a.org, owner_a.user):
        owner = actor_of(owner_a)
        with pytest.raises(PermissionDenied):
            services.note_update(actor=owner, note_id=note.id, sections=SOAP, version=1)
        with pytest.raises(PermissionDenied):
            services.note_sign(actor=owner, note_id=note.id)


def test_cosignature_by_the_named_cosigner_only(setup, tenant, persona_factory):
    supervisor = persona_factory("practitioner")
    other = persona_factory("practitioner")
    from clinic.directory.models import Practitioner

    with tenant(setup.owner.org, setup.owner.user):
        supervisor_profile = Practitioner.objects.create(
            display_name="Supervisor", membership_id=supervisor.membership.id
        )
        Practitioner.objects.create(display_name="Other", membership_id=other.membership.id)
        # both in the patient's caseload (an appointment each)
        from tests.clinical.factories import appointment_make

        for i, profile in enumerate(
            Practitioner.objects.filter(display_name__in=["Supervisor", "Other"])
        ):
            appointment_make(
                setup.clinic,
                practitioner=profile,
                patient=setup.patient,
                start=setup.appointment.start_at + timedelta(hours=2 + i),
            )
    note = note_make(setup, requires_cosign=True, cosigner_id=supervisor_profile.id)
    with tenant(setup.practitioner.org, setup.practitioner.user):
        author = actor_of(setup.practitioner)
        with pytest.raises(Conflict) as raised:
            services.note_cosign(actor=author, note_id=note.id)
        assert raised.value.code == "not_awaiting_cosign"
        signed = services.note_sign(actor=author, note_id=note.id)
        assert signed.status == "awaiting_cosign"
        with pytest.raises(PermissionDenied) as raised:
            services.note_cosign(actor=author, note_id=note.id)
        assert raised.value.code == "not_cosigner"
    with tenant(other.org, other.user):
        with pytest.raises(PermissionDenied):
            services.note_cosign(actor=actor_of(other), note_id=note.id)
    with tenant(supervisor.org, supervisor.user):
        assert [n.id for n in selectors.cosign_queue(actor_of(supervisor))] == [note.id]
        done = services.note_cosign(actor=actor_of(supervisor), note_id=note.id)
        assert done.status == "signed" and done.cosigned_at is not None


def test_the_author_cannot_be_their_own_cosigner(setup, tenant):
    with pytest.raises(ValidationFailed) as raised:
        note_make(setup, requires_cosign=True, cosigner_id=setup.profile.id)
    assert "cosigner_id" in raised.value.details


def test_late_signing_is_flagged_after_the_organization_s_hours(setup, tenant, clock):
    clock.travel(datetime(2031, 6, 2, 9, 0, tzinfo=UTC))
    from tests.clinical.factories import appointment_make

    with tenant(setup.owner.org, setup.owner.user):
        appointment_make(
            setup.clinic,
            practitioner=setup.profile,
            patient=setup.patient,
            start=datetime(2031, 6, 2, 10, 0, tzinfo=UTC),
        )
        services.settings_update(actor=actor_of(setup.owner), late_signing_hours=24)
    on_time = note_make(setup)
    late = note_make(setup)
    actor = actor_of(setup.practitioner)
    clock.travel(datetime(2031, 6, 3, 8, 0, tzinfo=UTC))  # 23 h after the encounters began
    with tenant(setup.practitioner.org, setup.practitioner.user):
        assert services.note_sign(actor=actor, note_id=on_time.id).late is False
    clock.travel(datetime(2031, 6, 3, 10, 0, tzinfo=UTC))  # 25 h
    with tenant(setup.practitioner.org, setup.practitioner.user):
        assert services.note_sign(actor=actor, note_id=late.id).late is True


@pytest.mark.parametrize(
    ("template", "sections", "field"),
    [
        ("soap", {"subjective": "x", "diagnosis": "y"}, "sections.diagnosis"),
        ("soap", ["not", "an", "object"], "sections"),
        ("soap", {"plan": 3}, "sections.plan"),
        ("dap", {"subjective": "x"}, "sections.subjective"),
        ("free", [], "sections"),
        ("free", [{"title": "", "text": "x"}], "sections.0.title"),
        ("free", [{"title": "T", "text": "x", "extra": 1}], "sections.0"),
        ("letter", {}, "template"),
        ("soap", {"plan": "x" * 20_001}, "sections.plan"),
    ],
)
def test_sections_are_checked_against_the_template(setup, template, sections, field):
    encounter = encounter_make(setup)
    with pytest.raises(ValidationFailed) as raised:
        note_make(setup, encounter=encounter, template=template, sections=sections)
    assert field in raised.value.details


def test_templates_fill_missing_sections(setup):
    note = note_make(setup, template="dap", sections={"data": "Observed."})
    assert note.sections == {"data": "Observed.", "assessment": "", "plan": ""}
    free = note_make(setup, template="free", sections=[{"title": " Call ", "text": "Fine."}])
    assert free.sections == [{"title": "Call", "text": "Fine."}]


def test_the_desk_reads_note_text_only_when_the_clinic_allows_it(
    api, client, setup, persona_factory
):
    from tests.clinical.factories import note_make

    note = note_make(setup)
    assistant = persona_factory("assistant")
    assert api.get(f"notes/{note.id}", assistant).json().get("sections") is None
    refused = api.patch("clinical-settings", setup.owner, json={"desk_reads_notes": "maybe"})
    assert refused.status_code == 422
    allowed = api.patch("clinical-settings", setup.owner, json={"desk_reads_notes": True})
    assert allowed.status_code == 200 and allowed.json()["desk_reads_notes"] is True
    assert api.get(f"notes/{note.id}", assistant).json()["sections"]["plan"]
    # still no clinical list for the desk, whatever the setting
    assert api.get(f"patients/{setup.patient.id}/allergies", assistant).status_code == 403
    client.force_login(setup.owner.user)
    page = client.get("/clinical-settings/")
    assert page.status_code == 200 and "checked" in page.content.decode()
    bad = client.post("/clinical-settings/", {"late_signing_hours": "0"})
    assert bad.status_code == 422 and 'value="0"' in bad.content.decode()
    saved = client.post("/clinical-settings/", {"late_signing_hours": "24"})
    assert saved.status_code == 302
    assert api.get(f"notes/{note.id}", assistant).json().get("sections") is None
    client.force_login(assistant.user)
    assert client.get("/clinical-settings/").status_code == 403
