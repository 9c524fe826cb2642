"""The FHIR R4 export (`GET /api/v1/patients/{id}/fhir`): a `collection` Bundle whose every
resource parses back with the fhir.resources models, whose every reference names an entry of the
bundle, with each resource kind of a full record; the record's access rules (404 across clinics
and outside the caseload, 403 without the permission); a constant number of queries; an access
event in the patient's log."""

from __future__ import annotations

import re
import uuid
from datetime import date, timedelta

import pytest
from django.utils import timezone
from fhir.resources.R4B import get_fhir_model_class

from clinic.core.tenancy import tenant_context
from tests.clinical.factories import actor_of, appointment_make, encounter_make
from tests.clinical.test_consents import signature_png

pytestmark = pytest.mark.django_db

KINDS = {
    "Patient",
    "RelatedPerson",
    "Practitioner",
    "Encounter",
    "Observation",
    "Condition",
    "AllergyIntolerance",
    "Appointment",
    "CarePlan",
    "DocumentReference",
    "Consent",
}
# an instant with its offset (FHIR instant/dateTime with a time part)
INSTANT = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?([+-]\d\d:\d\d|Z)$")


def _fill(setup, *, rounds: int = 1, first_day: int = 10) -> dict:
    """A full record for setup.patient: contacts, appointments, encounters with vitals,
    conditions, allergies and treatment plans (`rounds` times each); one allergy, condition and
    observation entered in error."""
    from clinic.care import services as care
    from clinic.clinical import services
    from clinic.directory import services as directory

    made: dict = {"errors": []}
    persona = setup.practitioner
    encounters = [encounter_make(setup) for _ in range(rounds)]
    with tenant_context(persona.org.id, persona.user.id):
        actor = actor_of(persona)
        owner = actor_of(setup.owner)
        for i in range(rounds):
            contact = directory.contact_create(
                actor=owner,
                data={"given_name": f"Mum{i}", "family_name": "Guardian", "phone": "+33612345678"},
            )
            directory.patient_contact_add(
                actor=owner,
                patient=setup.patient,
                data={"contact_id": contact.id, "relationship": "parent"},
            )
            start = (timezone.now() - timedelta(days=first_day + i)).replace(microsecond=0)
            appointment_make(
                setup.clinic,
                practitioner=setup.profile,
                patient=setup.patient,
                start=start,
                status="completed",
            )
            services.observation_create(
                actor=actor,
                patient_id=setup.patient.id,
                code="weight",
                value="71.5",
                encounter_id=encounters[i].id,
            )
            services.observation_create(
                actor=actor, patient_id=setup.patient.id, code="heart_rate", value="72"
            )
            services.condition_create(
                actor=actor, patient_id=setup.patient.id, code="J45.0", onset=date(2020, 1, 2)
            )
            services.allergy_create(
                actor=actor,
                patient_id=setup.patient.id,
                substance=f"Penicillin {i}",
                severity="life_threatening",
                reaction="Anaphylaxis",
            )
            care.plan_create(
                actor=actor,
                data={
                    "patient_id": setup.patient.id,
                    "practitioner_id": setup.profile.id,
                    "title": f"Knee rehabilitation {i}",
                    "start_date": date(2026, 1, 5),
                    "service_id": setup.clinic.consult.id,
                    "goals": [{"text": "Walk without pain", "target": "", "status": "open"}],
                },
            )
            services.document_upload(
                actor=actor,
                patient_id=setup.patient.id,
                data=b"%PDF-1.4\n%%EOF\n",
                title=f"Referral {i}",
                category="referral",
                encounter_id=encounters[i].id,
            )
            template = services.consent_template_create(
                actor=owner,
                data={"name": f"Consent {i} {uuid.uuid4().hex[:6]}", "text": "I agree."},
            )
            services.consent_sign(
                actor=owner,
                patient_id=setup.patient.id,
                template_id=template.id,
                signed_name="Alex",
                signature=signature_png(),
            )
        wrong = services.allergy_create(
            actor=actor, patient_id=setup.patient.id, substance="Nuts", severity="mild"
        )
        services.allergy_update(actor=actor, allergy_id=wrong.id, status="entered_in_error")
        made["errors"].append(wrong.id)
        wrong = services.observation_create(
            actor=actor, patient_id=setup.patient.id, code="weight", value="7.0"
        )
        services.observation_entered_in_error(actor=actor, observation_id=wrong.id)
        made["errors"].append(wrong.id)
    made["encounters"] = encounters
    return made


def _references(value):
    """Every `reference` string anywhere in a resource."""
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "reference" and isinstance(item, str):
                yield item
            else:
                yield from _references(item)
    elif isinstance(value, list):
        for item in value:
            yield from _references(item)


def _export(api, setup, persona=None):
    response = api.get(f"patients/{setup.patient.id}/fhir", persona or setup.practitioner)
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("application/fhir+json")
    return response.json()


