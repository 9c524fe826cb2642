"""Consents: templates versioned when their text changes, signatures (the patient or a
responsible contact, a drawn PNG that is checked, the exact text kept), expiry and withdrawal,
and the rule that a service requiring a consent cannot be checked in, started or completed
without a valid one (409 `consent_required` naming the template, nothing changed) — at the
service level, through the API and through the pages."""

from __future__ import annotations

import base64
import io
from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone
from PIL import Image, ImageDraw

from clinic.clinical import selectors, services
from clinic.core.errors import Conflict, NotFound, ValidationFailed
from clinic.core.tenancy import tenant_context
from tests.clinical.factories import actor_of

pytestmark = pytest.mark.django_db


def signature_png(drawn: bool = True) -> str:
    image = Image.new("RGBA", (300, 100), (0, 0, 0, 0))
    if drawn:
        ImageDraw.Draw(image).line(
            [(10, 80), (120, 20), (280, 70)], fill=(11, 42, 85, 255), width=3
        )
    out = io.BytesIO()
    image.save(out, format="PNG")
    return "data:image/png;base64," + base64.b64encode(out.getvalue()).decode()


def _in(persona):
    return tenant_context(persona.org.id, persona.user.id), actor_of(persona)


def _template(setup, **extra):
    context, owner = _in(setup.owner)
    with context:
        return services.consent_template_create(
            actor=owner,
            data={
                "name": extra.pop("name", "Dry needling"),
                "procedure": "Dry needling",
                "text": "I agree to dry needling of the affected muscles.",
                "risks": "Bruising, soreness for 24-48 hours.",
                "alternatives": "Massage, exercise.",
                "estimated_cost": "45.00",
                "validity_days": 365,
                "service_ids": [str(setup.clinic.consult.id)],
                **extra,
            },
        )


def _status(setup, status, persona=None):
    from clinic.scheduling import services as scheduling

    context, actor = _in(persona or setup.owner)
    with context:
        from clinic.scheduling.models import Appointment

        appointment = Appointment.objects.get(id=setup.appointment.id)
        return scheduling.appointment_status_set(
            actor=actor, appointment=appointment, status=status
        )


# --- services ----------------------------------------------------------------------------------


def test_a_service_requiring_a_consent_cannot_be_checked_in_without_one(setup):
    template = _template(setup)
    _status(setup, "confirmed")
    with pytest.raises(Conflict) as refused:
        _status(setup, "checked_in")
    assert refused.value.code == "consent_required"
    assert refused.value.details["template_id"] == str(template.id)
    assert "Dry needling" in refused.value.message
    context, actor = _in(setup.practitioner)
    with context:
        from clinic.clinical.models import Encounter
        from clinic.scheduling.models import Appointment

        # nothing moved: the status is the one before, and no encounter was opened
        assert Appointment.objects.get(id=setup.appointment.id).status == "confirmed"
        assert not Encounter.objects.filter(appointment_id=setup.appointment.id).exists()
        consent = services.consent_sign(
            actor=actor,
            patient_id=setup.patient.id,
            template_id=template.id,
            signed_name="Alex Martin",
            signature=signature_png(),
            witness_name="Front desk",
        )
    assert consent.template_version == 1 and "Bruising" in consent.text_signed
    assert consent.expires_at - consent.signed_at == timedelta(days=365)
    assert _status(setup, "checked_in").status == "checked_in"


def test_an_expired_or_withdrawn_consent_no_longer_holds(setup):
    template = _template(setup, validity_days=30)
    context, actor = _in(setup.practitioner)
    with context:
        consent = services.consent_sign(
            actor=actor,
            patient_id=setup.patient.id,
            template_id=template.id,
            signed_name="Alex Martin",
            signature=signature_png(),
        )
        later = timezone.now() + timedelta(days=31)
        assert (
            selectors.consent_missing_for(
                patient_id=setup.patient.id, service_id=setup.clinic.consult.id, at=later
            )
            == template
        )
        assert (
            selectors.consent_missing_for(
                patient_id=setup.patient.id, service_id=setup.clinic.consult.id
            )
            is None
        )
        services.consent_withdraw(actor=actor, consent_id=consent.id, reason="Changed mind")
        with pytest.raises(Conflict):
            services.consent_withdraw(actor=actor, consent_id=consent.id)
    with time_machine.travel(timezone.now() + timedelta(days=1)):
        with pytest.raises(Conflict) as refused:
            _status(setup, "checked_in")
    assert refused.value.code == "consent_required"


