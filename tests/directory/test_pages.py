"""Directory pages: access by role, search as you type (htmx fragments), forms, duplicate
warning, archive, contacts, management pages, CSV upload with progress, query counts."""

from __future__ import annotations

import io

import pytest

from tests.conftest import reauthenticated
from tests.directory import factories

pytestmark = pytest.mark.django_db

ROLES = ["owner", "admin", "manager", "practitioner", "assistant", "patient"]
STAFF = set(ROLES) - {"patient"}
ADMINS = {"owner", "admin"}
HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def login(client):
    def as_(persona):
        client.force_login(persona.user)
        return client

    return as_


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(
    ("path", "allowed"),
    [
        ("/patients/", set(ROLES)),
        ("/patients/new/", ADMINS | {"manager", "assistant"}),
        ("/patients/import/", ADMINS),
        ("/patients/export.csv", ADMINS),
        ("/contacts/", STAFF),
        ("/practitioners/", STAFF),
        ("/practitioners/new/", ADMINS),
        ("/services/", STAFF),
        ("/services/new/", ADMINS),
        ("/services/export.csv", ADMINS | {"manager"}),
        ("/locations/", STAFF),
        ("/locations/new/", ADMINS),
        ("/rooms/new/", ADMINS),
    ],
)
def test_pages_by_role(login, persona_factory, role, path, allowed):
    response = reauthenticated(login(persona_factory(role))).get(path)
    assert response.status_code == (200 if role in allowed else 403), response.content[:200]


@pytest.mark.parametrize("role", ROLES)
def test_navigation_shows_the_directory_by_role(login, persona_factory, role):
    html = login(persona_factory(role)).get("/").content.decode()
    assert 'href="/patients/"' in html
    assert ('href="/locations/"' in html) == (role in STAFF)
    assert ('href="/contacts/"' in html) == (role in STAFF)


def test_pages_need_login(client, db):
    response = client.get("/patients/")
    assert response.status_code == 302 and response["Location"].startswith("/login/")


def test_patient_list_search_as_you_type_returns_a_fragment(login, owner_a):
    factories.patient(owner_a, given_name="Hélène", family_name="Dupont")
    factories.patient(owner_a, given_name="Marc", family_name="Petit")
    client = login(owner_a)
    full = client.get("/patients/").content.decode()
    assert "<html" in full and "Dupont" in full and "Petit" in full
    fragment = client.get(
        "/patients/?search=helene", HTTP_HX_TARGET="patient-results", **HTMX
    ).content.decode()
    assert "<html" not in fragment and "<table" in fragment
    assert "Dupont" in fragment and "Petit" not in fragment
    empty = client.get("/patients/?search=zzz", HTTP_HX_TARGET="patient-results", **HTMX)
    assert "No patient matches" in empty.content.decode()


def test_patient_list_page_has_a_constant_query_count(
    login, owner_a, django_assert_max_num_queries
):
    client = login(owner_a)
    for _ in range(3):
        factories.link(owner_a, factories.patient(owner_a))
    client.get("/patients/")
    with django_assert_max_num_queries(20) as few:
        client.get("/patients/")
    for _ in range(30):
        factories.link(owner_a, factories.patient(owner_a))
    with django_assert_max_num_queries(len(few.captured_queries)):
        assert "Family" in client.get("/patients/").content.decode()


def test_create_a_patient_through_the_form(login, persona_factory, tenant):
    from clinic.directory.models import Patient

    assistant = persona_factory("assistant")
    client = login(assistant)
    data = {
        "given_name": "Zoé",
        "family_name": "Lambert",
        "date_of_birth": "2015-04-01",
        "sex": "female",
        "phone": "06 98 76 54 32",
    }
    response = client.post("/patients/new/", data)
    assert response.status_code == 302
    with tenant(assistant.org):
        patient = Patient.objects.get(family_name="Lambert")
    assert response["Location"] == f"/patients/{patient.id}/"
    assert patient.phone == "+33698765432" and patient.mrn.startswith("P")
    detail = client.get(response["Location"]).content.decode()
    assert "Zoé" in detail and "+33 6 98 76 54 32" in detail


def test_the_form_shows_errors_next_to_fields_and_writes_nothing(login, owner_a, tenant):
    from clinic.directory.models import Patient

    client = login(owner_a)
    response = client.post(
        "/patients/new/", {"given_name": "A", "date_of_birth": "2999-01-01", "email": "x"}
    )
    assert response.status_code == 422
    html = response.content.decode()
    assert "The date of birth cannot be in the future." in html
    assert "Not a valid email address." in html
    assert "Required for a human patient." in html
    with tenant(owner_a.org):
        assert not Patient.objects.exists()


def test_duplicate_warning_then_create_anyway(login, owner_a, tenant):
    from clinic.directory.models import Patient

    existing = factories.patient(
        owner_a, given_name="Léa", family_name="Roux", date_of_birth="2000-01-01"
    )
    client = login(owner_a)
    data = {"given_name": "Lea", "family_name": "ROUX", "date_of_birth": "2000-01-01"}
    warned = client.post("/patients/new/", data)
    assert warned.status_code == 409
    html = warned.content.decode()
    assert "already exists" in html and f"/patients/{existing.id}/" in html
    assert 'name="force"' in html
    created = client.post("/patients/new/", {**data, "force": "on"})
    assert created.status_code == 302
    with tenant(owner_a.org):
        assert Patient.objects.filter(family_name__iexact="roux").count() == 2


