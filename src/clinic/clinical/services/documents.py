"""Documents of the record: upload, read (audited) and "entered in error".

The file's type is judged from its bytes (filetype), never from its name or the browser's word:
PDF, PNG, JPEG or WebP — no SVG or HTML, which can carry script. The bytes are sealed with the
field-encryption key (core.fields.seal) and written through Django's storage under the
organization's folder; the row keeps the key id, the size and the SHA-256 of the clear bytes, so
a read can check it got back what was written."""

from __future__ import annotations

import hashlib
import uuid
from typing import Any

import filetype
from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils.translation import gettext as _

from clinic.accounts.models import Membership
from clinic.audit.services import audit_record
from clinic.clinical import selectors
from clinic.clinical.models import Document, DocumentCategory, DocumentStatus, Encounter
from clinic.core.errors import Conflict, field_error
from clinic.core.fields import seal, unseal

DOCUMENT_TYPES = {
    "application/pdf": "pdf",
    "image/png": "png",
    "image/jpeg": "jpg",
    "image/webp": "webp",
}
MAX_TITLE = 200


def document_max_bytes() -> int:
    return int(getattr(settings, "CLINICAL_DOCUMENT_MAX_BYTES", 20 * 1024 * 1024))


def document_kind(data: bytes) -> str | None:
    """The content type of an accepted document, judged from its first bytes; None otherwise."""
    kind = filetype.guess(data[:8192])
    return kind.mime if kind is not None and kind.mime in DOCUMENT_TYPES else None


def document_upload(
    *,
    actor: Membership,
    patient_id: Any,
    data: bytes | None,
    title: Any = "",
    category: Any = DocumentCategory.OTHER,
    encounter_id: Any = None,
    original_name: str = "",
) -> Document:
    """Attach a file to the patient's record (and to one of their encounters). Nothing is
    written when any check fails."""
    patient = selectors.record_patient(actor, patient_id)
    if not data:
        raise field_error("file", _("Choose a file to upload."))
    limit = document_max_bytes()
    if len(data) > limit:
        raise field_error(
            "file",
            _("The file is too large: at most %(mb)d MB.") % {"mb": limit // (1024 * 1024)},
            code="file_too_large",
        )
    content_type = document_kind(data)
    if content_type is None:
        raise field_error(
            "file", _("The file must be a PDF or an image (PNG, JPEG, WebP)."), code="file_type"
        )
    name = (original_name or "").strip()[:255]
    text = "" if title is None else str(title).strip()
    text = text or name.rsplit(".", 1)[0].strip() or _("Document")
    if len(text) > MAX_TITLE:
        raise field_error("title", _("At most %(limit)d characters.") % {"limit": MAX_TITLE})
    if category in (None, ""):
        category = DocumentCategory.OTHER
    if category not in DocumentCategory.values:
        raise field_error(
            "category",
            _("Must be one of: %(values)s.") % {"values": ", ".join(DocumentCategory.values)},
        )
    encounter = None
    if encounter_id not in (None, ""):
        encounter = (
            Encounter.objects.filter(id=selectors._uuid(encounter_id), patient_id=patient.id)
            .only("id")
            .first()
        )
        if encounter is None:
            raise field_error("encounter_id", _("No encounter of this patient has this id."))
    sealed, key_id = seal(data)
    document_id = uuid.uuid4()
    stored = default_storage.save(
        f"organizations/{actor.organization_id}/documents/{document_id}.sealed",
        ContentFile(sealed),
    )
    try:
        with transaction.atomic():
            return Document.objects.create(
                id=document_id,
                patient=patient,
                encounter=encounter,
                title=text,
                category=category,
                content_type=content_type,
                size=len(data),
                sha256=hashlib.sha256(data).hexdigest(),
                original_name=name,
                storage_name=stored,
                key_id=key_id,
                uploaded_by=actor,
            )
    except BaseException:
        default_storage.delete(stored)  # the row was not written: leave no orphan file
        raise


def document_bytes(document: Document) -> bytes:
    """The clear bytes of a document (checked against the SHA-256 kept at upload)."""
    with default_storage.open(document.storage_name, "rb") as handle:
        data = unseal(handle.read(), document.key_id)
    if hashlib.sha256(data).hexdigest() != document.sha256:
        raise Conflict(_("This file is damaged: it does not match what was uploaded."))
    return data


def document_read(*, actor: Membership, document_id: Any) -> tuple[Document, bytes]:
    """A document and its bytes for the authorised view; the read is an access event on the
    patient's record (its access log)."""
    document = selectors.document_for_actor(actor, document_id)
    data = document_bytes(document)
    audit_record(
        action="clinical_document.read",
        organization_id=actor.organization_id,
        actor_id=actor.user_id,
        object_type="directory_patient",
        object_id=str(document.patient_id),
        details={"what": "document", "document_id": str(document.id)},
    )
    return document, data


@transaction.atomic
def document_entered_in_error(*, actor: Membership, document_id: Any) -> Document:
    """Hide a document uploaded by mistake from the record; final, and the file is kept."""
    document = selectors.document_for_actor(actor, document_id, for_update=True)
    if document.status == DocumentStatus.ENTERED_IN_ERROR:
        raise Conflict(
            _("This document was already marked entered in error."), code="entered_in_error"
        )
    document.status = DocumentStatus.ENTERED_IN_ERROR
    document.save(update_fields=["status", "updated_at"])
    return document