def test_editing_the_text_makes_a_new_version_and_keeps_what_was_signed(setup):
    template = _template(setup)
    context, owner = _in(setup.owner)
    with context:
        signed = services.consent_sign(
            actor=owner,
            patient_id=setup.patient.id,
            template_id=template.id,
            signed_name="Alex Martin",
            signature=signature_png(),
        )
        same = services.consent_template_update(
            actor=owner, template_id=template.id, data={"name": "Dry needling (adults)"}
        )
        assert same.version == 1  # a new name is not a new text
        changed = services.consent_template_update(
            actor=owner, template_id=template.id, data={"risks": "Bruising; rarely fainting."}
        )
        assert changed.version == 2
        signed.refresh_from_db()
        assert signed.template_version == 1 and "rarely fainting" not in signed.text_signed


def test_signing_checks_who_signs_and_the_drawing(setup):
    from clinic.clinical.models import Consent
    from clinic.directory import services as directory

    template = _template(setup)
    context, actor = _in(setup.owner)
    with context:
        base = {"patient_id": setup.patient.id, "template_id": template.id}
        cases = {
            "signature": {"signed_name": "A", "signature": signature_png(drawn=False)},
            "signed_name": {"signed_name": "  ", "signature": signature_png()},
            "contact_id": {
                "signed_name": "A",
                "signature": signature_png(),
                "signer": "contact",
                "contact_id": setup.stranger.id,  # not a contact at all
            },
            "signer": {"signed_name": "A", "signature": signature_png(), "signer": "nobody"},
            "template_id": {"signed_name": "A", "signature": signature_png(), "template_id": None},
        }
        for field, extra in cases.items():
            with pytest.raises(ValidationFailed) as refused:
                services.consent_sign(actor=actor, **{**base, **extra})
            assert field in refused.value.details, field
        for bad in ("data:image/png;base64,!!!", "data:image/svg+xml;base64,PHN2Zz4=", "x"):
            with pytest.raises(ValidationFailed):
                services.signature_clean(bad)
        assert Consent.objects.count() == 0

        # a parent signs for their child
        parent = directory.contact_create(
            actor=actor, data={"given_name": "Sam", "family_name": "Parent"}
        )
        directory.patient_contact_add(
            actor=actor,
            patient=setup.patient,
            data={"contact_id": parent.id, "relationship": "parent"},
        )
        consent = services.consent_sign(
            actor=actor,
            signed_name="Sam Parent",
            signature=signature_png(),
            signer="contact",
            contact_id=parent.id,
            **base,
        )
        assert consent.contact_id == parent.id
        with pytest.raises(NotFound):
            services.consent_sign(
                actor=actor,
                **{**base, "patient_id": setup.owner.org.id},
                signed_name="A",
                signature=signature_png(),
            )


def test_the_signature_is_encrypted_at_rest_and_hashed_in_the_audit(setup):
    from django.db import connection

    template = _template(setup)
    context, actor = _in(setup.owner)
    with context:
        consent = services.consent_sign(
            actor=actor,
            patient_id=setup.patient.id,
            template_id=template.id,
            signed_name="Alex Martin",
            signature=signature_png(),
        )
        with connection.cursor() as cur:
            cur.execute("SELECT signature FROM clinical_consent WHERE id = %s", [consent.id])
            (stored,) = cur.fetchone()
            assert stored.startswith("enc1:") and "base64" not in stored
            cur.execute(
                "SELECT after::text FROM audit_auditevent WHERE object_id = %s",
                [str(consent.id)],
            )
            rows = [r[0] for r in cur.fetchall()]
        assert rows and all(stored not in r and "data:image" not in r for r in rows)


# --- API ---------------------------------------------------------------------------------------


