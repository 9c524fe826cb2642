"""The care team: a practitioner assigned to a patient by hand reads the record (their caseload)
until removed; only owners, admins and managers assign; duplicates are 409 — at the service
level, through the API (404 across clinics) and through the chart."""

from __future__ import annotations

import pytest

from clinic.clinical import selectors, services
from clinic.core.errors import Conflict, NotFound, ValidationFailed
from clinic.core.tenancy import tenant_context
from tests.clinical.factories import actor_of

pytestmark = pytest.mark.django_db


def test_an_assigned_practitioner_reads_the_record_until_removed(setup, persona_factory):
    manager = persona_factory("manager")
    with tenant_context(setup.owner.org.id, setup.owner.user.id):
        doc = actor_of(setup.practitioner)
        assert not selectors.content_visible(doc, setup.stranger.id)
        boss = actor_of(manager)
        services.care_team_add(
            actor=boss, patient_id=setup.stranger.id, practitioner_id=setup.profile.id
        )
        assert selectors.content_visible(doc, setup.stranger.id)
        assert selectors.record_patient(doc, setup.stranger.id).id == setup.stranger.id
        with pytest.raises(Conflict) as again:
            services.care_team_add(
                actor=boss, patient_id=setup.stranger.id, practitioner_id=setup.profile.id
            )
        assert again.value.code == "already_in_care_team"
        with pytest.raises(ValidationFailed) as unknown:
            services.care_team_add(
                actor=boss, patient_id=setup.stranger.id, practitioner_id=setup.stranger.id
            )
        assert "practitioner_id" in unknown.value.details
        services.care_team_remove(
            actor=boss, patient_id=setup.stranger.id, practitioner_id=setup.profile.id
        )
        assert not selectors.content_visible(doc, setup.stranger.id)
        with pytest.raises(NotFound):
            services.care_team_remove(
                actor=boss, patient_id=setup.stranger.id, practitioner_id=setup.profile.id
            )


def test_the_care_team_through_the_api_and_the_chart(api, client, setup, owner_b):
    path = f"patients/{setup.stranger.id}/care-team"
    doc = setup.practitioner
    assert api.post(path, doc, json={"practitioner_id": str(setup.profile.id)}).status_code == 403
    added = api.post(path, setup.owner, json={"practitioner_id": str(setup.profile.id)})
    assert added.status_code == 201, added.content
    assert added.json()["practitioner"]["id"] == str(setup.profile.id)
    assert api.get(path, doc).json()["count"] == 1
    assert api.get(f"patients/{setup.stranger.id}/allergies", doc).status_code == 200
    assert api.get(path, owner_b).status_code == 404
    missing = api.post(path, setup.owner, json={})
    assert missing.status_code == 422 and "practitioner_id" in missing.json()["error"]["details"]
    gone = api.delete(f"{path}/{setup.profile.id}", setup.owner)
    assert gone.status_code == 204
    assert api.get(f"patients/{setup.stranger.id}/allergies", doc).status_code == 404

    client.force_login(setup.owner.user)
    chart = client.get(f"/patients/{setup.stranger.id}/").content.decode()
    assert 'id="care-team"' in chart and 'id="care-team-add"' in chart
    posted = client.post(
        f"/patients/{setup.stranger.id}/care-team/", {"practitioner_id": setup.profile.id}
    )
    assert posted.status_code == 302
    chart = client.get(f"/patients/{setup.stranger.id}/").content.decode()
    assert setup.profile.display_name in chart and 'id="care-team-list"' in chart
    client.force_login(doc.user)
    chart = client.get(f"/patients/{setup.stranger.id}/").content.decode()
    assert 'id="clinical-summary"' in chart and 'id="care-team-add"' not in chart
