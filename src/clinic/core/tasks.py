"""Background tasks on Django's Tasks API (the `django-tasks` backport), run by `clinic worker`.

Every task here is *tenant-bound*: its first argument is the organization id, and its body runs
in that organization's tenant context (a transaction with `set_config('app.org_id', ...)` for
row-level security, plus the context variable the tenant-scoped managers read), exactly like a
request. Audit rows written by a task carry `task:<id>` as their request id.

    @tenant_task(max_attempts=5, backoff_seconds=30)
    def invoice_pdf_render(organization_id: str, invoice_id: str) -> None: ...

    invoice_pdf_render.enqueue(str(org.id), str(invoice.id))           # inside the transaction
    invoice_pdf_render.using(run_after=when).enqueue(str(org.id), ...)  # deferred

With the database backend the task row is written in the caller's transaction: it exists if and
only if that transaction commits.

Retries: the worker (clinic.core.worker) retries a task that raised, with exponential
backoff, up to its policy's `max_attempts`; `PermanentTaskError` fails it at once, `RetryLater`
asks for a retry after a given delay. Periodic jobs are registered here with `periodic_job` and
fired by the worker (no second scheduler process): each firing enqueues one tenant task per
organization.
"""

from __future__ import annotations

import contextlib
import contextvars
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

import structlog
from django.db import transaction
from django_tasks import task as _task

from clinic.core.tenancy import (
    request_meta,
    settings_activate,
    tenant_reset,
    tenant_state_isolated,
    tenant_state_set,
)


class PermanentTaskError(Exception):
    """A failure that retrying cannot fix (bad data, a refused address): fail now."""


class RetryLater(Exception):
    """Ask the worker to run the task again after `delay_seconds` (counts as an attempt)."""

    def __init__(self, message: str = "", *, delay_seconds: float | None = None):
        super().__init__(message or "retry requested")
        self.delay_seconds = delay_seconds


@dataclass(frozen=True)
class TaskPolicy:
    max_attempts: int = 5
    backoff_seconds: float = 30.0
    backoff_max_seconds: float = 3600.0

    def delay_after(self, attempt: int) -> float:
        """Seconds to wait before attempt `attempt + 1` (exponential, capped)."""
        return min(self.backoff_max_seconds, self.backoff_seconds * (2 ** max(0, attempt - 1)))


DEFAULT_POLICY = TaskPolicy()
# task module path -> its retry policy (read by the worker)
TASK_POLICIES: dict[str, TaskPolicy] = {}

_current_task_id: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "current_task_id", default=None
)
_current_attempt: contextvars.ContextVar[tuple[int, int]] = contextvars.ContextVar(
    "current_task_attempt", default=(1, 1)
)


def current_task_id() -> str | None:
    return _current_task_id.get()


def task_attempt() -> tuple[int, int]:
    """(this attempt, the task's maximum attempts) for the task running in this thread."""
    return _current_attempt.get()


def task_policy(task_path: str) -> TaskPolicy:
    return TASK_POLICIES.get(task_path, DEFAULT_POLICY)


@contextlib.contextmanager
def task_tenant_context(organization_id, user_id=None):
    """A transaction acting for one organization, inside a task (like `tenant_context`, plus the
    request metadata the audit triggers read: request id `task:<id>`, user agent `clinic-worker`).
    Tasks declared with `atomic=False` open one of these per step."""
    task_id = current_task_id()
    with transaction.atomic():
        # One round trip: the audit metadata and the tenant, then the context variable.
        org = uuid.UUID(str(organization_id))
        user = uuid.UUID(str(user_id)) if user_id else None
        settings = request_meta(
            request_id=f"task:{task_id}"[:64] if task_id else "task",
            ip=None,
            user_agent="clinic-worker",
        )
        settings.update({"app.org_id": str(org), "app.user_id": str(user) if user else None})
        settings_activate(settings)
        token = tenant_state_set(org, user)
        try:
            yield
        finally:
            tenant_reset(token)


def tenant_task(
    func: Callable | None = None,
    *,
    max_attempts: int = DEFAULT_POLICY.max_attempts,
    backoff_seconds: float = DEFAULT_POLICY.backoff_seconds,
    backoff_max_seconds: float = DEFAULT_POLICY.backoff_max_seconds,
    atomic: bool = True,
    priority: int = 0,
    queue_name: str = "default",
):
    """Declare a tenant-bound task. `atomic=True` runs the whole body in one tenant transaction;
    `atomic=False` lets the body commit in steps (each in `task_tenant_context`)."""

    def decorate(body: Callable):
        def runner(context, organization_id, *args, **kwargs):
            org = str(uuid.UUID(str(organization_id)))  # refuses anything but an id
            id_token = _current_task_id.set(context.task_result.id)
            attempt_token = _current_attempt.set((max(1, context.attempt), max_attempts))
            structlog.contextvars.bind_contextvars(task_id=context.task_result.id, org=org)
            try:
                with tenant_state_isolated():
                    if atomic:
                        with task_tenant_context(org):
                            return body(org, *args, **kwargs)
                    return body(org, *args, **kwargs)
            finally:
                structlog.contextvars.unbind_contextvars("task_id", "org")
                _current_task_id.reset(id_token)
                _current_attempt.reset(attempt_token)

        # The task is found again by module path (import_string): keep the body's name.
        runner.__module__ = body.__module__
        runner.__name__ = body.__name__
        runner.__qualname__ = body.__qualname__
        runner.__doc__ = body.__doc__
        task_obj = _task(runner, priority=priority, queue_name=queue_name, takes_context=True)
        TASK_POLICIES[task_obj.module_path] = TaskPolicy(
            max_attempts=max_attempts,
            backoff_seconds=backoff_seconds,
            backoff_max_seconds=backoff_max_seconds,
        )
        return task_obj

    if func is not None:
        return decorate(func)
    return decorate


# --- periodic jobs -------------------------------------------------------------------------------


@dataclass(frozen=True)
class PeriodicJob:
    name: str
    every: timedelta
    # Called as func(organization_id) inside that organization's tenant transaction.
    func: Callable[[str], object]
    # Only fire while this returns True (e.g. an optional module is installed).
    enabled: Callable[[], bool] = lambda: True


PERIODIC_JOBS: dict[str, PeriodicJob] = {}


def periodic_job(name: str, *, every: timedelta, enabled: Callable[[], bool] | None = None):
    """Register `func(organization_id)` to run every `every` for each organization, from the
    worker. Bodies must be idempotent: a firing can be retried, and is skipped while the previous
    one still has tasks waiting."""

    def decorate(func):
        PERIODIC_JOBS[name] = PeriodicJob(
            name=name, every=every, func=func, enabled=enabled or (lambda: True)
        )
        return func

    return decorate


@tenant_task(max_attempts=3, backoff_seconds=30, queue_name="periodic")
def periodic_job_run(organization_id: str, job: str):
    """One organization's share of a periodic job (fired by the worker's scheduler)."""
    spec = PERIODIC_JOBS.get(job)
    if spec is None:
        return {"skipped": f"unknown job {job}"}
    return spec.func(organization_id)
