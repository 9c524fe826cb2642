"""The record's lists: allergies and "no known allergies", alerts, conditions (ICD-10) and vital
signs — the rules at the service level, then end to end through the API (CRUD, 404 across
clinics and outside the caseload, 403 without the permission, 422 naming the field)."""

from __future__ import annotations

import datetime as dt
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from clinic.clinical import selectors, services
from clinic.clinical.selectors.record import TREND_POINTS
from clinic.core.errors import Conflict, NotFound, ValidationFailed
from clinic.core.tenancy import tenant_context
from tests.clinical.factories import actor_of

pytestmark = pytest.mark.django_db


def _ok(response, status=200):
    assert response.status_code == status, response.content
    return response.json()


def _in(setup, persona=None):
    persona = persona or setup.practitioner
    return tenant_context(persona.org.id, persona.user.id), actor_of(persona)


# --- services ----------------------------------------------------------------------------------


def test_banner_says_not_recorded_then_none_known_then_the_serious_ones(setup):
    context, actor = _in(setup)
    with context:
        patient = setup.patient.id
        assert selectors.banner(patient).allergy_state == selectors.NOT_RECORDED
        services.allergies_none_known(actor=actor, patient_id=patient)
        assert selectors.banner(patient).allergy_state == selectors.NONE_KNOWN
        mild = services.allergy_create(
            actor=actor, patient_id=patient, substance="Pollen", severity="mild"
        )
        severe = services.allergy_create(
            actor=actor,
            patient_id=patient,
            substance="Penicillin",
            severity="life_threatening",
            reaction="Anaphylaxis",
        )
        banner = selectors.banner(patient)
        assert banner.allergy_state == selectors.RECORDED and banner.urgent
        assert [a.id for a in banner.serious_allergies] == [severe.id]
        assert [a.id for a in banner.other_allergies] == [mild.id]
        with pytest.raises(Conflict) as refused:
            services.allergies_none_known(actor=actor, patient_id=patient)
        assert refused.value.code == "allergies_recorded"
        # a mistake leaves the banner, and stays a mistake
        services.allergy_update(actor=actor, allergy_id=severe.id, status="entered_in_error")
        assert selectors.banner(patient).serious_allergies == []
        assert severe.id not in [a.id for a in selectors.allergies_list(patient)]
        assert severe.id in [a.id for a in selectors.allergies_list(patient, include_errors=True)]
        with pytest.raises(Conflict) as final:
            services.allergy_update(actor=actor, allergy_id=severe.id, status="active")
        assert final.value.code == "entered_in_error"
        # inactive allergies alone: nobody said "none known" since
        services.allergy_update(actor=actor, allergy_id=mild.id, status="inactive")
        assert selectors.banner(patient).allergy_state == selectors.NOT_RECORDED


def test_allergy_and_alert_validation_names_the_field(setup):
    context, actor = _in(setup)
    with context:
        cases = [
            ({"substance": " ", "severity": "mild"}, "substance"),
            ({"substance": "Latex", "severity": "deadly"}, "severity"),
            ({"substance": "Latex", "severity": "mild", "status": "entered_in_error"}, "status"),
            ({"substance": "Latex", "severity": "mild", "onset": "2020-13-01"}, "onset"),
            ({"substance": "x" * 201, "severity": "mild"}, "substance"),
        ]
        for body, field in cases:
            with pytest.raises(ValidationFailed) as bad:
                services.allergy_create(actor=actor, patient_id=setup.patient.id, **body)
            assert field in bad.value.details, body
        with pytest.raises(ValidationFailed) as bad:
            services.alert_create(actor=actor, patient_id=setup.patient.id, text="", level="info")
        assert "text" in bad.value.details
        alert = services.alert_create(
            actor=actor, patient_id=setup.patient.id, text="Aggressive dog", level="danger"
        )
        assert [a.id for a in selectors.banner(setup.patient.id).danger_alerts] == [alert.id]
        services.alert_update(actor=actor, alert_id=alert.id, active=False)
        assert selectors.banner(setup.patient.id).danger_alerts == []


def test_conditions_take_real_icd10_codes_and_resolve_with_a_date(setup):
    context, actor = _in(setup)
    with context:
        condition = services.condition_create(actor=actor, patient_id=setup.patient.id, code="j450")
        assert (condition.code, condition.label) == ("J45.0", "Predominantly allergic asthma")
        for code in ("J40-J47", "XYZ", ""):
            with pytest.raises(ValidationFailed) as bad:
                services.condition_create(actor=actor, patient_id=setup.patient.id, code=code)
            assert "code" in bad.value.details
        resolved = services.condition_update(
            actor=actor, condition_id=condition.id, clinical_status="resolved"
        )
        assert resolved.abatement is not None
        with pytest.raises(ValidationFailed) as bad:
            services.condition_update(
                actor=actor, condition_id=condition.id, onset=resolved.abatement + timedelta(1)
            )
        assert "onset" in bad.value.details or "abatement" in bad.value.details
        reopened = services.condition_update(
            actor=actor, condition_id=condition.id, clinical_status="active"
        )
        assert reopened.abatement is None


