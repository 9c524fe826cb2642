"""Base models. Every tenant-owned table inherits `TenantModel`."""

from __future__ import annotations

import uuid

from django.db import models

from clinic.core.tenancy import require_org_id


class TenantQuerySet(models.QuerySet):
    pass


class TenantManager(models.Manager.from_queryset(TenantQuerySet)):
    """Only the current organization's rows; refuses to run with no tenant set.

    Row-level security in PostgreSQL is the second wall behind this one.
    """

    def get_queryset(self):
        return super().get_queryset().filter(organization_id=require_org_id())


class TenantModel(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey(
        "accounts.Organization", on_delete=models.PROTECT, related_name="+", db_index=True
    )

    # SQL boolean expression for the row-level security policy; see core/security.py.
    rls_using: str | None = None
    # Columns kept out of audit before/after images (secrets).
    audit_redact: tuple[str, ...] = ()
    # Columns replaced in audit images by "sha256:<hex>" of their stored value, with the names of
    # the changed columns in the event's details (clinical text: the log says that it changed,
    # never what it says).
    audit_hash: tuple[str, ...] = ()

    objects = TenantManager()
    # Deliberate bypass of the Python-side scoping (RLS still applies); grep for `unscoped_`.
    unscoped_objects = models.Manager()  # noqa: DJ012 - a manager, not a field

    class Meta:
        abstract = True
        base_manager_name = "unscoped_objects"

    def save(self, *args, **kwargs):
        if self.organization_id is None:
            self.organization_id = require_org_id()
        super().save(*args, **kwargs)


class IdempotencyRecord(TenantModel):
    """A write request made with an `Idempotency-Key`, and the response it got.

    A key belongs to the membership that sent it: another member of the clinic sending the same
    key makes a new request of its own, under its own permissions (never gets this response)."""

    membership = models.ForeignKey(
        "accounts.Membership", on_delete=models.CASCADE, related_name="+", db_index=False
    )
    key = models.CharField(max_length=255)
    request_hash = models.CharField(max_length=64)
    method = models.CharField(max_length=10)
    path = models.CharField(max_length=500)
    response_status = models.PositiveSmallIntegerField(null=True)
    response_body = models.BinaryField(null=True)
    response_content_type = models.CharField(max_length=100, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "membership", "key"],
                name="idempotency_key_per_membership",
            )
        ]

    def __str__(self) -> str:
        return f"{self.method} {self.path} ({self.key})"


# --- the worker's bookkeeping (global: not owned by a tenant) ----------------------------------


class WorkerHeartbeat(models.Model):
    """A running `clinic worker` process. A task left `RUNNING` by a worker whose heartbeat went
    stale is handed back to the queue (its process died)."""

    worker_id = models.CharField(max_length=64, primary_key=True)
    hostname = models.CharField(max_length=255)
    pid = models.PositiveIntegerField()
    concurrency = models.PositiveSmallIntegerField()
    started_at = models.DateTimeField()
    last_seen_at = models.DateTimeField()
    tasks_done = models.PositiveIntegerField(default=0)
    tasks_failed = models.PositiveIntegerField(default=0)

    def __str__(self) -> str:
        return self.worker_id


class PeriodicJobState(models.Model):
    """When each periodic job last fired and is next due (one row per job, locked to fire)."""

    name = models.CharField(max_length=100, primary_key=True)
    last_run_at = models.DateTimeField(null=True, blank=True)
    next_run_at = models.DateTimeField()
    last_fanout = models.PositiveIntegerField(default=0)
    skipped_runs = models.PositiveIntegerField(default=0)

    def __str__(self) -> str:
        return self.name
