"""Break-glass: a practitioner opens a time-limited access to a record outside their caseload,
with a reason — audited, told to the admins, and closed by itself when it expires."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from clinic.clinical import selectors, services
from clinic.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from clinic.core.tenancy import tenant_context
from tests.clinical.factories import actor_of

pytestmark = pytest.mark.django_db


def _in(persona):
    return tenant_context(persona.org.id, persona.user.id), actor_of(persona)


def test_break_glass_opens_the_record_until_it_expires(setup):
    context, actor = _in(setup.practitioner)
    start = timezone.now()
    with context:
        assert not selectors.content_visible(actor, setup.stranger.id)
        access = services.break_glass_open(
            actor=actor, patient_id=setup.stranger.id, reason="Seen in A&E, own clinician away"
        )
        assert access.expires_at - access.opened_at == timedelta(minutes=60)
        assert selectors.content_visible(actor, setup.stranger.id)
        assert selectors.record_patient(actor, setup.stranger.id).id == setup.stranger.id
        # an open access is enough: a second one is refused
        with pytest.raises(Conflict) as refused:
            services.break_glass_open(
                actor=actor, patient_id=setup.stranger.id, reason="Still in the emergency"
            )
        assert refused.value.code == "already_in_caseload"
    with time_machine.travel(start + timedelta(minutes=61), tick=False):
        with _in(setup.practitioner)[0]:
            assert not selectors.content_visible(actor, setup.stranger.id)
            with pytest.raises(NotFound):
                selectors.record_patient(actor, setup.stranger.id)


def test_break_glass_needs_a_reason_a_sane_length_and_the_right_role(setup, persona_factory):
    context, actor = _in(setup.practitioner)
    with context:
        for reason in (None, "", "   ", "urgent"):
            with pytest.raises(ValidationFailed) as refused:
                services.break_glass_open(actor=actor, patient_id=setup.stranger.id, reason=reason)
            assert "reason" in refused.value.details
        for minutes in (0, 241, "soon", 1.5):
            with pytest.raises(ValidationFailed) as refused:
                services.break_glass_open(
                    actor=actor,
                    patient_id=setup.stranger.id,
                    reason="Emergency: patient collapsed",
                    minutes=minutes,
                )
            assert "minutes" in refused.value.details
        with pytest.raises(Conflict):  # already theirs: no glass to break
            services.break_glass_open(
                actor=actor, patient_id=setup.patient.id, reason="Just looking at it"
            )
        from clinic.clinical.models import BreakGlassAccess

        assert BreakGlassAccess.objects.count() == 0
    assistant = persona_factory("assistant")
    assistant_context, assistant_actor = _in(assistant)
    with assistant_context:
        with pytest.raises(PermissionDenied):
            services.break_glass_open(
                actor=assistant_actor, patient_id=setup.stranger.id, reason="Emergency, really"
            )


def test_break_glass_through_the_api_is_logged_and_told_to_the_admins(
    api, setup, owner_b, persona_factory
):
    from clinic.notifications.models import Notification

    admin = persona_factory("admin")
    doc = setup.practitioner
    path = f"patients/{setup.stranger.id}/break-glass"
    assert api.get(f"patients/{setup.stranger.id}/allergies", doc).status_code == 404
    bad = api.post(path, doc, json={"reason": "x"})
    assert bad.status_code == 422 and "reason" in bad.json()["error"]["details"]
    opened = api.post(path, doc, json={"reason": "Called by the ward at night", "minutes": 30})
    assert opened.status_code == 201, opened.content
    body = opened.json()
    assert body["patient_id"] == str(setup.stranger.id) and body["reason"].startswith("Called")
    assert api.get(f"patients/{setup.stranger.id}/allergies", doc).status_code == 200
    # another clinic's patient: 404; the owner reads every record already: 403
    other_clinic = persona_factory("practitioner", org=owner_b.org)
    assert api.post(path, other_clinic, json={"reason": "x" * 20}).status_code == 404
    assert api.post(path, setup.owner, json={"reason": "Owner is curious"}).status_code == 403

    log = api.get(f"patients/{setup.stranger.id}/access-log", setup.owner).json()["items"]
    broken = [e for e in log if e["action"] == "clinical_record.break_glass"]
    assert len(broken) == 1 and broken[0]["reason"] == "Called by the ward at night"
    with tenant_context(setup.owner.org.id, setup.owner.user.id):
        told = set(
            Notification.objects.filter(event="staff.break_glass_opened").values_list(
                "user_id", flat=True
            )
        )
        titles = list(
            Notification.objects.filter(event="staff.break_glass_opened").values_list(
                "title", flat=True
            )
        )
    assert told == {setup.owner.user.id, admin.user.id}
    assert all(setup.stranger.display_name in t for t in titles)


def test_the_chart_offers_break_glass_and_the_access_log_shows_it(client, setup):
    client.force_login(setup.practitioner.user)
    chart = f"/patients/{setup.stranger.id}/"
    html = client.get(chart).content.decode()
    assert 'id="break-glass"' in html and 'id="clinical-summary"' not in html
    refused = client.post(f"/patients/{setup.stranger.id}/break-glass/", {"reason": "hm"})
    assert refused.status_code == 302
    assert 'id="clinical-summary"' not in client.get(chart).content.decode()
    opened = client.post(
        f"/patients/{setup.stranger.id}/break-glass/", {"reason": "Patient collapsed in the gym"}
    )
    assert opened.status_code == 302
    html = client.get(chart).content.decode()
    assert 'id="break-glass-open"' in html and 'id="clinical-summary"' in html
    # the practitioner may not read the access log; the owner may
    assert client.get(f"/patients/{setup.stranger.id}/access-log/").status_code == 403
    client.force_login(setup.owner.user)
    page = client.get(f"/patients/{setup.stranger.id}/access-log/").content.decode()
    assert "Patient collapsed in the gym" in page and "table-warning" in page
    assert 'id="access-log-link"' in client.get(chart).content.decode()


def test_the_access_log_page_is_paged(client, setup):
    context, actor = _in(setup.practitioner)
    with context:
        for _ in range(55):
            services.record_read(actor=actor, patient_id=setup.patient.id, what="summary")
    client.force_login(setup.owner.user)
    first = client.get(f"/patients/{setup.patient.id}/access-log/").content.decode()
    assert "Page 1 of 2" in first and "?page=2" in first
    second = client.get(f"/patients/{setup.patient.id}/access-log/?page=2").content.decode()
    assert "Page 2 of 2" in second and "?page=1" in second
