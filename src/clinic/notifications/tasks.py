"""Notification tasks. Each takes the organization id first and runs in its tenant context
(see clinic.core.tasks)."""

from __future__ import annotations

from clinic.core.tasks import PERIODIC_JOBS, tenant_task


@tenant_task(max_attempts=6, backoff_seconds=60, atomic=False, queue_name="deliveries")
def delivery_send_task(organization_id: str, delivery_id: str) -> str:
    """Send one delivery (email or SMS) at most once; retried with backoff on temporary
    failures (1, 2, 4, 8, 16 minutes), then marked failed and reported to staff."""
    from clinic.notifications.services import delivery_send

    return delivery_send(organization_id=organization_id, delivery_id=delivery_id)


@tenant_task(max_attempts=3, backoff_seconds=30, queue_name="periodic")
def periodic_job_run(organization_id: str, job: str):
    """One organization's share of a periodic job (fired by the worker's scheduler)."""
    spec = PERIODIC_JOBS.get(job)
    if spec is None:
        return {"skipped": f"unknown job {job}"}
    return spec.func(organization_id)
