"""CSV import (all-or-nothing, row-numbered errors, --skip-invalid, header mapping, contacts),
export round trip, the step-wise import jobs of the upload page, the CLI, and the generator."""

from __future__ import annotations

import io

import pytest

from tests.directory import factories

pytestmark = pytest.mark.django_db

GOOD = (
    "First name,Last name,DOB,Phone,Email,Species,Microchip,Owner first name,Owner last name,"
    "Owner phone\n"
    "Hélène,Dupont,1980-02-03,06 12 34 56 78,helene@example.org,,,,,\n"
    "Rex,Martin,2019-05-01,,,dog,250269604000001,Zoé,Martin,0611111111\n"
    "Minou,Martin,,,,cat,,Zoé,Martin,06 11 11 11 11\n"
)
BAD_ROWS = (
    "given_name,family_name,date_of_birth,email\n"
    "Ana,Silva,1990-01-01,ana@example.org\n"
    "Bob,,1990-01-01,\n"  # row 3: human without family name
    "Carl,Xu,2999-01-01,carl@\n"  # row 4: future date, bad email
    "Dan,Ode,1970-07-07,\n"
)


def _run(persona, content, tenant, **options):
    from clinic.directory.importing import patients_import

    with tenant(persona.org, persona.user):
        return patients_import(actor=factories.actor_of(persona), content=content, **options)


def _patients(persona, tenant):
    from clinic.directory.models import Patient

    with tenant(persona.org):
        return list(Patient.objects.order_by("mrn").values_list("given_name", "family_name", "mrn"))


def test_import_maps_headers_and_links_one_owner_to_several_animals(owner_a, tenant):
    from clinic.directory.models import Contact, PatientContact

    report = _run(owner_a, GOOD.encode(), tenant)
    assert report.imported and report.errors == []
    assert report.created == 3 and report.contacts_created == 1
    assert report.columns["DOB"] == "date_of_birth"
    assert report.columns["Owner phone"] == "contact.phone"
    assert [p[0] for p in _patients(owner_a, tenant)] == ["Hélène", "Rex", "Minou"]
    with tenant(owner_a.org):
        zoe = Contact.objects.get(given_name="Zoé")
        links = PatientContact.objects.filter(contact=zoe)
        assert {link.relationship for link in links} == {"owner"}
        assert all(link.is_primary for link in links) and links.count() == 2
        assert zoe.phone == "+33611111111"


def test_an_invalid_row_means_nothing_is_imported_and_rows_are_named(owner_a, tenant):
    report = _run(owner_a, BAD_ROWS, tenant)
    assert not report.imported
    assert _patients(owner_a, tenant) == []
    errors = {(e.row, e.field) for e in report.errors}
    assert errors == {(3, "family_name"), (4, "date_of_birth"), (4, "email")}
    assert report.error_rows == [3, 4] and report.valid_rows == 2


def test_skip_invalid_imports_the_valid_rows_and_lists_the_others(owner_a, tenant):
    report = _run(owner_a, BAD_ROWS, tenant, skip_invalid=True)
    assert report.imported and report.created == 2
    assert report.skipped_rows == [3, 4]
    assert [p[0] for p in _patients(owner_a, tenant)] == ["Ana", "Dan"]


def test_dry_run_writes_nothing(owner_a, tenant):
    report = _run(owner_a, GOOD, tenant, dry_run=True)
    assert report.valid_rows == 3 and not report.imported
    assert _patients(owner_a, tenant) == []


