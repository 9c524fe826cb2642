"""Reads of the record's documents: lists without the bytes, and one document for the
authorised view. Clinical content: outside the actor's caseload a document is 404."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.utils.translation import gettext as _

from clinic.accounts.models import Membership
from clinic.clinical.models import Document, DocumentCategory, DocumentStatus
from clinic.clinical.selectors.notes import _content_patients_q, _uuid
from clinic.core.errors import NotFound


def documents_list(patient_id: Any, *, include_errors: bool = False) -> QuerySet:
    """A patient's documents, newest first (the caller has checked the record is theirs)."""
    qs = Document.objects.filter(patient_id=patient_id).select_related(
        "uploaded_by__user", "encounter"
    )
    if not include_errors:
        qs = qs.exclude(status=DocumentStatus.ENTERED_IN_ERROR)
    return qs.order_by("-uploaded_at", "-id")


def document_for_actor(
    actor: Membership, document_id: Any, *, for_update: bool = False
) -> Document:
    """A document whose patient's record `actor` may read, or 404."""
    document_uuid = _uuid(document_id)
    qs = Document.objects.select_related("patient", "uploaded_by__user")
    if not actor.has("document.view"):
        qs = qs.none()
    rule = _content_patients_q(actor)
    if rule is not None:
        qs = qs.filter(rule)
    if for_update:
        qs = qs.select_for_update(of=("self",))
    found = qs.filter(id=document_uuid).first() if document_uuid else None
    if found is None:
        raise NotFound(_("Document not found."))
    return found


def document_categories() -> list[tuple[str, str]]:
    """(value, label) of the document categories, for pickers."""
    return list(DocumentCategory.choices)
