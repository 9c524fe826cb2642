"""The clinical API end to end: encounters, notes, sign/co-sign/addenda, versions; caseload
404s; reads of content in the access log; a check-in opens the encounter once."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.clinical.factories import SOAP, actor_of, note_make

pytestmark = pytest.mark.django_db


def _ok(response, status=200):
    assert response.status_code == status, response.content
    return response.json()


def test_write_sign_and_amend_a_note_through_the_api(api, setup, owner_a):
    doc = setup.practitioner
    encounter = _ok(
        api.post(
            "encounters", doc, json={"patient_id": str(setup.patient.id), "kind": "telehealth"}
        ),
        201,
    )
    assert encounter["practitioner"]["id"] == str(setup.profile.id)
    assert encounter["kind"] == "telehealth" and encounter["status"] == "open"
    note = _ok(
        api.post(
            f"encounters/{encounter['id']}/notes",
            doc,
            json={"template": "soap", "sections": SOAP},
            headers={"HTTP_IDEMPOTENCY_KEY": "note-1"},
        ),
        201,
    )
    again = api.post(
        f"encounters/{encounter['id']}/notes",
        doc,
        json={"template": "soap", "sections": SOAP},
        headers={"HTTP_IDEMPOTENCY_KEY": "note-1"},
    )
    assert again.json()["id"] == note["id"] and again["Idempotent-Replayed"] == "true"
    assert note["version"] == 1 and note["status"] == "draft" and note["sections"] == SOAP
    path = f"notes/{note['id']}"
    saved = _ok(api.patch(path, doc, json={"sections": {**SOAP, "plan": "New"}, "version": 1}))
    assert saved["version"] == 2
    stale = api.patch(path, doc, json={"sections": {**SOAP, "plan": "Lost?"}, "version": 1})
    assert stale.status_code == 409
    assert stale.json()["error"]["code"] == "version_conflict"
    assert stale.json()["error"]["details"]["current_version"] == 2
    bad = api.patch(path, doc, json={"sections": {"diagnosis": "x"}, "version": 2})
    assert bad.status_code == 422 and "sections.diagnosis" in bad.json()["error"]["details"]
    signed = _ok(api.post(f"{path}/sign", doc))
    assert signed["status"] == "signed" and signed["signed_by"]["id"] == str(
        setup.practitioner.membership.id
    )
    locked = api.patch(path, doc, json={"sections": SOAP, "version": 2})
    assert locked.status_code == 409 and locked.json()["error"]["code"] == "note_signed"
    addendum = _ok(api.post(f"{path}/addenda", doc, json={"text": "Phoned: better."}), 201)
    assert addendum["text"] == "Phoned: better."
    got = _ok(api.get(path, doc))
    assert [a["text"] for a in got["addenda"]] == ["Phoned: better."]
    versions = _ok(api.get(f"{path}/versions", doc))
    assert [v["number"] for v in versions["items"]] == [2, 1]
    listed = _ok(api.get(f"encounters?patient_id={setup.patient.id}", doc))
    assert listed["count"] == 1
    assert listed["items"][0]["notes"][0]["status"] == "signed"
    assert "sections" not in listed["items"][0]["notes"][0]
    closed = _ok(api.post(f"encounters/{encounter['id']}/close", doc))
    assert closed["status"] == "closed" and closed["ended_at"]
    # the owner reads everything, and the access log lists the reads of content
    _ok(api.get(path, owner_a))
    log = _ok(api.get(f"patients/{setup.patient.id}/access-log", owner_a))["items"]
    reads = [(e["action"], e["actor_id"]) for e in log if e["note_id"] == note["id"]]
    assert ("clinical_note.read", str(owner_a.user.id)) in reads
    assert ("clinical_note.read", str(doc.user.id)) in reads
    assert ("clinical_note.versions_read", str(doc.user.id)) in reads
    assert api.get(f"patients/{setup.patient.id}/access-log", doc).status_code == 403


def test_encounter_of_an_appointment_only_once(api, setup):
    body = {"patient_id": str(setup.patient.id), "appointment_id": str(setup.appointment.id)}
    first = _ok(api.post("encounters", setup.practitioner, json=body), 201)
    assert first["appointment_id"] == str(setup.appointment.id)
    assert first["location"]["id"] == str(setup.clinic.location.id)
    second = api.post("encounters", setup.practitioner, json=body)
    assert second.status_code == 409
    assert second.json()["error"]["details"]["encounter_id"] == first["id"]


def test_bad_encounter_input_names_the_field(api, setup):
    doc = setup.practitioner
    wrong = api.post("encounters", doc, json={"patient_id": str(setup.patient.id), "kind": "x"})
    assert wrong.status_code == 422 and "kind" in wrong.json()["error"]["details"]
    other = api.post(
        "encounters",
        doc,
        json={
            "patient_id": str(setup.patient.id),
            "practitioner_id": str(setup.clinic.other_practitioner.id),
        },
    )
    assert other.status_code == 403
    owner = api.post("encounters", setup.owner, json={"patient_id": str(setup.patient.id)})
    assert owner.status_code == 422 and "practitioner_id" in owner.json()["error"]["details"]


def test_caseload_decides_who_reads_content(api, setup, persona_factory, tenant):
    note = note_make(setup)
    path = f"notes/{note.id}"
    outsider = persona_factory("practitioner")
    manager = persona_factory("manager")
    assistant = persona_factory("assistant")
    patient_login = persona_factory("patient")
    from clinic.directory.models import Practitioner

    with tenant(setup.owner.org, setup.owner.user):
        Practitioner.objects.create(display_name="Outsider", membership_id=outsider.membership.id)
    # a practitioner without a care relationship: nothing of it exists
    for method, url in (
        ("get", path),
        ("get", f"{path}/versions"),
        ("post", f"{path}/addenda"),
        ("post", f"{path}/sign"),
        ("get", f"encounters/{note.encounter_id}"),
    ):
        body = {"json": {"text": "x"}} if method == "post" else {}
        response = getattr(api, method)(url, outsider, **body)
        assert response.status_code == 404, (url, response.content)
    assert _ok(api.get(f"encounters?patient_id={setup.patient.id}", outsider))["count"] == 0
    refused = api.post("encounters", outsider, json={"patient_id": str(setup.patient.id)})
    assert refused.status_code == 404
    # front desk and managers: that the note exists, not what it says
    for persona in (manager, assistant):
        seen = _ok(api.get(path, persona))
        assert seen["content_visible"] is False and seen["sections"] is None
        assert seen["status"] == "draft" and seen["author"]["id"]
        assert api.get(f"{path}/versions", persona).status_code == 404
        listed = _ok(api.get(f"encounters?patient_id={setup.patient.id}", persona))
        assert listed["items"][0]["notes"][0]["id"] == str(note.id)
        assert api.post(f"{path}/addenda", persona, json={"text": "x"}).status_code == 403
    # patients: nothing clinical
    assert api.get(path, patient_login).status_code == 403
    # the access log holds no read by those who saw no content
    with tenant(setup.owner.org, setup.owner.user):
        from clinic.clinical.selectors import patient_access_log

        readers = {e.actor_id for e in patient_access_log(setup.patient.id)}
    assert manager.user.id not in readers and outsider.user.id not in readers
    # a plan makes the outsider's relationship: now they read it
    from tests.care.rows import care_rows  # noqa: F401 - documents where plans come from

    with tenant(setup.owner.org, setup.owner.user):
        from clinic.care.models import TreatmentPlan

        TreatmentPlan.objects.create(
            patient=setup.patient,
            practitioner=Practitioner.objects.get(membership_id=outsider.membership.id),
            title="Rehab",
            start_date=setup.appointment.start_at.date(),
        )
    assert _ok(api.get(path, outsider))["sections"] == SOAP


def test_an_appointment_out_of_the_window_is_no_care_relationship(setup, clock, tenant):
    from clinic.clinical.selectors import content_visible

    actor = actor_of(setup.practitioner)
    start = setup.appointment.start_at
    with tenant(setup.practitioner.org, setup.practitioner.user):
        for moved, visible in (
            (timedelta(days=364), True),
            (timedelta(days=366), False),
            (-timedelta(days=29), True),
            (-timedelta(days=31), False),
        ):
            clock.travel(start + moved)
            assert content_visible(actor, setup.patient.id) is visible, moved
        assert content_visible(actor, setup.stranger.id) is False


def test_check_in_opens_the_encounter_once(api, setup, tenant):
    path = f"appointments/{setup.appointment.id}/status"
    with tenant(setup.owner.org, setup.owner.user):
        from clinic.scheduling import services as scheduling

        actor = actor_of(setup.owner)
        for status in ("confirmed", "checked_in", "in_progress"):
            scheduling.appointment_status_set(
                actor=actor, appointment=setup.appointment, status=status
            )
        from clinic.clinical.models import Encounter

        (encounter,) = Encounter.objects.filter(appointment=setup.appointment)
    assert encounter.patient_id == setup.patient.id and encounter.kind == "visit"
    assert encounter.practitioner_id == setup.profile.id and encounter.created_by_id
    assert path  # the same transition through the API is scheduling's own test


def test_cosign_through_the_api(api, setup, persona_factory, tenant):
    supervisor = persona_factory("practitioner")
    from clinic.directory.models import Practitioner

    with tenant(setup.owner.org, setup.owner.user):
        profile = Practitioner.objects.create(
            display_name="Supervisor", membership_id=supervisor.membership.id
        )
        from tests.clinical.factories import appointment_make

        appointment_make(
            setup.clinic,
            practitioner=profile,
            patient=setup.patient,
            start=setup.appointment.start_at + timedelta(hours=3),
        )
    encounter = _ok(
        api.post("encounters", setup.practitioner, json={"patient_id": str(setup.patient.id)}),
        201,
    )
    note = _ok(
        api.post(
            f"encounters/{encounter['id']}/notes",
            setup.practitioner,
            json={
                "template": "free",
                "sections": [{"title": "Session", "text": "Targets met."}],
                "requires_cosign": True,
                "cosigner_id": str(profile.id),
            },
        ),
        201,
    )
    path = f"notes/{note['id']}"
    assert _ok(api.post(f"{path}/sign", setup.practitioner))["status"] == "awaiting_cosign"
    refused = api.post(f"{path}/cosign", setup.practitioner)
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "not_cosigner"
    done = _ok(api.post(f"{path}/cosign", supervisor))
    assert done["status"] == "signed" and done["cosigned_at"]


def test_clinical_settings(api, owner_a, practitioner_a):
    assert _ok(api.get("clinical-settings", owner_a)) == {
        "late_signing_hours": 72,
        "desk_reads_notes": False,
    }
    assert _ok(api.patch("clinical-settings", owner_a, json={"late_signing_hours": 24})) == {
        "late_signing_hours": 24,
        "desk_reads_notes": False,
    }
    bad = api.patch("clinical-settings", owner_a, json={"late_signing_hours": 0})
    assert bad.status_code == 422 and "late_signing_hours" in bad.json()["error"]["details"]
    assert api.get("clinical-settings", practitioner_a).status_code == 403


def test_query_counts_are_constant(api, setup, django_assert_max_num_queries, tenant):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def measure(url):
        with CaptureQueriesContext(connection) as ctx:
            _ok(api.get(url, setup.practitioner))
        return len(ctx.captured_queries)

    note = note_make(setup)
    listing = f"encounters?patient_id={setup.patient.id}"
    small = (measure(listing), measure(f"notes/{note.id}"), measure(f"notes/{note.id}/versions"))
    actor = actor_of(setup.practitioner)
    with tenant(setup.practitioner.org, setup.practitioner.user):
        from clinic.clinical import services

        for i in range(5):
            extra = note_make(setup)
            services.note_update(
                actor=actor, note_id=note.id, sections={"plan": f"v{i}"}, version=note.version + i
            )
            services.note_sign(actor=actor, note_id=extra.id)
            services.addendum_add(actor=actor, note_id=extra.id, text="more")
    large = (measure(listing), measure(f"notes/{note.id}"), measure(f"notes/{note.id}/versions"))
    assert large == small
