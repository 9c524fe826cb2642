"""Who may do what in the directory, object scoping for Patient logins, constant query counts on
every list endpoint, and integrity the database enforces by itself."""

from __future__ import annotations

import io

import pytest

from tests.directory import factories

pytestmark = pytest.mark.django_db

ROLES = ["owner", "admin", "manager", "practitioner", "assistant", "patient"]
HUMAN = {"given_name": "Léo", "family_name": "Roux", "date_of_birth": "2001-01-01"}


@pytest.mark.parametrize("role", ROLES)
def test_patient_permissions_by_role(api, persona_factory, owner_a, role):
    persona = persona_factory(role)
    existing = factories.patient(owner_a)
    can_write = role in {"owner", "admin", "manager", "assistant"}
    created = api.post("patients", persona, json=HUMAN)
    assert created.status_code == (201 if can_write else 403), created.content
    patched = api.patch(f"patients/{existing.id}", persona, json={"notes": "n"})
    if role == "patient":
        assert patched.status_code == 403
    else:
        assert patched.status_code == (200 if can_write else 403)
    archive = api.post(f"patients/{existing.id}/archive", persona)
    assert archive.status_code == (200 if role in {"owner", "admin", "manager"} else 403)
    listed = api.get("patients?status=all", persona)
    assert listed.status_code == 200
    if role == "patient":
        assert listed.json()["count"] == 0  # not their record
        assert api.get(f"patients/{existing.id}", persona).status_code == 404
    else:
        assert listed.json()["count"] >= 1
        assert api.get(f"patients/{existing.id}", persona).status_code == 200


@pytest.mark.parametrize("role", ROLES)
def test_directory_management_is_for_owners_and_admins(api, persona_factory, role):
    persona = persona_factory(role)
    admin = role in {"owner", "admin"}
    staff = role != "patient"
    assert api.post("locations", persona, json={"name": f"L {role}"}).status_code == (
        201 if admin else 403
    )
    service = {"name": f"S {role}", "duration_minutes": 30, "price": "10"}
    assert api.post("services", persona, json=service).status_code == (201 if admin else 403)
    assert api.post("practitioners", persona, json={"display_name": "P"}).status_code == (
        201 if admin else 403
    )
    for path in ("locations", "rooms", "services", "practitioners"):
        assert api.get(path, persona).status_code == (200 if staff else 403), path
    assert api.get("contacts", persona).status_code == (200 if staff else 403)


def test_practitioner_reads_patients_but_cannot_change_them(api, practitioner_a, owner_a):
    patient = factories.patient(owner_a)
    link = factories.link(owner_a, patient)
    assert api.get(f"patients/{patient.id}", practitioner_a).status_code == 200
    assert api.get(f"patients/{patient.id}/contacts", practitioner_a).status_code == 200
    assert api.post(f"patients/{patient.id}/contacts", practitioner_a, json={}).status_code == 403
    assert api.delete(f"patients/{patient.id}/contacts/{link.id}", practitioner_a).status_code == (
        403
    )


def test_assistant_creates_and_edits_patients_and_contacts(api, client, persona_factory):
    assistant = persona_factory("assistant")
    patient = api.post("patients", assistant, json=HUMAN).json()
    assert api.patch(f"patients/{patient['id']}", assistant, json={"notes": "x"}).status_code == (
        200
    )
    linked = api.post(
        f"patients/{patient['id']}/contacts",
        assistant,
        json={"relationship": "parent", "contact": {"given_name": "Anne", "family_name": "Roux"}},
    )
    assert linked.status_code == 201
    upload = client.post(
        "/api/v1/patients/import",
        {"file": io.BytesIO(b"given_name,family_name\nA,B\n")},
        **assistant.headers,
    )
    assert upload.status_code == 403
    assert api.get("patients/export.csv", assistant).status_code == 403


def test_patient_login_sees_only_their_record_and_their_animals(api, persona_factory, owner_a):
    me = persona_factory("patient")
    someone = factories.patient(owner_a)
    mine = factories.patient(owner_a, membership_id=me.membership.id)
    # the same login is also a contact who owns two animals and is the emergency contact of
    # someone else (which does not make them responsible for that person)
    me_as_owner = factories.contact(owner_a, membership_id=me.membership.id)
    cat = factories.patient(owner_a, given_name="Minou", species="cat")
    dog = factories.patient(owner_a, given_name="Rex", species="dog")
    factories.link(owner_a, cat, me_as_owner, relationship="owner")
    factories.link(owner_a, dog, me_as_owner, relationship="owner")
    factories.link(owner_a, someone, me_as_owner, relationship="emergency_contact")

    listed = api.get("patients", me).json()
    assert {p["id"] for p in listed["items"]} == {str(mine.id), str(cat.id), str(dog.id)}
    assert api.get(f"patients/{cat.id}", me).status_code == 200
    assert api.get(f"patients/{someone.id}", me).status_code == 404
    assert api.get(f"patients/{someone.id}/contacts", me).status_code == 404
    assert api.get("patients?search=" + someone.given_name, me).json()["count"] == 0
    assert api.patch(f"patients/{mine.id}", me, json={"notes": "x"}).status_code == 403
    assert api.get(f"contacts/{me_as_owner.id}", me).status_code == 403


