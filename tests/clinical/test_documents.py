"""Documents of the record: the type judged from the bytes, the size limit, sealed at rest, read
only through the authorised views (each read in the access log), 404 outside the caseload and
across clinics, "entered in error" instead of deletion — at the service level, through the API
and through the chart's form."""

from __future__ import annotations

import hashlib
import io

import pytest
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from clinic.clinical import selectors, services
from clinic.clinical.models import Document
from clinic.core.errors import Conflict, NotFound, ValidationFailed
from clinic.core.tenancy import tenant_context
from tests.clinical.factories import actor_of, encounter_make

pytestmark = pytest.mark.django_db

PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"


def png_bytes() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (4, 3), (200, 30, 30)).save(out, format="PNG")
    return out.getvalue()


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    return tmp_path / "media"


def _in(persona):
    return tenant_context(persona.org.id, persona.user.id), actor_of(persona)


def _ok(response, status=200):
    assert response.status_code == status, response.content
    return response.json()


# --- services ----------------------------------------------------------------------------------


def test_a_pdf_is_sealed_at_rest_and_read_back_whole(setup, media):
    context, actor = _in(setup.practitioner)
    with context:
        document = services.document_upload(
            actor=actor,
            patient_id=setup.patient.id,
            data=PDF,
            title="",
            category="referral",
            original_name="Letter from Dr Lee.pdf",
        )
        assert document.content_type == "application/pdf" and document.size == len(PDF)
        assert document.title == "Letter from Dr Lee"  # the file name when no title is given
        assert document.sha256 == hashlib.sha256(PDF).hexdigest()
        stored = (media / document.storage_name).read_bytes()
        assert b"%PDF" not in stored and b"Catalog" not in stored  # sealed, not clear
        again, data = services.document_read(actor=actor, document_id=document.id)
        assert again.id == document.id and data == PDF
        log = list(selectors.patient_access_log(setup.patient.id))
        assert any(
            e.action == "clinical_document.read" and e.details["document_id"] == str(document.id)
            for e in log
        )


def test_the_type_comes_from_the_bytes_and_bad_files_write_nothing(setup, settings, media):
    context, actor = _in(setup.practitioner)
    settings.CLINICAL_DOCUMENT_MAX_BYTES = 1024 * 1024
    with context:
        refusals = {
            "file_type": b"<svg xmlns='http://www.w3.org/2000/svg'><script>x()</script></svg>",
            "file_too_large": b"%PDF-1.4\n" + b"0" * (1024 * 1024),
            "validation_error": b"",
        }
        for code, data in refusals.items():
            with pytest.raises(ValidationFailed) as refused:
                services.document_upload(
                    actor=actor,
                    patient_id=setup.patient.id,
                    data=data,
                    title="x",
                    original_name="scan.pdf",  # the name says PDF: the bytes decide
                )
            assert refused.value.code == code and "file" in refused.value.details
        with pytest.raises(ValidationFailed) as refused:
            services.document_upload(
                actor=actor, patient_id=setup.patient.id, data=PDF, category="gossip"
            )
        assert "category" in refused.value.details
        assert Document.objects.count() == 0
    assert not (media / "organizations").exists() or not any(
        (media / "organizations").rglob("*.sealed")
    )


def test_documents_attach_to_an_encounter_of_the_same_patient_only(setup):
    context, actor = _in(setup.practitioner)
    encounter = encounter_make(setup)
    with context:
        image = services.document_upload(
            actor=actor,
            patient_id=setup.patient.id,
            data=png_bytes(),
            title="Wound, day 3",
            category="image",
            encounter_id=encounter.id,
        )
        assert image.content_type == "image/png" and image.encounter_id == encounter.id
    owner_context, owner = _in(setup.owner)
    with owner_context:
        with pytest.raises(ValidationFailed) as refused:
            services.document_upload(
                actor=owner,
                patient_id=setup.stranger.id,
                data=PDF,
                encounter_id=encounter.id,
            )
        assert "encounter_id" in refused.value.details


def test_outside_the_caseload_a_document_does_not_exist(setup):
    owner_context, owner = _in(setup.owner)
    with owner_context:
        document = services.document_upload(
            actor=owner, patient_id=setup.stranger.id, data=PDF, title="Report"
        )
    context, actor = _in(setup.practitioner)
    with context:
        with pytest.raises(NotFound):
            services.document_read(actor=actor, document_id=document.id)
        with pytest.raises(NotFound):
            services.document_upload(
                actor=actor, patient_id=setup.stranger.id, data=PDF, title="Mine"
            )


def test_entered_in_error_hides_the_document_and_is_final(setup):
    context, actor = _in(setup.practitioner)
    with context:
        document = services.document_upload(
            actor=actor, patient_id=setup.patient.id, data=PDF, title="Wrong patient"
        )
        services.document_entered_in_error(actor=actor, document_id=document.id)
        assert list(selectors.documents_list(setup.patient.id)) == []
        assert [d.id for d in selectors.documents_list(setup.patient.id, include_errors=True)] == [
            document.id
        ]
        with pytest.raises(Conflict):
            services.document_entered_in_error(actor=actor, document_id=document.id)
        # the file is kept: the audit trail may need it
        assert default_storage.exists(document.storage_name)


def test_a_damaged_file_is_refused_rather_than_served(setup, media):
    context, actor = _in(setup.practitioner)
    with context:
        document = services.document_upload(
            actor=actor, patient_id=setup.patient.id, data=PDF, title="Report"
        )
        path = media / document.storage_name
        blob = bytearray(path.read_bytes())
        blob[-1] ^= 0xFF
        path.write_bytes(bytes(blob))
        with pytest.raises(Exception):  # noqa: B017 - AES-GCM refuses a changed ciphertext
            services.document_read(actor=actor, document_id=document.id)


