"""A patient's photo: PNG, JPEG or WebP judged from the bytes (not the name or the declared
type), at most 2 MB, 422 naming the problem otherwise; stored under the organization's folder;
served only by the authorised page; audited like every patient edit; another clinic's user
gets 404 on every route."""

from __future__ import annotations

import pytest

from tests.directory import factories

PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00"
    b"\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\xcf\xc0\xf0\x1f\x00\x05\x00\x01\xff\x89\x99"
    b"=\x1d\x00\x00\x00\x00IEND\xaeB`\x82"
)
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00" + b"\x00" * 64
WEBP = b"RIFF\x24\x00\x00\x00WEBPVP8 \x18\x00\x00\x00" + b"\x00" * 40
GIF = b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01\x00\x00\x00\x00"


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path)
    return tmp_path


def _put(api, persona, patient_id, data, name="photo.png", content_type="image/png"):
    return api.put(
        f"patients/{patient_id}/photo", persona, files={"photo": (name, data, content_type)}
    )


@pytest.mark.parametrize(
    ("data", "content_type"), [(PNG, "image/png"), (JPEG, "image/jpeg"), (WEBP, "image/webp")]
)
def test_upload_then_read_through_the_authorised_page(
    api, client, owner_a, media, data, content_type
):
    patient = factories.patient(owner_a)
    # the name and the declared type do not matter: the bytes do
    response = _put(api, owner_a, patient.id, data, name="x.txt", content_type="text/plain")
    assert response.status_code == 200, response.content
    url = response.json()["photo_url"]
    assert url.startswith(f"/patients/{patient.id}/photo/?v=")
    stored = list(media.rglob("*"))
    files = [p for p in stored if p.is_file()]
    assert len(files) == 1
    assert f"organizations/{owner_a.org.id}/patients/" in str(files[0])

    client.force_login(owner_a.user)
    served = client.get(url)
    assert served.status_code == 200
    assert served.content == data and served["Content-Type"] == content_type
    assert served["X-Content-Type-Options"] == "nosniff"
    assert "private" in served["Cache-Control"]
    chart = client.get(f"/patients/{patient.id}/").content.decode()
    assert 'id="patient-photo"' in chart and 'id="patient-initials"' not in chart


@pytest.mark.parametrize(
    ("data", "code", "words"),
    [
        (GIF, "photo_type", "must be a PNG, JPEG or WebP image"),
        (b"<svg xmlns='http://www.w3.org/2000/svg'/>", "photo_type", "PNG, JPEG or WebP"),
        (PNG + b"\x00" * (2 * 1024 * 1024), "photo_too_large", "at most 2 MB"),
        (b"", "validation_error", "Choose a photo"),
    ],
    ids=["gif", "svg", "too-large", "empty"],
)
def test_refused_files_name_the_problem_and_store_nothing(api, owner_a, media, data, code, words):
    patient = factories.patient(owner_a)
    response = _put(api, owner_a, patient.id, data)
    assert response.status_code == 422, response.content
    error = response.json()["error"]
    assert error["code"] == code and words in error["message"]
    assert error["details"]["photo"]
    assert not [p for p in media.rglob("*") if p.is_file()]


def test_no_file_is_a_422(api, owner_a):
    patient = factories.patient(owner_a)
    response = api.put(f"patients/{patient.id}/photo", owner_a)
    assert response.status_code == 422, response.content
    assert response.json()["error"]["details"]["photo"]


def test_replace_and_remove_keep_no_old_file_and_are_audited(
    api, client, owner_a, media, tenant, django_capture_on_commit_callbacks
):
    from clinic.audit.models import AuditEvent

    patient = factories.patient(owner_a)
    with django_capture_on_commit_callbacks(execute=True):
        first = _put(api, owner_a, patient.id, PNG).json()["photo_url"]
    with django_capture_on_commit_callbacks(execute=True):
        second = _put(api, owner_a, patient.id, JPEG).json()["photo_url"]
    assert first != second
    assert len([p for p in media.rglob("*") if p.is_file()]) == 1
    with django_capture_on_commit_callbacks(execute=True):
        assert api.delete(f"patients/{patient.id}/photo", owner_a).status_code == 204
    assert not [p for p in media.rglob("*") if p.is_file()]
    client.force_login(owner_a.user)
    assert client.get(first).status_code == 404
    chart = client.get(f"/patients/{patient.id}/").content.decode()
    assert 'id="patient-initials"' in chart and 'id="patient-photo"' not in chart
    with tenant(owner_a.org):
        changes = list(
            AuditEvent.objects.filter(
                object_type="directory_patient", object_id=str(patient.id), action="update"
            ).order_by("occurred_at")
        )
    photos = [(e.before.get("photo"), e.after.get("photo")) for e in changes]
    assert len(photos) == 3
    assert photos[0][0] == "" and photos[2][1] == ""
    assert all(e.actor_id == owner_a.user.id for e in changes)


def test_another_clinic_gets_404_everywhere(api, client, owner_a, owner_b, media):
    patient = factories.patient(owner_a)
    url = _put(api, owner_a, patient.id, PNG).json()["photo_url"]
    assert _put(api, owner_b, patient.id, PNG).status_code == 404
    assert api.delete(f"patients/{patient.id}/photo", owner_b).status_code == 404
    client.force_login(owner_b.user)
    assert client.get(url).status_code == 404
    upload = client.post(f"/patients/{patient.id}/photo/upload/", {"remove": "1"})
    assert upload.status_code == 404
    # and nothing of clinic B's upload attempt was stored
    assert len([p for p in media.rglob("*") if p.is_file()]) == 1


def test_the_chart_form_uploads_and_names_a_refusal(client, owner_a, media):
    from django.core.files.uploadedfile import SimpleUploadedFile

    patient = factories.patient(owner_a)
    client.force_login(owner_a.user)
    chart = f"/patients/{patient.id}/"
    refused = client.post(
        f"{chart}photo/upload/", {"photo": SimpleUploadedFile("a.gif", GIF)}, follow=True
    )
    assert "must be a PNG, JPEG or WebP image" in refused.content.decode()
    saved = client.post(
        f"{chart}photo/upload/", {"photo": SimpleUploadedFile("a.png", PNG)}, follow=True
    )
    assert "Photo saved." in saved.content.decode()
    assert 'id="patient-photo"' in saved.content.decode()
