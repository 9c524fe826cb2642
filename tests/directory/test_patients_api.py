"""Patients and their contacts through the API: create/validate, duplicates, archive, links."""

from __future__ import annotations

import datetime as dt

import pytest

from tests.directory import factories

pytestmark = pytest.mark.django_db

HUMAN = {"given_name": "Hélène", "family_name": "Dupont", "date_of_birth": "1980-02-03"}
DOG = {"given_name": "Rex", "species": "Dog", "breed": "Beagle", "microchip": "250 26 9604 123456"}


def _error(response):
    return response.json()["error"]


def test_create_a_human_patient(api, owner_a):
    response = api.post(
        "patients",
        owner_a,
        json={**HUMAN, "phone": "06 12 34 56 78", "email": " Helene@Example.ORG ", "sex": "female"},
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["id"] and body["mrn"] == "P000001"
    assert body["phone"] == "+33612345678"
    assert body["email"] == "helene@example.org"
    assert body["preferred_language"] == "en"  # the organization's default
    assert body["archived"] is False and body["contacts"] == []
    assert body["display_name"] == "Hélène Dupont"
    second = api.post("patients", owner_a, json={**HUMAN, "given_name": "Zoé"}).json()
    assert second["mrn"] == "P000002"


def test_create_an_animal_patient(api, owner_a):
    response = api.post("patients", owner_a, json={**DOG, "weight_kg": "12.5", "neutered": True})
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["species"] == "dog"
    assert body["microchip"] == "250269604123456"
    assert body["weight_kg"] == "12.5"
    assert body["date_of_birth"] is None and body["family_name"] == ""


@pytest.mark.parametrize(
    ("payload", "fields"),
    [
        ({"given_name": "A", "family_name": "B"}, {"date_of_birth"}),
        ({"given_name": "A", "date_of_birth": "1990-01-01"}, {"family_name"}),
        ({**HUMAN, "date_of_birth": "2999-01-01"}, {"date_of_birth"}),
        ({**HUMAN, "date_of_birth": "03/02/1980"}, {"date_of_birth"}),
        ({**HUMAN, "email": "not-an-email"}, {"email"}),
        ({**HUMAN, "phone": "12345"}, {"phone"}),
        ({**HUMAN, "preferred_language": "de"}, {"preferred_language"}),
        ({**HUMAN, "microchip": "250269604123456"}, {"microchip"}),  # humans have no chip
        ({**DOG, "microchip": "12"}, {"microchip"}),
        ({**DOG, "weight_kg": "0"}, {"weight_kg"}),
        ({**HUMAN, "sex": "robot"}, {"sex"}),
        ({**HUMAN, "nickname": "x"}, {"nickname"}),
        ({"family_name": "B", "date_of_birth": "1990-01-01"}, {"given_name"}),
    ],
)
def test_bad_patient_input_names_the_fields_and_writes_nothing(api, owner_a, payload, fields):
    response = api.post("patients", owner_a, json=payload)
    assert response.status_code == 422, response.content
    error = _error(response)
    assert error["code"] == "validation_error"
    assert fields <= set(error["details"]), error
    assert api.get("patients?status=all", owner_a).json()["count"] == 0


def test_every_bad_field_is_reported_at_once(api, owner_a):
    response = api.post(
        "patients",
        owner_a,
        json={"given_name": "A", "date_of_birth": "2999-01-01", "email": "x", "phone": "1"},
    )
    assert set(_error(response)["details"]) >= {"date_of_birth", "email", "phone", "family_name"}


def test_duplicate_name_and_birth_date_answers_409_with_the_existing_record(api, owner_a):
    first = api.post("patients", owner_a, json=HUMAN).json()
    again = api.post(
        "patients",
        owner_a,
        json={"given_name": "helene", "family_name": "DUPONT", "date_of_birth": "1980-02-03"},
    )
    assert again.status_code == 409
    error = _error(again)
    assert error["code"] == "possible_duplicate"
    assert [p["id"] for p in error["details"]["existing"]] == [first["id"]]
    assert error["details"]["existing"][0]["mrn"] == first["mrn"]
    forced = api.post("patients?force=true", owner_a, json=HUMAN)
    assert forced.status_code == 201
    forced_in_body = api.post("patients", owner_a, json={**HUMAN, "force": True})
    assert forced_in_body.status_code == 201
    assert api.get("patients", owner_a).json()["count"] == 3


def test_archived_patients_still_count_as_duplicates(api, owner_a):
    first = api.post("patients", owner_a, json=HUMAN).json()
    api.post(f"patients/{first['id']}/archive", owner_a)
    again = api.post("patients", owner_a, json=HUMAN)
    assert again.status_code == 409
    assert _error(again)["details"]["existing"][0]["archived"] is True


def test_same_microchip_is_refused_even_with_force(api, owner_a, owner_b):
    first = api.post("patients", owner_a, json=DOG).json()
    again = api.post("patients", owner_a, json={**DOG, "given_name": "Max", "force": True})
    assert again.status_code == 409
    error = _error(again)
    assert error["code"] == "duplicate_microchip"
    assert error["details"]["existing"][0]["id"] == first["id"]
    # unique per organization, not globally
    assert api.post("patients", owner_b, json=DOG).status_code == 201


def test_given_mrn_is_kept_unique_and_moves_the_counter(api, owner_a):
    given = api.post("patients", owner_a, json={**HUMAN, "mrn": "p000041"}).json()
    assert given["mrn"] == "P000041"
    nxt = api.post("patients", owner_a, json={**HUMAN, "given_name": "Zoé"}).json()
    assert nxt["mrn"] == "P000042"
    clash = api.post("patients", owner_a, json={**HUMAN, "given_name": "Léa", "mrn": "P000041"})
    assert clash.status_code == 409 and _error(clash)["code"] == "duplicate_mrn"
    legacy = api.post("patients", owner_a, json={**HUMAN, "given_name": "Inès", "mrn": "A-77"})
    assert legacy.json()["mrn"] == "A-77"


def test_patch_validates_the_patient_as_it_would_be_saved(api, owner_a):
    patient = api.post("patients", owner_a, json=HUMAN).json()
    ok = api.patch(f"patients/{patient['id']}", owner_a, json={"preferred_name": "Léna"})
    assert ok.status_code == 200 and ok.json()["preferred_name"] == "Léna"
    assert ok.json()["display_name"] == "Léna Dupont"
    cleared = api.patch(f"patients/{patient['id']}", owner_a, json={"date_of_birth": None})
    assert cleared.status_code == 422 and "date_of_birth" in _error(cleared)["details"]
    bad = api.patch(f"patients/{patient['id']}", owner_a, json={"mrn": ""})
    assert bad.status_code == 422
    # turning a patient into an animal lifts the human rules
    animal = api.patch(
        f"patients/{patient['id']}", owner_a, json={"species": "cat", "date_of_birth": None}
    )
    assert animal.status_code == 200 and animal.json()["species"] == "cat"


def test_microchip_clash_on_update(api, owner_a):
    api.post("patients", owner_a, json=DOG)
    other = api.post("patients", owner_a, json={"given_name": "Max", "species": "dog"}).json()
    response = api.patch(f"patients/{other['id']}", owner_a, json={"microchip": DOG["microchip"]})
    assert response.status_code == 409


def test_archive_semantics(api, owner_a):
    patient = api.post("patients", owner_a, json=HUMAN).json()
    archived = api.post(f"patients/{patient['id']}/archive", owner_a)
    assert archived.status_code == 200
    assert archived.json()["archived"] is True and archived.json()["archived_at"]
    # gone from default lists and search, still readable, listed on request
    assert api.get("patients", owner_a).json()["count"] == 0
    assert api.get("patients?search=helene", owner_a).json()["count"] == 0
    assert api.get("patients?status=archived", owner_a).json()["count"] == 1
    assert api.get("patients?status=all&search=helene", owner_a).json()["count"] == 1
    assert api.get(f"patients/{patient['id']}", owner_a).status_code == 200
    # frozen until restored
    frozen = api.patch(f"patients/{patient['id']}", owner_a, json={"notes": "x"})
    assert frozen.status_code == 409 and _error(frozen)["code"] == "archived"
    # archiving twice is harmless; restoring brings it back
    assert api.post(f"patients/{patient['id']}/archive", owner_a).status_code == 200
    restored = api.post(f"patients/{patient['id']}/restore", owner_a).json()
    assert restored["archived"] is False
    assert api.get("patients", owner_a).json()["count"] == 1


def test_there_is_no_way_to_delete_a_patient(api, owner_a):
    patient = api.post("patients", owner_a, json=HUMAN).json()
    assert api.delete(f"patients/{patient['id']}", owner_a).status_code == 405


def test_reading_a_patient_is_an_audit_event(api, owner_a, tenant):
    from clinic.audit.models import AuditEvent

    patient = api.post("patients", owner_a, json=HUMAN).json()
    api.get(f"patients/{patient['id']}", owner_a)
    with tenant(owner_a.org):
        event = AuditEvent.objects.get(action="patient.view", object_id=patient["id"])
    assert event.actor_id == owner_a.user.id
    assert event.object_type == "directory_patient"


def test_writes_are_audited_with_before_and_after(api, owner_a, tenant):
    from clinic.audit.models import AuditEvent

    patient = api.post("patients", owner_a, json=HUMAN).json()
    api.patch(f"patients/{patient['id']}", owner_a, json={"notes": "allergic to penicillin"})
    with tenant(owner_a.org):
        update = AuditEvent.objects.get(
            object_type="directory_patient", object_id=patient["id"], action="update"
        )
    assert update.before["notes"] == "" and update.after["notes"] == "allergic to penicillin"
    assert "search_name" not in update.after  # derived columns kept out of the image


def test_patient_list_filters_and_sorting(api, owner_a):
    factories.patient(owner_a, given_name="Anna", family_name="Zola", date_of_birth="1990-01-01")
    factories.patient(owner_a, given_name="Bob", family_name="Abel", date_of_birth="1970-01-01")
    factories.patient(owner_a, given_name="Rex", species="dog")
    assert api.get("patients?kind=animal", owner_a).json()["count"] == 1
    assert api.get("patients?kind=human", owner_a).json()["count"] == 2
    assert api.get("patients?species=DOG", owner_a).json()["count"] == 1
    by_name = [p["family_name"] for p in api.get("patients?kind=human", owner_a).json()["items"]]
    assert by_name == ["Abel", "Zola"]
    by_dob = api.get("patients?kind=human&sort=-date_of_birth", owner_a).json()["items"]
    assert [p["given_name"] for p in by_dob] == ["Anna", "Bob"]
    paged = api.get("patients?page_size=2&page=2", owner_a).json()
    assert paged["count"] == 3 and paged["pages"] == 2 and len(paged["items"]) == 1
    assert api.get("patients?sort=nope", owner_a).status_code == 422
    assert api.get("patients?status=gone", owner_a).status_code == 422


def test_export_patients_csv(api, owner_a, persona_factory):
    patient = factories.patient(owner_a, given_name="=HYPERLINK(1)", family_name="Évin")
    factories.link(owner_a, patient)
    response = api.get("patients/export.csv", owner_a)
    assert response.status_code == 200
    text = response.content.decode()
    header, row = text.splitlines()[:2]
    assert header.split(",")[:3] == ["mrn", "given_name", "family_name"]
    assert "'=HYPERLINK(1)" in row  # spreadsheet formulas are neutralised
    assert "Évin" in row and "parent" in row
    assert api.get("patients/export.csv", persona_factory("manager")).status_code == 403


# --- contacts ----------------------------------------------------------------------------------


def test_add_a_new_guardian_and_an_existing_one(api, owner_a):
    child = api.post(
        "patients",
        owner_a,
        json={"given_name": "Léo", "family_name": "Petit", "date_of_birth": "2018-05-01"},
    ).json()
    first = api.post(
        f"patients/{child['id']}/contacts",
        owner_a,
        json={
            "relationship": "parent",
            "is_primary": True,
            "may_receive_clinical_info": True,
            "contact": {"given_name": "Amélie", "family_name": "Petit", "phone": "0612345678"},
        },
    )
    assert first.status_code == 201, first.content
    assert first.json()["contact"]["phone"] == "+33612345678"
    other = factories.contact(owner_a, given_name="Karim", family_name="Benali")
    second = api.post(
        f"patients/{child['id']}/contacts",
        owner_a,
        json={"relationship": "legal_guardian", "contact_id": str(other.id), "is_primary": True},
    )
    assert second.status_code == 201
    links = api.get(f"patients/{child['id']}/contacts", owner_a).json()["items"]
    assert len(links) == 2
    primary = [link for link in links if link["is_primary"]]
    assert [link["contact"]["display_name"] for link in primary] == ["Karim Benali"]
    detail = api.get(f"patients/{child['id']}", owner_a).json()
    assert {c["display_name"] for c in detail["contacts"]} == {"Amélie Petit", "Karim Benali"}


def test_one_owner_of_many_animals(api, owner_a):
    owner = factories.contact(owner_a, given_name="Nour", family_name="Haddad")
    for name in ("Félix", "Minou", "Caramel"):
        animal = factories.patient(owner_a, given_name=name, species="cat")
        factories.link(owner_a, animal, owner, relationship="owner", is_primary=True)
    contact = api.get(f"contacts/{owner.id}", owner_a).json()
    assert sorted(p["display_name"] for p in contact["patients"]) == ["Caramel", "Félix", "Minou"]
    assert api.get(f"patients?contact_id={owner.id}", owner_a).json()["count"] == 3


def test_relationship_rules(api, owner_a):
    dog = factories.patient(owner_a, given_name="Rex", species="dog")
    human = factories.patient(owner_a)
    contact = factories.contact(owner_a)
    as_parent = api.post(
        f"patients/{dog.id}/contacts",
        owner_a,
        json={"relationship": "parent", "contact_id": str(contact.id)},
    )
    assert as_parent.status_code == 422 and "relationship" in _error(as_parent)["details"]
    as_owner = api.post(
        f"patients/{human.id}/contacts",
        owner_a,
        json={"relationship": "owner", "contact_id": str(contact.id)},
    )
    assert as_owner.status_code == 422
    neither = api.post(f"patients/{human.id}/contacts", owner_a, json={"relationship": "payer"})
    assert neither.status_code == 422 and "contact_id" in _error(neither)["details"]
    missing = api.post(
        f"patients/{human.id}/contacts", owner_a, json={"contact_id": str(contact.id)}
    )
    assert missing.status_code == 422 and "relationship" in _error(missing)["details"]
    ok = api.post(
        f"patients/{human.id}/contacts",
        owner_a,
        json={"relationship": "payer", "contact_id": str(contact.id)},
    )
    assert ok.status_code == 201
    twice = api.post(
        f"patients/{human.id}/contacts",
        owner_a,
        json={"relationship": "payer", "contact_id": str(contact.id)},
    )
    assert twice.status_code == 409


def test_new_contact_errors_are_named_under_contact(api, owner_a):
    human = factories.patient(owner_a)
    response = api.post(
        f"patients/{human.id}/contacts",
        owner_a,
        json={"relationship": "parent", "contact": {"given_name": "A", "email": "nope"}},
    )
    assert response.status_code == 422
    assert "contact.email" in _error(response)["details"]


def test_update_and_remove_a_link(api, owner_a, tenant):
    from clinic.directory.models import Contact

    human = factories.patient(owner_a)
    link = factories.link(owner_a, human)
    url = f"patients/{human.id}/contacts/{link.id}"
    patched = api.patch(url, owner_a, json={"is_primary": True, "relationship": "legal_guardian"})
    assert patched.status_code == 200
    assert patched.json()["is_primary"] is True
    assert patched.json()["relationship"] == "legal_guardian"
    assert api.patch(url, owner_a, json={"is_primary": None}).status_code == 422
    assert api.delete(url, owner_a).status_code == 204
    assert api.get(url, owner_a).status_code == 404
    with tenant(owner_a.org):
        assert Contact.objects.filter(id=link.contact_id).exists()  # the contact stays


def test_a_link_is_reached_only_through_its_patient(api, owner_a):
    first = factories.patient(owner_a)
    second = factories.patient(owner_a)
    link = factories.link(owner_a, first)
    assert api.get(f"patients/{second.id}/contacts/{link.id}", owner_a).status_code == 404


def test_contacts_crud_search_archive(api, owner_a):
    created = api.post(
        "contacts",
        owner_a,
        json={"given_name": "Zoé", "family_name": "Lefèvre", "email": "zoe@example.org"},
    )
    assert created.status_code == 201, created.content
    contact = created.json()
    assert api.post("contacts", owner_a, json={"email": "a@b.org"}).status_code == 422
    assert api.get("contacts?search=lefev", owner_a).json()["count"] == 1
    assert api.get("contacts?search=zoe@exa", owner_a).json()["count"] == 1
    patched = api.patch(f"contacts/{contact['id']}", owner_a, json={"phone": "+44 20 7946 0958"})
    assert patched.json()["phone"] == "+442079460958"
    assert api.post(f"contacts/{contact['id']}/archive", owner_a).json()["archived"] is True
    assert api.get("contacts", owner_a).json()["count"] == 0
    frozen = api.patch(f"contacts/{contact['id']}", owner_a, json={"notes": "x"})
    assert frozen.status_code == 409
    # archived contacts are not offered for new links
    human = factories.patient(owner_a)
    response = api.post(
        f"patients/{human.id}/contacts",
        owner_a,
        json={"relationship": "payer", "contact_id": contact["id"]},
    )
    assert response.status_code == 422
    assert api.post(f"contacts/{contact['id']}/restore", owner_a).json()["archived"] is False


def test_date_of_birth_today_is_accepted(api, owner_a):
    today = dt.date.today().isoformat()
    response = api.post(
        "patients",
        owner_a,
        json={"given_name": "Nouveau", "family_name": "Né", "date_of_birth": today},
    )
    assert response.status_code == 201


def test_idempotency_key_replays_a_patient_creation(api, owner_a):
    headers = {"HTTP_IDEMPOTENCY_KEY": "create-helene-1"}
    first = api.post("patients", owner_a, json=HUMAN, headers=headers)
    second = api.post("patients", owner_a, json=HUMAN, headers=headers)
    assert first.status_code == second.status_code == 201
    assert first.json()["id"] == second.json()["id"]
    assert api.get("patients", owner_a).json()["count"] == 1