# --- API ---------------------------------------------------------------------------------------


def _upload(client, persona, patient_id, data, **fields):
    return client.post(
        f"/api/v1/patients/{patient_id}/documents",
        data={"file": SimpleUploadedFile("scan.pdf", data), **fields},
        **persona.headers,
    )


def test_documents_through_the_api(client, api, setup, owner_b, persona_factory):
    doc = setup.practitioner
    created = _ok(
        _upload(client, doc, setup.patient.id, PDF, title="Referral", category="referral"), 201
    )
    assert created["content_type"] == "application/pdf" and created["status"] == "current"
    assert created["content_url"].endswith(f"/documents/{created['id']}/content")
    listed = _ok(api.get(f"patients/{setup.patient.id}/documents", doc))
    assert [d["title"] for d in listed["items"]] == ["Referral"] and listed["count"] == 1
    content = client.get(created["content_url"], **doc.headers)
    assert content.status_code == 200 and content.content == PDF
    assert content["Content-Type"] == "application/pdf"
    assert content["X-Content-Type-Options"] == "nosniff"
    assert "no-store" in content["Cache-Control"]

    bad = _upload(client, doc, setup.patient.id, b"MZ\x90\x00 not a document")
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "file_type"
    missing = client.post(
        f"/api/v1/patients/{setup.patient.id}/documents", data={"title": "x"}, **doc.headers
    )
    assert missing.status_code == 422 and "file" in missing.json()["error"]["details"]

    # another clinic, outside the caseload, the front desk
    assert client.get(created["content_url"], **owner_b.headers).status_code == 404
    assert api.get(f"documents/{created['id']}", owner_b).status_code == 404
    outside = _upload(client, doc, setup.stranger.id, PDF)
    assert outside.status_code == 404
    assistant = persona_factory("assistant")
    assert api.get(f"documents/{created['id']}", assistant).status_code == 403
    assert _upload(client, assistant, setup.patient.id, PDF).status_code == 403

    gone = _ok(api.post(f"documents/{created['id']}/entered-in-error", doc))
    assert gone["status"] == "entered_in_error"
    assert _ok(api.get(f"patients/{setup.patient.id}/documents", doc))["count"] == 0
    log = _ok(api.get(f"patients/{setup.patient.id}/access-log", setup.owner))["items"]
    assert any(e["action"] == "clinical_document.read" for e in log)
    assert any(e["document_id"] == created["id"] for e in log)


# --- pages -------------------------------------------------------------------------------------


def test_the_chart_uploads_lists_previews_and_serves_a_document(client, setup):
    client.force_login(setup.practitioner.user)
    chart = f"/patients/{setup.patient.id}/"
    html = client.get(chart).content.decode()
    assert 'id="documents"' in html and 'id="no-documents"' in html
    posted = client.post(
        f"/patients/{setup.patient.id}/documents/",
        data={
            "file": SimpleUploadedFile("wound.png", png_bytes()),
            "title": "Wound, day 3",
            "category": "image",
        },
    )
    assert posted.status_code == 302 and posted["Location"].endswith("#documents")
    html = client.get(chart).content.decode()
    assert "Wound, day 3" in html and 'id="no-documents"' not in html
    with tenant_context(setup.practitioner.org.id, setup.practitioner.user.id):
        document = Document.objects.get()
    page = client.get(f"/documents/{document.id}/")
    assert page.status_code == 200 and 'id="document-image"' in page.content.decode()
    served = client.get(f"/documents/{document.id}/file/")
    assert served.status_code == 200 and served.content == png_bytes()
    # framed by the preview page only
    assert served["X-Frame-Options"] == "SAMEORIGIN"
    assert "frame-ancestors 'self'" in served["Content-Security-Policy"]
    # the script's path answers in words, and writes nothing
    refused = client.post(
        f"/patients/{setup.patient.id}/documents/",
        data={"file": SimpleUploadedFile("notes.txt", b"just text"), "title": "x"},
        HTTP_X_UPLOAD="1",
    )
    assert refused.status_code == 422 and "PDF" in refused.content.decode()
    with tenant_context(setup.practitioner.org.id, setup.practitioner.user.id):
        assert Document.objects.count() == 1


def test_the_front_desk_sees_no_documents_card(client, setup, persona_factory):
    assistant = persona_factory("assistant")
    client.force_login(assistant.user)
    html = client.get(f"/patients/{setup.patient.id}/").content.decode()
    assert 'id="documents"' not in html


def test_the_chart_shows_the_latest_and_links_to_all(client, setup, settings):
    from clinic.directory import chart_views

    context, actor = _in(setup.practitioner)
    with context:
        for i in range(chart_views.CHART_DOCUMENTS + 1):
            services.document_upload(
                actor=actor, patient_id=setup.patient.id, data=PDF, title=f"Scan {i:02d}"
            )
    client.force_login(setup.practitioner.user)
    chart = client.get(f"/patients/{setup.patient.id}/").content.decode()
    assert 'id="documents-more"' in chart and "Scan 00" not in chart and "Scan 20" in chart
    page = client.get(f"/patients/{setup.patient.id}/documents/").content.decode()
    assert "Scan 00" in page and "Scan 20" in page
    assert client.get(f"/patients/{setup.stranger.id}/documents/").status_code == 404
