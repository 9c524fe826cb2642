"""An erasure of a patient's personal data: asked (with the plan shown and a confirmation code
sent back), then confirmed with that code by the same member — two steps, so nobody erases a
record with one mistaken click. The row stays as the record that it happened and why."""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from clinic.core.models import TenantModel


class ErasureRequest(TenantModel):
    patient = models.ForeignKey("directory.Patient", on_delete=models.PROTECT, related_name="+")
    requested_by = models.ForeignKey(
        "accounts.Membership", on_delete=models.PROTECT, related_name="+"
    )
    reason = models.CharField(max_length=500)
    # SHA-256 of the confirmation code: the code itself is shown once, to the one who asked
    code_hash = models.CharField(max_length=64)
    expires_at = models.DateTimeField()
    created_at = models.DateTimeField(auto_now_add=True)
    confirmed_at = models.DateTimeField(null=True, blank=True)
    # what was done, per kind of data: {name: {"outcome": ..., "count": ...}}
    outcome = models.JSONField(default=dict, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["organization", "id"], name="erasure_org_id"),
            models.CheckConstraint(
                condition=Q(expires_at__gt=models.F("created_at")),
                name="erasure_expires_after_creation",
            ),
        ]
        indexes = [models.Index(fields=["organization", "patient"], name="erasure_patient")]