def test_duplicates_in_the_file_and_in_the_clinic(owner_a, tenant):
    factories.patient(owner_a, given_name="Ana", family_name="Silva", date_of_birth="1990-01-01")
    factories.patient(owner_a, given_name="Rex", species="dog", microchip="250269604000009")
    content = (
        "given_name,family_name,date_of_birth,mrn,species,microchip\n"
        "ANA,silva,1990-01-01,,,\n"  # 2: same as an existing patient
        "Eve,Lu,1991-01-01,M-1,,\n"
        "Eva,Lo,1992-01-01,m-1,,\n"  # 4: same MRN as row 3
        "Fido,,,,dog,250269604000009\n"  # 5: microchip taken
        "Eve,Lu,1991-01-01,,,\n"  # 6: same person as row 3
    )
    report = _run(owner_a, content, tenant)
    errors = {(e.row, e.field) for e in report.errors}
    assert errors == {(2, "given_name"), (4, "mrn"), (5, "microchip"), (6, "given_name")}
    assert "row 3" in next(e.message for e in report.errors if e.row == 4)
    allowed = _run(owner_a, content, tenant, allow_duplicates=True, skip_invalid=True)
    assert allowed.skipped_rows == [4, 5]


def test_semicolons_bom_windows_encoding_and_day_first_dates(owner_a, tenant):
    content = "\ufeffprénom;nom;date de naissance;sexe\nÉloïse;Gaël;31/12/1999;F\n".encode(
        "cp1252", errors="ignore"
    )
    report = _run(owner_a, content.replace(b"\xef\xbb\xbf", b""), tenant, date_format="dmy")
    assert report.imported, report.errors
    assert _patients(owner_a, tenant)[0][:2] == ("Éloïse", "Gaël")


def test_vet_sex_codes_set_neutering(owner_a, tenant):
    from clinic.directory.models import Patient

    _run(owner_a, "name,species,sex\nBella,dog,FS\nMax,dog,MI\n", tenant)
    with tenant(owner_a.org):
        got = dict(Patient.objects.values_list("given_name", "neutered"))
    assert got == {"Bella": True, "Max": False}


def test_file_level_problems(owner_a, tenant):
    assert _run(owner_a, "", tenant).errors[0].field == "file"
    no_name = _run(owner_a, "family_name,dob\nX,1990-01-01\n", tenant)
    assert no_name.errors[0].row == 1 and no_name.errors[0].field == "given_name"
    unknown = _run(
        owner_a, "given_name,family_name,dob,favourite colour\nA,B,1990-01-01,red\n", tenant
    )
    assert unknown.imported and "favourite colour" in unknown.warnings[0]


def test_generated_mrns_continue_after_imported_ones(owner_a, tenant):
    _run(owner_a, "given_name,family_name,dob,mrn\nA,B,1990-01-01,P000500\n", tenant)
    later = factories.patient(owner_a)
    assert later.mrn == "P000501"


def test_export_then_import_elsewhere_round_trips(api, owner_a, owner_b, tenant):
    assert _run(owner_a, GOOD, tenant).imported
    exported = api.get("patients/export.csv", owner_a).content
    report = _run(owner_b, exported, tenant)
    assert report.imported, report.errors
    assert report.created == 3 and report.contacts_created == 1
    assert _patients(owner_b, tenant) == _patients(owner_a, tenant)


def test_import_api(client, owner_a, persona_factory):
    def upload(persona, content, **data):
        return client.post(
            "/api/v1/patients/import",
            {"file": io.BytesIO(content.encode()), **data},
            **persona.headers,
        )

    refused = upload(owner_a, BAD_ROWS)
    assert refused.status_code == 422
    error = refused.json()["error"]
    assert error["code"] == "import_invalid"
    assert {e["row"] for e in error["details"]["errors"]} == {3, 4}
    partial = upload(owner_a, BAD_ROWS, skip_invalid="true")
    assert partial.status_code == 200
    assert partial.json()["created"] == 2 and partial.json()["skipped_rows"] == [3, 4]
    assert upload(persona_factory("manager"), GOOD).status_code == 403


def _count():
    from clinic.directory.models import Patient

    return Patient.objects.count()


