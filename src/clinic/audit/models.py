from __future__ import annotations

from django.db import models

from clinic.core.models import TenantModel
from clinic.core.security import CURRENT_ORG


class AuditEvent(TenantModel):
    """Append-only: the application role has INSERT and SELECT on this table, nothing else.

    Row changes are written by the `audit_row_change` trigger (core/security.py) in the same
    transaction; events that are not row changes (logins, token creation) by `audit_record`.
    """

    organization = models.ForeignKey(
        "accounts.Organization", on_delete=models.PROTECT, related_name="+", null=True
    )
    actor = models.ForeignKey(
        "accounts.User", on_delete=models.PROTECT, null=True, related_name="+", db_constraint=False
    )
    action = models.CharField(max_length=64)
    object_type = models.CharField(max_length=100, blank=True)
    object_id = models.CharField(max_length=64, blank=True)
    before = models.JSONField(null=True)
    after = models.JSONField(null=True)
    details = models.JSONField(default=dict)
    ip = models.GenericIPAddressField(null=True)
    user_agent = models.TextField(blank=True)
    request_id = models.CharField(max_length=64, blank=True)
    occurred_at = models.DateTimeField()

    # Events about no organization (a failed login naming an unknown one) can be written by
    # anyone but read by nobody through the application.
    rls_check = f"organization_id IS NULL OR organization_id = {CURRENT_ORG}"

    class Meta:
        indexes = [
            models.Index(fields=["organization", "-occurred_at"], name="audit_org_time"),
            models.Index(fields=["organization", "object_type", "object_id"], name="audit_object"),
            models.Index(fields=["organization", "actor", "-occurred_at"], name="audit_actor"),
        ]
