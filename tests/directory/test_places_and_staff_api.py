"""Locations, rooms, services and practitioners through the API: CRUD, validation, archive."""

from __future__ import annotations

import pytest

from tests.directory import factories

pytestmark = pytest.mark.django_db


def _error(response):
    body = response.json()
    assert set(body) == {"error"}, body
    return body["error"]


# --- locations ---------------------------------------------------------------------------------


def test_location_crud_and_time_zone_defaults_to_the_organizations(api, owner_a):
    created = api.post("locations", owner_a, json={"name": "Centre", "phone": "01 42 00 00 00"})
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["time_zone"] == "Europe/Paris"  # clinic A's zone
    assert body["phone"] == "+33142000000"  # national number read in the clinic's country
    assert body["active"] is True and body["room_count"] == 0

    got = api.get(f"locations/{body['id']}", owner_a).json()
    assert got["name"] == "Centre"
    patched = api.patch(
        f"locations/{body['id']}", owner_a, json={"time_zone": "Africa/Casablanca", "city": "Rabat"}
    )
    assert patched.status_code == 200
    assert patched.json()["time_zone"] == "Africa/Casablanca"
    assert patched.json()["city"] == "Rabat"


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"name": "X", "time_zone": "Mars/Olympus"}, "time_zone"),
        ({"name": ""}, "name"),
        ({"name": "X", "phone": "12"}, "phone"),
        ({"name": "X", "country": "XX"}, "country"),
        ({"time_zone": "UTC"}, "name"),
        ({"name": "X", "colour": "red"}, "colour"),  # unknown field
    ],
)
def test_location_bad_input_names_the_field_and_writes_nothing(api, owner_a, payload, field):
    response = api.post("locations", owner_a, json=payload)
    assert response.status_code == 422, response.content
    assert field in _error(response)["details"]
    assert api.get("locations?status=all", owner_a).json()["count"] == 0


def test_location_names_are_unique_per_organization_case_insensitively(api, owner_a, owner_b):
    assert api.post("locations", owner_a, json={"name": "Centre"}).status_code == 201
    clash = api.post("locations", owner_a, json={"name": "CENTRE"})
    assert clash.status_code == 409
    assert "name" in _error(clash)["details"]
    # another clinic may use the same name
    assert api.post("locations", owner_b, json={"name": "Centre"}).status_code == 201


def test_archiving_a_location_archives_its_rooms(api, owner_a):
    location = factories.location(owner_a)
    room = factories.room(owner_a, location)
    archived = api.post(f"locations/{location.id}/archive", owner_a)
    assert archived.status_code == 200 and archived.json()["active"] is False
    assert api.get("locations", owner_a).json()["count"] == 0
    assert api.get("locations?status=archived", owner_a).json()["count"] == 1
    assert api.get(f"rooms/{room.id}", owner_a).json()["active"] is False
    # a room cannot be restored while its location is archived
    assert api.post(f"rooms/{room.id}/restore", owner_a).status_code == 409
    assert api.post(f"locations/{location.id}/restore", owner_a).json()["active"] is True
    assert api.post(f"rooms/{room.id}/restore", owner_a).json()["active"] is True


def test_locations_list_search_and_sort(api, owner_a):
    for name, city in (("Nord", "Lille"), ("Sud", "Montpellier"), ("Élysée", "Paris")):
        factories.location(owner_a, name=name, city=city)
    names = [row["name"] for row in api.get("locations?sort=-name", owner_a).json()["items"]]
    assert names == sorted(names, reverse=True)
    found = api.get("locations?search=elysee", owner_a).json()["items"]
    assert [row["name"] for row in found] == ["Élysée"]
    assert api.get("locations?search=lille", owner_a).json()["count"] == 1
    bad = api.get("locations?sort=colour", owner_a)
    assert bad.status_code == 422 and "sort" in _error(bad)["details"]


# --- rooms -------------------------------------------------------------------------------------