def test_the_bundle_holds_each_kind_validates_and_references_resolve(api, setup):
    made = _fill(setup)
    bundle = _export(api, setup)
    assert bundle["resourceType"] == "Bundle" and bundle["type"] == "collection"
    assert INSTANT.match(bundle["timestamp"])
    get_fhir_model_class("Bundle").model_validate(bundle)

    by_kind: dict[str, list[dict]] = {}
    full_urls = set()
    for entry in bundle["entry"]:
        resource = entry["resource"]
        kind = resource["resourceType"]
        # each resource parses back with its own model class
        parsed = get_fhir_model_class(kind).model_validate(resource)
        assert parsed.id == resource["id"]
        assert entry["fullUrl"] == f"urn:uuid:{resource['id']}"
        full_urls.add(entry["fullUrl"])
        by_kind.setdefault(kind, []).append(resource)
    assert set(by_kind) == KINDS
    assert len(full_urls) == len(bundle["entry"])
    unresolved = {ref for ref in _references(bundle["entry"]) if ref not in full_urls}
    assert not unresolved

    (patient,) = by_kind["Patient"]
    assert patient["id"] == str(setup.patient.id)
    assert patient["birthDate"] == setup.patient.date_of_birth.isoformat()
    assert patient["identifier"][0]["value"] == setup.patient.mrn
    (mum,) = by_kind["RelatedPerson"]
    assert mum["relationship"][0]["coding"][0]["code"] == "PRN"
    assert mum["patient"]["reference"] == f"urn:uuid:{setup.patient.id}"
    assert {p["id"] for p in by_kind["Practitioner"]} == {str(setup.profile.id)}

    (condition,) = by_kind["Condition"]
    assert condition["code"]["coding"][0] == {
        "system": "http://hl7.org/fhir/sid/icd-10",
        "code": "J45.0",
        "display": "Predominantly allergic asthma",
    }
    assert condition["onsetDateTime"] == "2020-01-02"
    weights = [o for o in by_kind["Observation"] if o["code"]["coding"][0]["code"] == "29463-7"]
    (weight,) = weights  # the one entered in error is left out
    assert weight["valueQuantity"] == {
        "value": 71.5,
        "unit": "kg",
        "system": "http://unitsofmeasure.org",
        "code": "kg",
    }
    assert weight["encounter"]["reference"] == f"urn:uuid:{made['encounters'][0].id}"
    # instants carry the offset of the place (Paris: +01:00 or +02:00), never a naive time
    assert INSTANT.match(weight["effectiveDateTime"])
    assert weight["effectiveDateTime"].endswith(("+01:00", "+02:00"))
    (allergy,) = by_kind["AllergyIntolerance"]
    assert allergy["criticality"] == "high" and allergy["code"]["text"] == "Penicillin 0"
    assert allergy["reaction"][0]["severity"] == "severe"
    exported_ids = {resource["id"] for resource in map(lambda e: e["resource"], bundle["entry"])}
    assert not exported_ids & {str(i) for i in made["errors"]}

    statuses = sorted(a["status"] for a in by_kind["Appointment"])
    assert statuses == ["booked", "fulfilled"]
    for appointment in by_kind["Appointment"]:
        assert INSTANT.match(appointment["start"]) and INSTANT.match(appointment["end"])
    (plan,) = by_kind["CarePlan"]
    assert plan["intent"] == "plan" and plan["period"]["start"] == "2026-01-05"
    assert plan["author"]["reference"] == f"urn:uuid:{setup.profile.id}"
    (encounter,) = by_kind["Encounter"]
    assert encounter["class"]["code"] == "AMB" and INSTANT.match(encounter["period"]["start"])


def test_the_export_is_a_read_in_the_access_log(api, setup, owner_a):
    _export(api, setup)
    log = api.get(f"patients/{setup.patient.id}/access-log", owner_a).json()["items"]
    assert any(e["action"] == "clinical_record.read" and e["what"] == "fhir_export" for e in log)


def test_access_rules(api, setup, owner_a, owner_b, persona_factory):
    path = f"patients/{setup.patient.id}/fhir"
    assert api.get(path, owner_b).status_code == 404  # another clinic's patient
    outside = api.get(f"patients/{setup.stranger.id}/fhir", setup.practitioner)
    assert outside.status_code == 404  # outside the caseload
    for role in ("assistant", "manager"):
        refused = api.get(path, persona_factory(role))
        assert refused.status_code == 403, role
        assert refused.json()["error"]["details"]["permission"] == "record.export"
    assert api.get(path).status_code == 401
    # the owner reads every patient's record
    bundle = _export(api, setup, owner_a)
    assert bundle["entry"][0]["resource"]["resourceType"] == "Patient"


def test_query_count_is_constant(api, setup):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def measure():
        with CaptureQueriesContext(connection) as ctx:
            bundle = _export(api, setup)
        return len(ctx.captured_queries), len(bundle["entry"])

    _fill(setup)
    small, small_entries = measure()
    _fill(setup, rounds=4, first_day=20)
    large, large_entries = measure()
    assert large_entries > small_entries
    assert large == small


def test_an_animal_and_its_owner(api, owner_a):
    from tests.directory import factories

    dog = factories.patient(owner_a, given_name="Rex", species="dog", breed="Beagle")
    factories.link(owner_a, dog)
    response = api.get(f"patients/{dog.id}/fhir", owner_a)
    assert response.status_code == 200, response.content
    entries = [entry["resource"] for entry in response.json()["entry"]]
    for resource in entries:
        get_fhir_model_class(resource["resourceType"]).model_validate(resource)
    patient, owner = entries
    (animal,) = patient["extension"]
    assert animal["url"] == "http://hl7.org/fhir/StructureDefinition/patient-animal"
    assert {e["url"]: e["valueCodeableConcept"]["text"] for e in animal["extension"]} == {
        "species": "dog",
        "breed": "Beagle",
    }
    # an animal's owner has no HL7 relationship code: the relationship is named in text
    assert owner["resourceType"] == "RelatedPerson" and "coding" not in owner["relationship"][0]
