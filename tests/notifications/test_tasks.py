"""The task machinery: transactional enqueue, tenant context, retries, failures, deferral,
recovery of tasks from dead workers, periodic jobs."""

from __future__ import annotations

import datetime

import pytest
from django.db import transaction
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from clinic.core.worker import worker_connection
from tests.notifications import sample_tasks


@pytest.fixture(autouse=True)
def _as_the_worker(db):
    """These tests enqueue and read task rows as the worker does (every organization's, and a
    row with a bad organization id); what a request sees is tested in tests/core/test_task_rows.py.
    """
    worker_connection()


pytestmark = pytest.mark.django_db


def _row(result):
    return DBTaskResult.objects.get(id=result.id)


def test_a_task_enqueued_in_a_rolled_back_transaction_does_not_exist(org_a):
    class Boom(Exception):
        pass

    before = DBTaskResult.objects.count()
    with pytest.raises(Boom), transaction.atomic():
        result = sample_tasks.where_am_i.enqueue(str(org_a.id))
        assert DBTaskResult.objects.filter(id=result.id).exists()  # inside: it is there
        raise Boom
    assert DBTaskResult.objects.count() == before
    assert not DBTaskResult.objects.filter(id=result.id).exists()

    with transaction.atomic():
        kept = sample_tasks.where_am_i.enqueue(str(org_a.id))
    assert _row(kept).status == "READY"


def test_a_task_runs_in_its_organizations_tenant_context(org_a, owner_a, owner_b, run_tasks):
    result = sample_tasks.where_am_i.enqueue(str(org_a.id))
    assert run_tasks() == 1
    row = _row(result)
    assert row.status == "SUCCESSFUL", row.traceback
    value = row.return_value
    assert value["org"] == str(org_a.id)
    assert value["request_id"] == f"task:{result.id}"
    assert value["orgs_visible"] == 1  # RLS: only clinic A's memberships
    assert value["members"] == 1
    assert value["task_id"] == str(result.id)


def test_a_task_refuses_anything_but_an_organization_id(run_tasks):
    result = sample_tasks.where_am_i.enqueue("not-an-id")
    run_tasks()
    row = _row(result)
    # ValueError is retried like any failure; it never ran without a tenant
    assert row.status in ("READY", "FAILED")
    assert "ValueError" in row.exception_class_path


def test_failures_are_retried_with_backoff_then_recorded(org_a, run_tasks):
    result = sample_tasks.always_fails.enqueue(str(org_a.id))
    started = timezone.now()
    run_tasks()
    row = _row(result)
    assert row.status == "READY"  # retried later
    assert len(row.worker_ids) == 1
    assert "RuntimeError" in row.exception_class_path and "on fire" in row.traceback
    first_delay = (row.run_after - started).total_seconds()
    assert 9 <= first_delay <= 12  # backoff_seconds=10

    run_tasks(now=row.run_after + datetime.timedelta(seconds=1))
    row.refresh_from_db()
    assert row.status == "READY" and len(row.worker_ids) == 2
    assert (row.run_after - timezone.now()).total_seconds() > 15  # 20 s: doubled

    run_tasks(now=row.run_after + datetime.timedelta(seconds=1))
    row.refresh_from_db()
    assert row.status == "FAILED"  # third attempt was the last
    assert len(row.worker_ids) == 3
    assert row.finished_at is not None
    assert "the printer is on fire" in row.traceback

    from clinic.core.worker import worker_status

    failed = worker_status()["failed"]
    assert any(f["id"] == str(result.id) and f["attempts"] == 3 for f in failed)


def test_a_permanent_error_fails_at_once(org_a, run_tasks):
    result = sample_tasks.refuses.enqueue(str(org_a.id))
    run_tasks()
    row = _row(result)
    assert row.status == "FAILED" and len(row.worker_ids) == 1
    assert row.exception_class_path.endswith("PermanentTaskError")