def test_upload_page_job_validates_in_steps_then_imports_once(owner_a, tenant):
    from clinic.directory import importing
    from clinic.directory.models import ImportStatus

    rows = "".join(f"P{i},Fam{i},1990-01-{i % 28 + 1:02d}\n" for i in range(25))
    content = "given_name,family_name,date_of_birth\n" + rows + "Bad,,\n"
    with tenant(owner_a.org, owner_a.user):
        actor = factories.actor_of(owner_a)
        job = importing.patient_import_start(
            actor=actor, filename="legacy.csv", content=content.encode(), options={}
        )
        assert job.status == ImportStatus.VALIDATING and job.total_rows == 26
        progress = []
        while job.status == ImportStatus.VALIDATING:
            job = importing.patient_import_step(actor=actor, job=job, rows_per_step=10)
            progress.append(job.processed_rows)
        assert progress == [10, 20, 26]
        assert {e["row"] for e in job.errors} == {27}
        refused = importing.patient_import_commit(actor=actor, job=job)  # not skip_invalid
        assert not refused.imported and _count() == 0
        job.options["skip_invalid"] = True
        report = importing.patient_import_commit(actor=actor, job=job)
        assert report.created == 25
        job.refresh_from_db()
        assert job.status == ImportStatus.IMPORTED and job.content == ""


# --- CLI ---------------------------------------------------------------------------------------


def test_cli_import_patients(live_db, tmp_path, capsys):
    from clinic.directory import cli
    from tests.conftest import org_create, persona_create, unique_slug

    owner = persona_create(org_create(unique_slug("cli")), "owner")
    bad = tmp_path / "bad.csv"
    bad.write_text(BAD_ROWS)
    import argparse

    def run(path, **flags):
        namespace = argparse.Namespace(
            file=path,
            org=owner.org.slug,
            user=None,
            skip_invalid=False,
            allow_duplicates=False,
            date_format="iso",
            dry_run=False,
            quiet=True,
        )
        for key, value in flags.items():
            setattr(namespace, key, value)
        return cli.cmd_import(namespace)

    assert run(bad) == 1
    out = capsys.readouterr().out
    assert "row 3: family_name:" in out and "Nothing was imported" in out
    assert run(bad, skip_invalid=True) == 0
    out = capsys.readouterr().out
    assert "Imported 2 patients" in out and "Skipped rows: 3, 4" in out
    assert run(tmp_path / "missing.csv") == 2


def test_generator_is_deterministic_and_realistic(db):
    from clinic.core.tenancy import tenant_context
    from clinic.directory.generator import generate
    from clinic.directory.models import Contact, Patient, PatientContact, Practitioner
    from tests.conftest import unique_slug

    def snapshot(result):
        with tenant_context(result.organization_id):
            return (
                list(
                    Patient.objects.order_by("mrn").values_list(
                        "mrn",
                        "given_name",
                        "family_name",
                        "date_of_birth",
                        "species",
                        "microchip",
                        "phone",
                    )
                ),
                Contact.objects.count(),
                PatientContact.objects.count(),
                Practitioner.objects.count(),
            )

    first = generate(org_slug=unique_slug("gen"), practitioners=5, patients=400, seed=42)
    second = generate(org_slug=unique_slug("gen"), practitioners=5, patients=400, seed=42)
    other = generate(org_slug=unique_slug("gen"), practitioners=5, patients=400, seed=43)
    a, b, c = snapshot(first), snapshot(second), snapshot(other)
    assert a[0] == b[0] and a[1:] == b[1:]
    assert a[0] != c[0]
    patients, contacts, links, practitioners = a
    assert len(patients) == 400 and practitioners == 5
    animals = [p for p in patients if p[4]]
    assert 60 < len(animals) < 200
    assert contacts > 50 and links > 100
    assert any("é" in p[1] or "è" in p[2] for p in patients)  # accents in the data
    with tenant_context(first.organization_id):
        orphans = Patient.objects.exclude(species="").filter(contact_links__isnull=True)
        assert not orphans.exists()  # every animal has an owner


def test_generator_refuses_an_organization_with_patients(owner_a):
    from clinic.core.errors import Conflict
    from clinic.directory.generator import generate

    factories.patient(owner_a)
    with pytest.raises(Conflict):
        generate(org_slug=owner_a.org.slug, practitioners=1, patients=10)