def test_observations_are_checked_against_their_plausible_range(setup):
    context, actor = _in(setup)
    with context:
        patient = setup.patient.id
        for code, value, field in (
            ("weight", "7000", "value"),
            ("temperature", "3.7", "value"),
            ("pain", "11", "value"),
            ("pain", "2.5", "value"),
            ("heart_rate", "fast", "value"),
            ("glucose", "5", "code"),
        ):
            with pytest.raises(ValidationFailed) as bad:
                services.observation_create(actor=actor, patient_id=patient, code=code, value=value)
            assert field in bad.value.details, (code, value)
        with pytest.raises(ValidationFailed) as bad:
            services.observation_create(
                actor=actor,
                patient_id=patient,
                code="weight",
                value="70",
                recorded_at=timezone.now() + timedelta(hours=1),
            )
        assert "recorded_at" in bad.value.details
        now = timezone.now()
        for i, value in enumerate(("70.5", "71", "71.4")):
            services.observation_create(
                actor=actor,
                patient_id=patient,
                code="weight",
                value=value,
                recorded_at=now - timedelta(days=3 - i),
            )
        wrong = services.observation_create(
            actor=actor, patient_id=patient, code="weight", value="17.4"
        )
        services.observation_entered_in_error(actor=actor, observation_id=wrong.id)
        (trend,) = selectors.vital_trends(patient)
        assert trend.vital.code == "weight" and str(trend.latest.value) == "71.40"
        assert [str(p.value) for p in trend.points] == ["70.50", "71.00", "71.40"]


def test_a_patient_outside_the_caseload_has_no_record_lists(setup):
    context, actor = _in(setup)
    with context:
        with pytest.raises(NotFound):
            services.allergy_create(
                actor=actor, patient_id=setup.stranger.id, substance="Nuts", severity="mild"
            )
        with pytest.raises(NotFound):
            selectors.record_patient(actor, setup.stranger.id)


# --- API ---------------------------------------------------------------------------------------


def test_allergies_and_alerts_through_the_api(api, setup, owner_a, owner_b):
    doc = setup.practitioner
    base = f"patients/{setup.patient.id}"
    created = _ok(
        api.post(
            f"{base}/allergies",
            doc,
            json={"substance": "Peanut", "severity": "severe", "reaction": "Hives"},
            headers={"HTTP_IDEMPOTENCY_KEY": "allergy-1"},
        ),
        201,
    )
    assert created["status"] == "active" and created["recorded_by"]["id"]
    again = api.post(
        f"{base}/allergies",
        doc,
        json={"substance": "Peanut", "severity": "severe", "reaction": "Hives"},
        headers={"HTTP_IDEMPOTENCY_KEY": "allergy-1"},
    )
    assert again.json()["id"] == created["id"]
    listed = _ok(api.get(f"{base}/allergies", doc))
    assert [a["substance"] for a in listed["items"]] == ["Peanut"]
    patched = _ok(api.patch(f"allergies/{created['id']}", doc, json={"severity": "moderate"}))
    assert patched["severity"] == "moderate" and patched["reaction"] == "Hives"
    bad = api.post(f"{base}/allergies", doc, json={"substance": "Eggs", "severity": "awful"})
    assert bad.status_code == 422 and "severity" in bad.json()["error"]["details"]
    refused = api.post(f"{base}/allergies/none-known", doc)
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "allergies_recorded"
    _ok(api.patch(f"allergies/{created['id']}", doc, json={"status": "entered_in_error"}))
    assert _ok(api.get(f"{base}/allergies", doc))["count"] == 0
    assert _ok(api.get(f"{base}/allergies?include_errors=true", doc))["count"] == 1
    assert _ok(api.post(f"{base}/allergies/none-known", doc))["no_known_allergies"] is True

    alert = _ok(api.post(f"{base}/alerts", doc, json={"text": "Bites", "level": "danger"}), 201)
    off = _ok(api.patch(f"alerts/{alert['id']}", doc, json={"active": False}))
    assert off["active"] is False and off["text"] == "Bites"
    assert _ok(api.get(f"{base}/alerts?active=true", doc))["count"] == 0

    # another clinic's owner: 404; the reads are in the patient's access log
    for path in (f"{base}/allergies", f"allergies/{created['id']}", f"alerts/{alert['id']}"):
        response = api.get(path, owner_b)
        assert response.status_code == 404, path
    log = _ok(api.get(f"{base}/access-log", owner_a))["items"]
    assert any(e["action"] == "clinical_record.read" and e["what"] == "allergies" for e in log)


def test_front_desk_and_the_caseload_rule(api, setup, persona_factory):
    assistant = persona_factory("assistant")
    base = f"patients/{setup.patient.id}"
    for method, path in (("get", f"{base}/allergies"), ("get", f"{base}/alerts")):
        response = getattr(api, method)(path, assistant)
        assert response.status_code == 403, path
    refused = api.post(f"{base}/conditions", assistant, json={"code": "J45"})
    assert refused.status_code == 403
    outside = api.get(f"patients/{setup.stranger.id}/allergies", setup.practitioner)
    assert outside.status_code == 404