def test_retry_later_does_not_use_up_attempts(org_a, run_tasks):
    result = sample_tasks.later.enqueue(str(org_a.id))
    for _ in range(4):
        run_tasks(now=timezone.now() + datetime.timedelta(days=1), limit=1)
    row = _row(result)
    assert row.status == "READY" and row.worker_ids == []
    assert row.run_after > timezone.now() + datetime.timedelta(seconds=100)


def test_deferred_tasks_wait_for_run_after(org_a, run_tasks):
    when = timezone.now() + datetime.timedelta(hours=2)
    result = sample_tasks.where_am_i.using(run_after=when).enqueue(str(org_a.id))
    assert run_tasks() == 0
    assert _row(result).status == "READY"
    assert run_tasks(now=when + datetime.timedelta(seconds=1)) == 1
    assert _row(result).status == "SUCCESSFUL"


def test_a_task_left_running_by_a_dead_worker_is_queued_again(org_a, settings):
    from clinic.core.models import WorkerHeartbeat
    from clinic.core.worker import claim_next, recover_lost_tasks

    settings.WORKER_DEAD_AFTER_SECONDS = 30
    result = sample_tasks.where_am_i.enqueue(str(org_a.id))
    long_ago = timezone.now() - datetime.timedelta(minutes=5)
    WorkerHeartbeat.objects.create(
        worker_id="dead",
        hostname="h",
        pid=1,
        concurrency=1,
        started_at=long_ago,
        last_seen_at=long_ago,
    )
    WorkerHeartbeat.objects.create(
        worker_id="alive",
        hostname="h",
        pid=2,
        concurrency=1,
        started_at=long_ago,
        last_seen_at=timezone.now(),
    )
    row = claim_next("dead")
    assert row.id == _row(result).id
    DBTaskResult.objects.filter(id=row.id).update(started_at=long_ago)
    other = sample_tasks.where_am_i.enqueue(str(org_a.id))
    claim_next("alive")
    DBTaskResult.objects.filter(id=other.id).update(started_at=long_ago)

    assert recover_lost_tasks() == 1
    row.refresh_from_db()
    assert row.status == "READY" and len(row.worker_ids) == 1
    assert row.exception_class_path.endswith("WorkerLost")
    assert _row(other).status == "RUNNING"  # its worker is alive: a long task, left alone
    assert not WorkerHeartbeat.objects.filter(worker_id="dead").exists()


def test_periodic_jobs_fire_once_per_organization_and_skip_while_queued(org_a, org_b):
    from clinic.accounts.models import Organization
    from clinic.core.models import PeriodicJobState
    from clinic.core.tasks import periodic_job_run
    from clinic.core.worker import periodic_fire

    now = timezone.now()
    fired = periodic_fire(now)
    orgs = Organization.objects.count()
    assert fired["notifications.reminders_catch_up"] == orgs
    jobs = DBTaskResult.objects.filter(
        task_path=periodic_job_run.module_path,
        args_kwargs__args__1="notifications.reminders_catch_up",
    )
    assert jobs.count() == orgs
    assert {j.args_kwargs["args"][0] for j in jobs} >= {str(org_a.id), str(org_b.id)}
    # not due again yet
    assert "notifications.reminders_catch_up" not in periodic_fire(
        now + datetime.timedelta(minutes=1)
    )
    # due, but the previous firing is still queued: skipped, not piled up
    later = now + datetime.timedelta(minutes=6)
    assert "notifications.reminders_catch_up" not in periodic_fire(later)
    assert jobs.count() == orgs
    assert PeriodicJobState.objects.get(name="notifications.reminders_catch_up").skipped_runs == 1


def test_periodic_job_runs_in_the_tenant(org_a, run_tasks):
    from clinic.core.tasks import periodic_job_run

    result = periodic_job_run.enqueue(str(org_a.id), "notifications.reminders_catch_up")
    run_tasks()
    row = _row(result)
    assert row.status == "SUCCESSFUL", row.traceback
    assert row.return_value == {"planned": 0, "requeued": 0, "failed": 0}