def test_room_crud_capacity_and_kind(api, owner_a):
    location = factories.location(owner_a)
    created = api.post(
        "rooms",
        owner_a,
        json={"location_id": str(location.id), "name": "Kennel 1", "kind": "kennel"},
    )
    assert created.status_code == 201, created.content
    room = created.json()
    assert room["capacity"] == 1 and room["location_name"] == location.name
    assert api.patch(f"rooms/{room['id']}", owner_a, json={"capacity": 0}).status_code == 422
    assert api.patch(f"rooms/{room['id']}", owner_a, json={"kind": "pool"}).status_code == 422
    patched = api.patch(f"rooms/{room['id']}", owner_a, json={"capacity": 4, "kind": "group"})
    assert patched.json()["capacity"] == 4 and patched.json()["kind"] == "group"
    listed = api.get(f"rooms?location_id={location.id}&min_capacity=3", owner_a).json()
    assert [r["id"] for r in listed["items"]] == [room["id"]]
    assert api.get("rooms?kind=kennel", owner_a).json()["count"] == 0


def test_room_needs_a_location_of_this_clinic(api, owner_a, owner_b):
    other = factories.location(owner_b)
    response = api.post("rooms", owner_a, json={"location_id": str(other.id), "name": "R"})
    assert response.status_code == 422
    assert _error(response)["details"]["location_id"] == ["No such location."]


def test_room_names_are_unique_per_location(api, owner_a):
    location = factories.location(owner_a)
    factories.room(owner_a, location, name="Salle 1")
    clash = api.post("rooms", owner_a, json={"location_id": str(location.id), "name": "salle 1"})
    assert clash.status_code == 409
    other = factories.location(owner_a)
    ok = api.post("rooms", owner_a, json={"location_id": str(other.id), "name": "Salle 1"})
    assert ok.status_code == 201


# --- services ----------------------------------------------------------------------------------


def test_service_amounts_are_strings_with_two_decimals(api, owner_a):
    created = api.post(
        "services",
        owner_a,
        json={"name": "Bilan", "duration_minutes": 60, "price": 85, "tax_rate": "20"},
    )
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["price"] == "85.00" and body["tax_rate"] == "20.00"
    assert body["modality"] == "in_person" and body["buffer_after_minutes"] == 0
    patched = api.patch(f"services/{body['id']}", owner_a, json={"price": "42.5"})
    assert patched.json()["price"] == "42.50"


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"price": "-1"}, "price"),
        ({"price": "10.123"}, "price"),
        ({"price": "abc"}, "price"),
        ({"duration_minutes": 0}, "duration_minutes"),
        ({"duration_minutes": 2000}, "duration_minutes"),
        ({"tax_rate": "101"}, "tax_rate"),
        ({"buffer_before_minutes": -5}, "buffer_before_minutes"),
        ({"modality": "carrier_pigeon"}, "modality"),
        ({"colour": "#12345"}, "colour"),
    ],
)
def test_service_bad_input(api, owner_a, payload, field):
    data = {"name": "S", "duration_minutes": 30, "price": "10.00", **payload}
    response = api.post("services", owner_a, json=data)
    assert response.status_code == 422, response.content
    assert field in _error(response)["details"]


def test_service_code_unique_and_practitioners_who_deliver_it(api, owner_a):
    first = factories.practitioner(owner_a)
    second = factories.practitioner(owner_a)
    created = api.post(
        "services",
        owner_a,
        json={
            "name": "Consultation",
            "code": "cons-1",
            "duration_minutes": 30,
            "price": "50",
            "practitioner_ids": [str(first.id), str(second.id)],
        },
    )
    assert created.status_code == 201, created.content
    service = created.json()
    assert service["code"] == "CONS-1"
    assert set(service["practitioner_ids"]) == {str(first.id), str(second.id)}
    clash = api.post(
        "services",
        owner_a,
        json={"name": "Other", "code": "CONS-1", "duration_minutes": 30, "price": "1"},
    )
    assert clash.status_code == 409 and "code" in _error(clash)["details"]
    patched = api.patch(
        f"services/{service['id']}", owner_a, json={"practitioner_ids": [str(second.id)]}
    )
    assert patched.json()["practitioner_ids"] == [str(second.id)]
    assert api.get(f"services?practitioner_id={first.id}", owner_a).json()["count"] == 0
    assert api.get(f"services?practitioner_id={second.id}", owner_a).json()["count"] == 1