def test_edit_archive_and_restore(login, owner_a):
    patient = factories.patient(owner_a, given_name="Inès", family_name="Haddad")
    client = login(owner_a)
    form = client.get(f"/patients/{patient.id}/edit/").content.decode()
    assert 'value="Inès"' in form and 'value="1985-06-15"' in form
    data = {
        "given_name": "Inès",
        "family_name": "Haddad",
        "date_of_birth": "1985-06-15",
        "sex": "female",
        "mrn": patient.mrn,
        "notes": "Prefers mornings",
    }
    assert client.post(f"/patients/{patient.id}/edit/", data).status_code == 302
    assert "Prefers mornings" in client.get(f"/patients/{patient.id}/").content.decode()
    client.post(f"/patients/{patient.id}/archive/")
    html = client.get(f"/patients/{patient.id}/").content.decode()
    assert "Archived on" in html and "Restore" in html
    assert "Haddad" not in client.get("/patients/").content.decode()
    client.post(f"/patients/{patient.id}/archive/", {"restore": "1"})
    assert "Haddad" in client.get("/patients/").content.decode()


def test_practitioner_sees_a_patient_without_edit_buttons(login, owner_a, practitioner_a):
    patient = factories.patient(owner_a)
    html = login(practitioner_a).get(f"/patients/{patient.id}/").content.decode()
    assert patient.given_name in html
    assert "/edit/" not in html and "Archive" not in html and "Add a contact" not in html


def test_patient_login_sees_only_their_own_record(login, persona_factory, owner_a):
    me = persona_factory("patient")
    mine = factories.patient(owner_a, given_name="Moi", membership_id=me.membership.id)
    other = factories.patient(owner_a, given_name="Autre")
    client = login(me)
    html = client.get("/patients/").content.decode()
    assert "Moi" in html and "Autre" not in html
    assert client.get(f"/patients/{mine.id}/").status_code == 200
    assert client.get(f"/patients/{other.id}/").status_code == 404


def test_other_clinics_patient_is_not_found(login, owner_a, owner_b):
    foreign = factories.patient(owner_b)
    assert login(owner_a).get(f"/patients/{foreign.id}/").status_code == 404


def test_add_and_remove_contacts_with_htmx(login, owner_a, tenant):
    from clinic.directory.models import PatientContact

    child = factories.patient(owner_a, given_name="Léo", date_of_birth="2019-01-01")
    known = factories.contact(owner_a, given_name="Karim", family_name="Benali")
    client = login(owner_a)
    picker = client.get("/contacts/pick/?contact_search=ben", **HTMX).content.decode()
    assert "Karim Benali" in picker and f'value="{known.id}"' in picker
    added = client.post(
        f"/patients/{child.id}/contacts/",
        {"relationship": "parent", "contact_id": str(known.id), "is_primary": "on"},
        **HTMX,
    )
    assert added.status_code == 200
    assert "<html" not in added.content.decode() and "Karim Benali" in added.content.decode()
    new = client.post(
        f"/patients/{child.id}/contacts/",
        {"relationship": "legal_guardian", "given_name": "Amina", "family_name": "Benali"},
        **HTMX,
    )
    assert "Amina Benali" in new.content.decode()
    refused = client.post(
        f"/patients/{child.id}/contacts/",
        {"relationship": "owner", "given_name": "X", "family_name": "Y"},
        **HTMX,
    )
    assert "Only animal patients have owners" in refused.content.decode()
    with tenant(owner_a.org):
        link = PatientContact.objects.get(patient=child, contact=known)
    removed = client.post(f"/patients/{child.id}/contacts/{link.id}/remove/", **HTMX)
    assert "Karim Benali" not in removed.content.decode()


