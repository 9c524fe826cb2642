"""Notification tasks. Each takes the organization id first and runs in its tenant context
(see clinic.core.tasks). Sending a delivery is `services.delivery_send_task`, declared beside
the code that enqueues it."""

from __future__ import annotations

from clinic.core.tasks import PERIODIC_JOBS, tenant_task


@tenant_task(max_attempts=3, backoff_seconds=30, queue_name="periodic")
def periodic_job_run(organization_id: str, job: str):
    """One organization's share of a periodic job (fired by the worker's scheduler)."""
    spec = PERIODIC_JOBS.get(job)
    if spec is None:
        return {"skipped": f"unknown job {job}"}
    return spec.func(organization_id)