def test_conditions_icd10_search_and_observations_through_the_api(api, setup, owner_b):
    doc = setup.practitioner
    base = f"patients/{setup.patient.id}"
    found = _ok(api.get("icd10?q=asthma", doc))
    assert {"code": "J45", "label": "Asthma"} in found and len(found) <= 20
    assert _ok(api.get("icd10?q=E11", doc))[0]["code"] == "E11"
    condition = _ok(api.post(f"{base}/conditions", doc, json={"code": "E11.9"}), 201)
    assert condition["label"] == "Type 2 diabetes mellitus without complications"
    bad = api.post(f"{base}/conditions", doc, json={"code": "Q99.99"})
    assert bad.status_code == 422 and "code" in bad.json()["error"]["details"]
    resolved = _ok(
        api.patch(f"conditions/{condition['id']}", doc, json={"clinical_status": "resolved"})
    )
    assert resolved["abatement"]

    # a time typed in +05:30 is the same instant in UTC
    typed = (
        (timezone.now() - timedelta(days=3))
        .astimezone(dt.timezone(timedelta(hours=5, minutes=30)))
        .replace(second=0, microsecond=0)
    )
    weight = _ok(
        api.post(
            f"{base}/observations",
            doc,
            json={"code": "weight", "value": "72.3", "recorded_at": typed.isoformat()},
        ),
        201,
    )
    assert weight["loinc"] == "29463-7" and weight["unit"] == "kg"
    assert dt.datetime.fromisoformat(weight["recorded_at"].replace("Z", "+00:00")) == typed
    naive = api.post(
        f"{base}/observations",
        doc,
        json={
            "code": "weight",
            "value": "72",
            "recorded_at": typed.replace(tzinfo=None).isoformat(),
        },
    )
    assert naive.status_code == 422
    high = api.post(f"{base}/observations", doc, json={"code": "temperature", "value": "52"})
    assert high.status_code == 422
    message = high.json()["error"]["details"]["value"][0]
    assert "Body temperature" in message and "46" in message
    listed = _ok(api.get(f"{base}/observations?code=weight", doc))
    assert [o["value"] for o in listed["items"]] == ["72.30"] or listed["items"][0]["value"] in (
        72.3,
        "72.3",
    )
    _ok(api.post(f"observations/{weight['id']}/entered-in-error", doc))
    assert _ok(api.get(f"{base}/observations", doc))["count"] == 0
    assert [v["code"] for v in _ok(api.get("vitals", doc))][:2] == ["weight", "height"]
    for path in (f"conditions/{condition['id']}", f"observations/{weight['id']}"):
        assert api.get(path, owner_b).status_code == 404


def test_adult_values_outside_the_reference_range_are_flagged(api, setup, tenant):
    from clinic.clinical.vitals import interpretation

    today = timezone.now().date()
    adult = {"species": "", "date_of_birth": today.replace(year=today.year - 40), "on": today}
    assert interpretation("heart_rate", Decimal(120), **adult) == "high"
    assert interpretation("temperature", Decimal("35.2"), **adult) == "low"
    assert interpretation("heart_rate", Decimal(72), **adult) is None
    child = {**adult, "date_of_birth": today.replace(year=today.year - 5)}
    assert interpretation("heart_rate", Decimal(120), **child) is None
    assert interpretation("heart_rate", Decimal(180), **{**adult, "species": "cat"}) is None
    doc = setup.practitioner
    base = f"patients/{setup.patient.id}/observations"
    fast = _ok(api.post(base, doc, json={"code": "heart_rate", "value": "130"}), 201)
    with tenant(setup.owner.org, setup.owner.user):
        from clinic.directory.models import Patient

        born = Patient.objects.get(id=setup.patient.id).date_of_birth
    expected = "high" if born and (today - born).days > 19 * 366 else None
    assert fast["interpretation"] == expected
    listed = _ok(api.get(base, doc))["items"]
    assert listed[0]["interpretation"] == expected


def test_each_measure_keeps_its_trend_however_many_others_follow(setup):
    context, actor = _in(setup)
    now = timezone.now()
    with context:
        patient = setup.patient.id
        services.observation_create(
            actor=actor,
            patient_id=patient,
            code="height",
            value="172",
            recorded_at=now - timedelta(days=400),
        )
        for k in range(TREND_POINTS + 15):
            services.observation_create(
                actor=actor,
                patient_id=patient,
                code="heart_rate",
                value=str(60 + k % 30),
                recorded_at=now - timedelta(hours=k + 1),
            )
        trends = {t.vital.code: t for t in selectors.vital_trends(patient)}
    assert trends["height"].latest.value == Decimal("172")
    points = trends["heart_rate"].points
    assert len(points) == TREND_POINTS
    assert points[-1].recorded_at > points[0].recorded_at  # oldest first, the newest last