def test_service_archive_hides_it_from_the_default_list(api, owner_a):
    service = factories.service(owner_a)
    assert api.post(f"services/{service.id}/archive", owner_a).json()["active"] is False
    assert api.get("services", owner_a).json()["count"] == 0
    assert api.get("services?status=all", owner_a).json()["count"] == 1
    assert api.get(f"services/{service.id}", owner_a).status_code == 200


def test_database_refuses_negative_prices_whatever_the_code(owner_a, tenant):
    from django.db import IntegrityError, transaction

    from clinic.directory.models import Service

    service = factories.service(owner_a)
    with tenant(owner_a.org), pytest.raises(IntegrityError), transaction.atomic():
        Service.objects.filter(id=service.id).update(price=-1)


# --- practitioners -----------------------------------------------------------------------------


def test_practitioner_profile_linked_to_a_membership(api, owner_a, persona_factory):
    staff = persona_factory("practitioner")
    location = factories.location(owner_a)
    service = factories.service(owner_a)
    created = api.post(
        "practitioners",
        owner_a,
        json={
            "display_name": "Dr Zoé Martin",
            "membership_id": str(staff.membership.id),
            "discipline": "Physiotherapy",
            "credentials": [{"kind": "RPPS", "number": "10101010101"}],
            "specialties": ["sports", "paediatrics", "sports"],
            "colour": "#ABC",
            "default_location_id": str(location.id),
            "service_ids": [str(service.id)],
        },
    )
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["email"] == staff.user.email
    assert body["colour"] == "#aabbcc"
    assert body["specialties"] == ["sports", "paediatrics"]
    assert body["credentials"] == [{"kind": "RPPS", "number": "10101010101", "issuer": ""}]
    assert body["service_ids"] == [str(service.id)]
    # one profile per member
    again = api.post(
        "practitioners",
        owner_a,
        json={"display_name": "Twin", "membership_id": str(staff.membership.id)},
    )
    assert again.status_code == 422 and "membership_id" in _error(again)["details"]
    # filters
    assert api.get("practitioners?specialty=sports", owner_a).json()["count"] == 1
    assert api.get(f"practitioners?service_id={service.id}", owner_a).json()["count"] == 1
    assert api.get(f"practitioners?location_id={location.id}", owner_a).json()["count"] == 1
    assert api.get("practitioners?search=zoe", owner_a).json()["count"] == 1


def test_a_patient_login_cannot_be_a_practitioner(api, owner_a, persona_factory):
    patient_login = persona_factory("patient")
    response = api.post(
        "practitioners",
        owner_a,
        json={"display_name": "X", "membership_id": str(patient_login.membership.id)},
    )
    assert response.status_code == 422
    assert "membership_id" in _error(response)["details"]


def test_practitioner_archive_and_restore(api, owner_a):
    practitioner = factories.practitioner(owner_a)
    assert api.post(f"practitioners/{practitioner.id}/archive", owner_a).json()["active"] is False
    assert api.get("practitioners", owner_a).json()["count"] == 0
    restored = api.post(f"practitioners/{practitioner.id}/restore", owner_a)
    assert restored.json()["active"] is True


def test_practitioner_unknown_services_are_refused(api, owner_a, owner_b):
    foreign = factories.service(owner_b)
    response = api.post(
        "practitioners", owner_a, json={"display_name": "X", "service_ids": [str(foreign.id)]}
    )
    assert response.status_code == 422
    assert "service_ids" in _error(response)["details"]


def test_services_export_csv(api, owner_a, persona_factory):
    factories.service(owner_a, name="Bilan, initial", price="85")
    response = api.get("services/export.csv", owner_a)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    lines = response.content.decode().splitlines()
    assert lines[0].startswith("name,code,")
    assert '"Bilan, initial"' in lines[1] and "85.00" in lines[1]
    assert api.get("services/export.csv", persona_factory("assistant")).status_code == 403