def test_management_forms(login, owner_a, persona_factory, tenant):
    from clinic.directory.models import Location, Practitioner, Room, Service

    client = login(owner_a)
    assert client.post("/locations/new/", {"name": "Nord", "time_zone": ""}).status_code == 302
    with tenant(owner_a.org):
        location = Location.objects.get(name="Nord")
    assert location.time_zone == "Europe/Paris"
    bad = client.post("/locations/new/", {"name": "Sud", "time_zone": "Nowhere/City"})
    assert bad.status_code == 422 and "IANA" in bad.content.decode()
    room = {"location_id": str(location.id), "name": "Box 1", "kind": "treatment", "capacity": "2"}
    assert client.post("/rooms/new/", room).status_code == 302
    service = {
        "name": "Bilan",
        "duration_minutes": "60",
        "price": "85,50",
        "modality": "in_person",
        "colour": "#123456",
        "buffer_before_minutes": "0",
        "buffer_after_minutes": "10",
    }
    assert client.post("/services/new/", service).status_code == 302
    negative = client.post("/services/new/", {**service, "name": "Neg", "price": "-3"})
    assert negative.status_code == 422 and "at least 0" in negative.content.decode()
    staff = persona_factory("practitioner")
    with tenant(owner_a.org):
        bilan = Service.objects.get(name="Bilan")
        assert bilan.price == 85.5 and Room.objects.filter(location=location).count() == 1
    practitioner = {
        "display_name": "Dr Nour",
        "membership_id": str(staff.membership.id),
        "specialties": "sport, pédiatrie",
        "credential_kind": "RPPS",
        "credential_number": "101",
        "colour": "#aa0000",
        "default_location_id": str(location.id),
        "service_ids": [str(bilan.id)],
    }
    assert client.post("/practitioners/new/", practitioner).status_code == 302
    with tenant(owner_a.org):
        made = Practitioner.objects.get(display_name="Dr Nour")
        assert made.specialties == ["sport", "pédiatrie"]
        assert list(made.services.all()) == [bilan]
    listing = client.get("/practitioners/").content.decode()
    assert "Dr Nour" in listing and "Bilan" in listing
    assert "85.50" in client.get("/services/").content.decode()
    locations = client.get("/locations/").content.decode()
    assert "Nord" in locations and "Box 1" in locations
    client.post(f"/locations/{location.id}/archive/")
    assert "Nord" not in client.get("/locations/").content.decode()


def test_csv_upload_checks_in_steps_then_imports(login, owner_a, tenant):
    from clinic.directory.models import Patient

    client = login(owner_a)
    content = b"given_name,family_name,date_of_birth\nAna,Silva,1990-01-01\nBob,,1990-01-01\n"
    response = client.post(
        "/patients/import/",
        {"file": io.BytesIO(content), "date_format": "iso", "skip_invalid": "on"},
    )
    assert response.status_code == 302
    job_url = response["Location"]
    page = client.get(job_url).content.decode()
    assert "<progress" in page and "/step/" in page
    step = client.post(job_url + "step/", **HTMX).content.decode()
    assert "Row" in step and "Required for a human patient." in step
    assert "Import 1 patient" in step and "Rows 3 will be skipped" in step
    assert client.post(job_url + "run/").status_code == 302
    done = client.get(job_url).content.decode()
    assert "Patients imported" in done
    with tenant(owner_a.org):
        assert list(Patient.objects.values_list("given_name", flat=True)) == ["Ana"]


def test_csv_upload_without_skipping_refuses_an_invalid_file(login, owner_a, tenant):
    from clinic.directory.models import Patient

    client = login(owner_a)
    content = b"given_name,family_name,date_of_birth\nAna,Silva,1990-01-01\nBob,,1990-01-01\n"
    job_url = client.post("/patients/import/", {"file": io.BytesIO(content), "date_format": "iso"})[
        "Location"
    ]
    step = client.post(job_url + "step/", **HTMX).content.decode()
    assert "Nothing will be imported" in step and "/run/" not in step
    client.post(job_url + "run/")
    with tenant(owner_a.org):
        assert not Patient.objects.exists()


def test_exports_from_pages(login, owner_a):
    factories.patient(owner_a, given_name="Zoé")
    factories.service(owner_a, name="Bilan")
    client = login(owner_a)
    assert client.get("/patients/export.csv").status_code == 302  # the password again first
    reauthenticated(client)
    patients = client.get("/patients/export.csv")
    assert patients["Content-Type"].startswith("text/csv") and "Zoé" in patients.content.decode()
    assert "Bilan" in client.get("/services/export.csv").content.decode()


def test_contacts_page_search_and_edit(login, owner_a):
    contact = factories.contact(owner_a, given_name="Noémie", family_name="Côté")
    client = login(owner_a)
    fragment = client.get(
        "/contacts/?search=noemie", HTTP_HX_TARGET="contact-results", **HTMX
    ).content.decode()
    assert "Noémie Côté" in fragment and "<html" not in fragment
    edited = client.post(
        f"/contacts/{contact.id}/edit/",
        {"given_name": "Noémie", "family_name": "Côté", "phone": "+1 514 555 0123"},
    )
    assert edited.status_code == 302
    assert "+15145550123" in client.get("/contacts/").content.decode()


@pytest.mark.parametrize(
    ("language", "expected"),
    [("fr", "Nouveau patient"), ("ar", "مريض جديد")],
)
def test_directory_pages_are_translated(login, owner_a, language, expected):
    factories.patient(owner_a)
    html = login(owner_a).get("/patients/", HTTP_ACCEPT_LANGUAGE=language).content.decode()
    assert expected in html
    assert ('dir="rtl"' in html) == (language == "ar")


def test_validation_messages_are_translated(api, owner_a):
    response = api.post(
        "patients",
        owner_a,
        json={"given_name": "A", "family_name": "B", "date_of_birth": "2999-01-01"},
        headers={"HTTP_ACCEPT_LANGUAGE": "fr"},
    )
    assert response.json()["error"]["details"]["date_of_birth"] == [
        "La date de naissance ne peut pas être dans le futur."
    ]