def test_a_login_links_to_one_patient_record(api, owner_a, persona_factory):
    me = persona_factory("patient")
    factories.patient(owner_a, membership_id=me.membership.id)
    again = api.post("patients", owner_a, json={**HUMAN, "membership_id": str(me.membership.id)})
    assert again.status_code == 409
    assert "membership_id" in again.json()["error"]["details"]


# --- query counts ------------------------------------------------------------------------------


def _populate(persona, n):
    location = factories.location(persona)
    services = [factories.service(persona) for _ in range(2)]
    for _ in range(n):
        factories.room(persona, location)
        practitioner = factories.practitioner(
            persona, service_ids=[s.id for s in services], default_location_id=location.id
        )
        factories.service(persona, practitioner_ids=[practitioner.id])
        patient = factories.patient(persona)
        factories.link(persona, patient)
        factories.link(persona, patient, relationship="payer")
        factories.location(persona)


LIST_PATHS = [
    "locations",
    "rooms",
    "services",
    "practitioners",
    "patients",
    "patients?search=given",
    "patients?search=P0000",
    "contacts",
    "contacts?search=contact",
]


@pytest.mark.parametrize("path", LIST_PATHS)
def test_list_endpoints_run_a_constant_number_of_queries(
    api, owner_a, path, django_assert_max_num_queries
):
    _populate(owner_a, 2)
    api.get(path, owner_a)  # warm up (session, caches)
    with django_assert_max_num_queries(15) as small:
        assert api.get(path, owner_a).status_code == 200
    _populate(owner_a, 12)
    with django_assert_max_num_queries(len(small.captured_queries)) as large:
        response = api.get(path + ("&" if "?" in path else "?") + "page_size=200", owner_a)
        assert response.status_code == 200
    assert response.json()["count"] >= 12 or "search" in path
    assert len(large.captured_queries) == len(small.captured_queries)


@pytest.mark.parametrize(
    "kind", ["location", "room", "service", "practitioner", "patient", "contact"]
)
def test_detail_endpoints_run_a_constant_number_of_queries(
    api, owner_a, kind, django_assert_max_num_queries
):
    _populate(owner_a, 3)
    obj = getattr(factories, kind)(owner_a)
    if kind == "patient":
        for _ in range(5):
            factories.link(owner_a, obj)
    with django_assert_max_num_queries(15):
        assert api.get(f"{kind}s/{obj.id}", owner_a).status_code == 200


# --- integrity in the database ----------------------------------------------------------------


def test_database_refuses_cross_clinic_references(owner_a, owner_b, tenant):
    """Even bypassing the services, a room cannot point at another clinic's location: the
    composite (organization_id, location_id) foreign key refuses it at commit."""
    from django.db import IntegrityError, connection, transaction

    from clinic.directory.models import Room

    foreign = factories.location(owner_b)
    with tenant(owner_a.org), pytest.raises(IntegrityError):
        with transaction.atomic():
            Room.objects.create(location_id=foreign.id, name="Sneaky")
            with connection.cursor() as cur:
                cur.execute("SET CONSTRAINTS ALL IMMEDIATE")


@pytest.mark.parametrize(
    ("sql", "constraint"),
    [
        ("UPDATE directory_patient SET microchip = 'X1' WHERE id = %s", "patient_microchip"),
        ("UPDATE directory_patient SET phone = '0612' WHERE id = %s", "patient_phone_e164"),
        ("UPDATE directory_patient SET email = 'A@B.C' WHERE id = %s", "patient_email_lowercase"),
        ("UPDATE directory_patient SET family_name = '' WHERE id = %s", "patient_human_identity"),
        ("UPDATE directory_patient SET sex = 'robot' WHERE id = %s", "patient_sex_valid"),
        ("UPDATE directory_patient SET mrn = '' WHERE id = %s", "patient_mrn_present"),
    ],
)
def test_check_constraints_hold_without_the_services(owner_a, tenant, sql, constraint):
    from django.db import IntegrityError, connection, transaction

    patient = factories.patient(owner_a)
    with tenant(owner_a.org), pytest.raises(IntegrityError) as caught:
        with transaction.atomic(), connection.cursor() as cur:
            cur.execute(sql, [patient.id])
    assert constraint in str(caught.value)
