"""The ABA session note: targets with trials, correct responses and prompt level (accuracy
computed, never typed), behaviours with frequency and duration; refused rows name their field;
the text form feeds versions, the PDF and the read-only page; the editor's form fields."""

from __future__ import annotations

import pytest

from clinic.clinical import aba, selectors, services
from clinic.core.errors import ValidationFailed
from clinic.core.tenancy import tenant_context
from tests.clinical.factories import actor_of, encounter_make

pytestmark = pytest.mark.django_db

SESSION = {
    "targets": [
        {"name": "Mand for water", "trials": 10, "correct": 8, "prompt_level": "gestural"},
        {"name": "Match colours", "trials": 6, "correct": 6, "prompt_level": "independent"},
        {"name": "Wave goodbye", "trials": 0, "correct": 0},
    ],
    "behaviours": [{"name": "Elopement", "frequency": 3, "duration_seconds": 45}],
    "summary": "Engaged for most of the session.",
    "plan": "Fade the gestural prompt.",
}


def test_accuracy_is_computed_and_rendered():
    assert [aba.accuracy(t) for t in SESSION["targets"]] == [80, 100, None]
    (targets, behaviours, summary, plan) = aba.aba_text(SESSION)
    assert "Mand for water: 8/10 correct (80 %), prompt: Gestural" in targets[2]
    assert "Wave goodbye: 0/0 correct (—)" in targets[2]
    assert behaviours[2] == "Elopement: 3 times, 45 s in all"
    assert summary[2].startswith("Engaged") and plan[2].startswith("Fade")


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"targets": [{"name": "A", "trials": 3, "correct": 4}]}, "sections.targets.0.correct"),
        ({"targets": [{"name": "", "trials": 3, "correct": 1}]}, "sections.targets.0.name"),
        ({"targets": [{"name": "A", "trials": "ten", "correct": 1}]}, "sections.targets.0.trials"),
        (
            {"targets": [{"name": "A", "trials": 3, "correct": 1, "prompt_level": "shout"}]},
            "sections.targets.0.prompt_level",
        ),
        ({"behaviours": [{"name": "Hit", "frequency": -1}]}, "sections.behaviours.0.frequency"),
        ({"targets": "many"}, "sections.targets"),
        ({"mood": "fine"}, "sections.mood"),
    ],
)
def test_bad_rows_are_refused_naming_the_field(change, field):
    with pytest.raises(ValidationFailed) as refused:
        services.sections_clean("aba", {**SESSION, **change})
    assert field in refused.value.details


def test_an_aba_note_is_written_signed_and_printed(api, setup):
    encounter = encounter_make(setup)
    doc = setup.practitioner
    with tenant_context(doc.org.id, doc.user.id):
        actor = actor_of(doc)
        note = services.note_create(
            actor=actor, encounter=encounter, template="aba", sections=aba.blank()
        )
        services.note_update(actor=actor, note_id=note.id, sections=SESSION, version=1)
        stored = selectors.note_for_actor(actor, note.id)
        assert stored.sections["targets"][0] == SESSION["targets"][0]
        assert stored.sections["targets"][2]["prompt_level"] == "independent"  # the default
        diffs = selectors.note_version_diffs(stored)
        assert any(
            "Mand for water" in line for d in diffs for s in d.sections for _k, line in s.lines
        )
        services.note_sign(actor=actor, note_id=note.id)
    printed = api.get(f"notes/{note.id}/pdf", doc)
    assert printed.status_code == 200 and printed.content.startswith(b"%PDF")
    body = api.get(f"notes/{note.id}", doc).json()
    assert body["template"] == "aba" and body["sections"]["behaviours"][0]["frequency"] == 3


def test_the_editor_reads_its_rows_and_shows_the_accuracy(client, setup):
    encounter = encounter_make(setup)
    doc = setup.practitioner
    with tenant_context(doc.org.id, doc.user.id):
        note = services.note_create(
            actor=actor_of(doc), encounter=encounter, template="aba", sections=aba.blank()
        )
    client.force_login(doc.user)
    page = client.get(f"/notes/{note.id}/").content.decode()
    assert 'id="aba-targets"' in page and 'name="t_name_1"' in page
    saved = client.post(
        f"/notes/{note.id}/save/",
        {
            "version": 1,
            "t_name_0": "Mand for water",
            "t_trials_0": "10",
            "t_correct_0": "7",
            "t_prompt_0": "verbal",
            "t_name_1": "",
            "t_trials_1": "",
            "t_correct_1": "",
            "b_name_0": "Elopement",
            "b_freq_0": "2",
            "b_dur_0": "",
            "s_summary": "Calm.",
            "s_plan": "",
        },
        HTTP_HX_REQUEST="true",
    )
    assert saved.status_code == 200, saved.content
    page = client.get(f"/notes/{note.id}/").content.decode()
    assert 'value="Mand for water"' in page and "70 %" in page and 'name="t_name_2"' in page
    refused = client.post(
        f"/notes/{note.id}/save/",
        {"version": 2, "t_name_0": "Mand", "t_trials_0": "3", "t_correct_0": "5"},
        HTTP_HX_REQUEST="true",
    )
    assert refused.status_code == 422 and "More correct responses than trials" in (
        refused.content.decode()
    )
