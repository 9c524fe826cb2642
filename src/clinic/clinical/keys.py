"""Documents under `clinic keys rotate` (core.keys): each sealed file not under the current key
is read, unsealed, sealed again and written under a new name; the row then points at it, and
the old file is deleted once that is committed (a failed batch leaves the old file in place)."""

from __future__ import annotations

import uuid

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction

from clinic.clinical.models import Document
from clinic.core.fields import seal, unseal
from clinic.core.tenancy import tenant_context


def documents_rotate(org_id, current: str, batch: int) -> int:
    with tenant_context(org_id):
        documents = list(
            Document.objects.exclude(key_id=current)
            .select_for_update(skip_locked=True)
            .order_by("id")[:batch]
        )
        for document in documents:
            with default_storage.open(document.storage_name, "rb") as handle:
                data = unseal(handle.read(), document.key_id)
            sealed, kid = seal(data)
            old = document.storage_name
            document.storage_name = default_storage.save(
                f"organizations/{org_id}/documents/{document.id}-{uuid.uuid4().hex[:8]}.sealed",
                ContentFile(sealed),
            )
            document.key_id = kid
            document.save(update_fields=["storage_name", "key_id", "updated_at"])
            transaction.on_commit(lambda name=old: default_storage.delete(name))
    return len(documents)