def test_consents_through_the_api(api, setup, owner_b, persona_factory):
    owner, doc = setup.owner, setup.practitioner
    created = api.post(
        "consent-templates",
        owner,
        json={
            "name": "Shockwave therapy",
            "text": "I agree to shockwave therapy.",
            "validity_days": 90,
            "service_ids": [str(setup.clinic.consult.id)],
        },
    )
    assert created.status_code == 201, created.content
    template = created.json()
    assert template["version"] == 1 and template["services"][0]["id"] == str(
        setup.clinic.consult.id
    )
    duplicate = api.post(
        "consent-templates", owner, json={"name": "Shockwave therapy", "text": "x"}
    )
    assert duplicate.status_code == 409
    bad = api.post("consent-templates", owner, json={"name": "X", "text": "Y", "validity_days": 0})
    assert bad.status_code == 422 and "validity_days" in bad.json()["error"]["details"]
    assert api.post("consent-templates", doc, json={"name": "Z", "text": "Z"}).status_code == 403

    api.post(f"appointments/{setup.appointment.id}/status", owner, json={"status": "confirmed"})
    refused = api.post(
        f"appointments/{setup.appointment.id}/status", owner, json={"status": "checked_in"}
    )
    assert refused.status_code == 409, refused.content
    error = refused.json()["error"]
    assert (
        error["code"] == "consent_required" and error["details"]["template"] == "Shockwave therapy"
    )

    path = f"patients/{setup.patient.id}/consents"
    missing = api.post(path, doc, json={"template_id": template["id"], "signed_name": "Alex"})
    assert missing.status_code == 422 and "signature" in missing.json()["error"]["details"]
    signed = api.post(
        path,
        doc,
        json={"template_id": template["id"], "signed_name": "Alex", "signature": signature_png()},
    )
    assert signed.status_code == 201, signed.content
    body = signed.json()
    assert body["valid"] and body["signature"].startswith("data:image/png")
    listed = api.get(path, doc).json()
    assert listed["count"] == 1 and "signature" not in listed["items"][0]
    assert api.get(f"consents/{body['id']}", owner_b).status_code == 404
    assert api.get(path, owner_b).status_code == 404
    checked_in = api.post(
        f"appointments/{setup.appointment.id}/status", owner, json={"status": "checked_in"}
    )
    assert checked_in.status_code == 200, checked_in.content

    withdrawn = api.post(f"consents/{body['id']}/withdraw", doc, json={"reason": "Changed mind"})
    assert withdrawn.status_code == 200 and withdrawn.json()["valid"] is False
    patient_role = persona_factory("patient")
    assert api.get(path, patient_role).status_code == 403


# --- pages -------------------------------------------------------------------------------------


def test_the_pages_sign_show_and_keep_what_was_typed(client, setup):
    template = _template(setup)
    client.force_login(setup.practitioner.user)
    chart = client.get(f"/patients/{setup.patient.id}/").content.decode()
    assert 'id="consents"' in chart and 'id="no-consents"' in chart
    sign = f"/patients/{setup.patient.id}/consents/new/?template={template.id}"
    page = client.get(sign).content.decode()
    assert "I agree to dry needling" in page and "Bruising" in page
    refused = client.post(
        sign,
        {
            "template_id": template.id,
            "signer": "patient",
            "signed_name": "Alex Typed",
            "witness_name": "Desk",
            "signature": "",
        },
    )
    html = refused.content.decode()
    assert refused.status_code == 422 and "Alex Typed" in html and 'value="Desk"' in html
    done = client.post(
        sign,
        {
            "template_id": template.id,
            "signer": "patient",
            "signed_name": "Alex Typed",
            "signature": signature_png(),
        },
    )
    assert done.status_code == 302
    page = client.get(done["Location"]).content.decode()
    assert 'id="consent-signature"' in page and "Alex Typed" in page and "text-bg-success" in page
    assert "Dry needling" in client.get(f"/patients/{setup.patient.id}/").content.decode()
    # the templates page is the owners' and admins'
    assert client.get("/consent-templates/").status_code == 403
    client.force_login(setup.owner.user)
    listing = client.get("/consent-templates/").content.decode()
    assert "Dry needling" in listing
    saved = client.post(
        f"/consent-templates/{template.id}/",
        {
            "name": "Dry needling",
            "text": "I agree to dry needling (new wording).",
            "is_active": "on",
            "service_ids": [str(setup.clinic.consult.id)],
        },
    )
    assert saved.status_code == 302
    with tenant_context(setup.owner.org.id, setup.owner.user.id):
        assert selectors.consent_template_get(template.id).version == 2
