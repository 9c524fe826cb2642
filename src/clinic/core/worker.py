"""`clinic worker`: runs the background tasks of the database backend (django-tasks-db).

- **Concurrency**: `--concurrency N` threads, each with its own database connection, claiming
  tasks with `SELECT ... FOR UPDATE SKIP LOCKED` (priority, then `run_after`, then age), so
  several worker processes can share the queue.
- **Wake-up**: a listener connection waits on `LISTEN clinic_tasks` (sent by every enqueue, on
  commit) and wakes idle threads at once; they also poll every `--interval` seconds for deferred
  tasks (`run_after`) and in case a notification is lost.
- **Graceful stop**: SIGTERM/SIGINT stop claiming; each thread finishes its current task; the
  process exits 0. A second signal exits at once (the task is recovered as below).
- **Retries**: a task that raises is rescheduled with exponential backoff (its policy in
  `clinic.core.tasks`) until `max_attempts`, then marked FAILED with the exception and traceback
  on its row, logged, and listed by `clinic worker --status`.
- **Crash recovery**: each process keeps a heartbeat row; a task left RUNNING by a worker whose
  heartbeat is older than WORKER_DEAD_AFTER_SECONDS goes back to the queue (it counts as an
  attempt). Deliveries are safe to retry (see clinic.notifications.services.delivery_send).
- **Periodic jobs** (`clinic.core.tasks.periodic_job`) are fired from here: one locked row per
  job says when it is next due; firing enqueues one task per organization, and is skipped while
  the previous firing still has tasks waiting.
"""

from __future__ import annotations

import datetime
import os
import signal
import socket
import threading
import time
import traceback
import uuid

from django.apps import apps
from django.conf import settings
from django.core.exceptions import SuspiciousOperation
from django.db import close_old_connections, connection, connections, transaction
from django.db.models import F, Q
from django.dispatch import Signal
from django.utils import timezone
from django_tasks import TaskContext, TaskResultStatus
from django_tasks.signals import task_finished, task_started
from django_tasks_db.models import DBTaskResult, get_date_max

from clinic.core.logs import logger
from clinic.core.models import PeriodicJobState, WorkerHeartbeat
from clinic.core.tasks import (
    PERIODIC_JOBS,
    PermanentTaskError,
    RetryLater,
    periodic_job_run,
    task_policy,
)
from clinic.core.wakeup import CHANNEL

log = logger("clinic.worker")


# Sent by each executor thread as it stops, in that thread (receivers close what they hold).
executor_stopped = Signal()


class WorkerLost(Exception):
    """The worker running the task stopped without finishing it."""


def _backend_alias() -> str:
    return "default"


def worker_connection(conn=None) -> None:
    """Mark the connection as the task worker's: the task table's row-level security policy
    (clinic.core.security, TASK_SQL) shows it every organization's tasks, where a request sees
    only its own organization's. Outside a transaction: for the session, once per connection (a
    worker's own connections); inside one: until it ends (`clinic worker --batch`, tests)."""
    conn = conn or connection
    conn.ensure_connection()
    raw = conn.connection
    if getattr(conn, "_task_worker_for", None) is raw:
        return
    local = conn.in_atomic_block
    with conn.cursor() as cur:
        cur.execute("SELECT set_config('app.task_worker', 'on', %s)", [local])
    if not local:
        conn._task_worker_for = raw


def ready_tasks(now: datetime.datetime | None = None, queues: list[str] | None = None):
    now = now or timezone.now()
    qs = DBTaskResult.objects.filter(
        status=TaskResultStatus.READY, backend_name=_backend_alias()
    ).filter(Q(run_after=get_date_max()) | Q(run_after__lte=now))
    if queues:
        qs = qs.filter(queue_name__in=queues)
    return qs


def _exception_path(exc: BaseException) -> str:
    return f"{type(exc).__module__}.{type(exc).__qualname__}"


class Worker:
    def __init__(
        self,
        *,
        concurrency: int = 1,
        queues: list[str] | None = None,
        interval: float = 1.0,
        worker_id: str | None = None,
        periodic: bool = True,
        install_signals: bool = True,
        batch: bool = False,
        max_tasks: int | None = None,
    ):
        self.concurrency = max(1, concurrency)
        self.queues = queues or None
        self.interval = interval
        self.worker_id = (
            worker_id or f"{socket.gethostname()[:30]}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        )
        self.periodic = periodic
        self.install_signals = install_signals
        self.batch = batch
        self.max_tasks = max_tasks
        self._stop = threading.Event()
        self._wake = threading.Condition()
        self._count_lock = threading.Lock()
        self.done = 0
        self.failed = 0
        self._signals = 0

    # --- lifecycle -----------------------------------------------------------------------------

    def stop(self) -> None:
        self._stop.set()
        self.wake()

    def wake(self) -> None:
        with self._wake:
            self._wake.notify_all()

    def _on_signal(self, signum, frame) -> None:
        self._signals += 1
        if self._signals > 1:
            log.warning("worker.killed", worker=self.worker_id, signal=signal.Signals(signum).name)
            os._exit(1)
        log.info(
            "worker.stopping",
            worker=self.worker_id,
            signal=signal.Signals(signum).name,
            note="finishing the current tasks; send again to stop at once",
        )
        self.stop()

    def run(self) -> int:
        """Run until stopped (or, with `batch`, until the queue is empty)."""
        if self.install_signals:
            signal.signal(signal.SIGTERM, self._on_signal)
            signal.signal(signal.SIGINT, self._on_signal)
        self._heartbeat_register()
        log.info(
            "worker.started",
            worker=self.worker_id,
            concurrency=self.concurrency,
            queues=self.queues or "*",
            periodic=sorted(j for j, spec in PERIODIC_JOBS.items() if spec.enabled())
            if self.periodic
            else [],
        )
        threads = [
            threading.Thread(target=self._executor, name=f"task-{i}", daemon=True)
            for i in range(self.concurrency)
        ]
        listener = None
        if not self.batch:
            listener = threading.Thread(target=self._listen, name="listen", daemon=True)
            listener.start()
        for thread in threads:
            thread.start()
        try:
            while not self._stop.is_set():
                self._maintenance()
                if self.batch and not any(t.is_alive() for t in threads):
                    break
                self._stop.wait(settings.WORKER_HEARTBEAT_SECONDS)
        finally:
            self._stop.set()
            self.wake()
            for thread in threads:
                thread.join()
            self._heartbeat_remove()
            connections.close_all()
            log.info("worker.stopped", worker=self.worker_id, done=self.done, failed=self.failed)
        return 0

    def _maintenance(self) -> None:
        """Heartbeat, recovery of tasks from dead workers, periodic jobs (main thread)."""
        try:
            close_old_connections()
            self._heartbeat_beat()
            recover_lost_tasks()
            if self.periodic and not self.batch:
                periodic_fire()
        except Exception:
            log.exception("worker.maintenance_failed", worker=self.worker_id)
            connection.close()

    # --- heartbeat -----------------------------------------------------------------------------

    def _heartbeat_register(self) -> None:
        now = timezone.now()
        WorkerHeartbeat.objects.update_or_create(
            worker_id=self.worker_id,
            defaults={
                "hostname": socket.gethostname()[:255],
                "pid": os.getpid(),
                "concurrency": self.concurrency,
                "started_at": now,
                "last_seen_at": now,
            },
        )

    def _heartbeat_beat(self) -> None:
        with self._count_lock:
            done, failed = self.done, self.failed
        updated = WorkerHeartbeat.objects.filter(worker_id=self.worker_id).update(
            last_seen_at=timezone.now(), tasks_done=done, tasks_failed=failed
        )
        if not updated:  # declared dead by another worker after a long pause: come back
            self._heartbeat_register()

    def _heartbeat_remove(self) -> None:
        try:
            WorkerHeartbeat.objects.filter(worker_id=self.worker_id).delete()
        except Exception:
            log.warning("worker.heartbeat_remove_failed", worker=self.worker_id)

    # --- wake-ups ------------------------------------------------------------------------------

    def _listen(self) -> None:
        import psycopg

        conf = connections["default"].settings_dict
        params = {
            "dbname": conf["NAME"],
            "user": conf.get("USER") or None,
            "password": conf.get("PASSWORD") or None,
            "host": conf.get("HOST") or None,
            "port": str(conf["PORT"]) if conf.get("PORT") else None,
            **{k: v for k, v in (conf.get("OPTIONS") or {}).items() if isinstance(v, str | int)},
        }
        params = {k: v for k, v in params.items() if v is not None}
        while not self._stop.is_set():
            try:
                with psycopg.connect(autocommit=True, **params) as conn:
                    conn.execute(f"LISTEN {CHANNEL}")
                    while not self._stop.is_set():
                        for _notify in conn.notifies(timeout=1.0, stop_after=1):
                            self.wake()
            except Exception as exc:
                log.warning("worker.listen_failed", error=str(exc))
                self._stop.wait(5)

    # --- executing -----------------------------------------------------------------------------

    def _executor(self) -> None:
        try:
            while not self._stop.is_set():
                if self.max_tasks is not None and self.done + self.failed >= self.max_tasks:
                    self.stop()
                    break
                try:
                    _bookkeeping_async(connection)
                    row = claim_next(self.worker_id, queues=self.queues)
                except Exception:
                    log.exception("worker.claim_failed", worker=self.worker_id)
                    connection.close()
                    self._stop.wait(self.interval)
                    continue
                if row is None:
                    if self.batch:
                        break
                    with self._wake:
                        self._wake.wait(self.interval)
                    continue
                ok = execute(row)
                with self._count_lock:
                    if ok:
                        self.done += 1
                    else:
                        self.failed += 1
                close_old_connections()
        finally:
            # modules holding per-thread resources (notifications: SMTP connections) close them
            executor_stopped.send(sender=Worker)
            connections.close_all()


def _bookkeeping_async(conn) -> None:
    """The worker's own commits (claims, leases, results) need not wait for the disk: after a
    crash a lost one only makes a task run again, which every task tolerates. The hand-off of
    a message to its provider commits synchronously (SET LOCAL in delivery_send)."""
    conn.ensure_connection()
    raw = conn.connection
    if getattr(conn, "_async_commit_for", None) is not raw:
        with conn.cursor() as cur:
            cur.execute("SET synchronous_commit TO off")
        conn._async_commit_for = raw


def claim_next(
    worker_id: str, *, queues: list[str] | None = None, now: datetime.datetime | None = None
) -> DBTaskResult | None:
    """Take the next ready task (locked, skipping rows other workers hold) and mark it RUNNING."""
    worker_connection()
    with transaction.atomic():
        row = ready_tasks(now, queues).select_for_update(skip_locked=True).first()
        if row is not None:
            row.claim(worker_id)
    return row


def execute(row: DBTaskResult) -> bool:
    """Run a claimed task; record success, a retry with backoff, or the failure. Returns False
    when the task failed for good."""
    try:
        task = row.task
        result = row.task_result
    except (ImportError, SuspiciousOperation, AttributeError) as exc:
        _fail(row, exc)
        return False
    backend = type(task.get_backend())
    task_started.send(sender=backend, task_result=result)
    started = time.monotonic()
    try:
        if task.takes_context:
            value = task.call(TaskContext(task_result=result), *result.args, **result.kwargs)
        else:
            value = task.call(*result.args, **result.kwargs)
    except RetryLater as exc:
        delay = exc.delay_seconds if exc.delay_seconds is not None else 30
        _reschedule(row, exc, delay=delay, counted=False)
        return True
    except PermanentTaskError as exc:
        _fail(row, exc)
        return False
    except Exception as exc:
        policy = task_policy(row.task_path)
        attempt = len(row.worker_ids)
        if attempt < policy.max_attempts:
            _reschedule(row, exc, delay=policy.delay_after(attempt), counted=True)
            return True
        _fail(row, exc)
        return False
    try:
        row.set_successful(value)
    except Exception as exc:
        _fail(row, exc)
        return False
    log.info(
        "task.done",
        task=row.task_path.rsplit(".", 1)[-1],
        task_id=str(row.id),
        ms=round((time.monotonic() - started) * 1000, 1),
    )
    task_finished.send(sender=backend, task_result=row.task_result)
    return True


def _db_usable() -> None:
    """After a task failed: a dead connection (database restart) is replaced before the
    bookkeeping writes."""
    if (
        connection.connection is not None
        and not connection.in_atomic_block
        and not connection.is_usable()
    ):
        connection.close()


def _reschedule(row: DBTaskResult, exc: BaseException, *, delay: float, counted: bool) -> None:
    _db_usable()
    row.status = TaskResultStatus.READY
    row.run_after = timezone.now() + datetime.timedelta(seconds=max(0.0, delay))
    row.exception_class_path = _exception_path(exc)
    row.traceback = "".join(traceback.format_exception(exc))[-20000:]
    if not counted and row.worker_ids:
        row.worker_ids = row.worker_ids[:-1]
    row.save(
        update_fields=["status", "run_after", "exception_class_path", "traceback", "worker_ids"]
    )
    if counted:
        log.warning(
            "task.retry",
            task=row.task_path.rsplit(".", 1)[-1],
            task_id=str(row.id),
            attempt=len(row.worker_ids),
            in_seconds=round(delay, 1),
            error=f"{type(exc).__name__}: {exc}"[:500],
        )


def _fail(row: DBTaskResult, exc: BaseException) -> None:
    _db_usable()
    row.set_failed(exc)
    log.error(
        "task.failed",
        task=row.task_path.rsplit(".", 1)[-1],
        task_id=str(row.id),
        attempts=len(row.worker_ids),
        args=row.args_kwargs.get("args"),
        error=f"{type(exc).__name__}: {exc}"[:1000],
    )
    try:
        task_finished.send(sender=type(row.task.get_backend()), task_result=row.task_result)
    except Exception:  # noqa: S110 - the task itself may be what cannot be imported
        pass


def recover_lost_tasks(now: datetime.datetime | None = None) -> int:
    """Tasks left RUNNING by workers whose heartbeat went stale go back to the queue (or fail,
    if that was their last attempt). Returns how many were recovered."""
    worker_connection()
    now = now or timezone.now()
    cutoff = now - datetime.timedelta(seconds=settings.WORKER_DEAD_AFTER_SECONDS)
    WorkerHeartbeat.objects.filter(last_seen_at__lt=cutoff).delete()
    live = set(WorkerHeartbeat.objects.values_list("worker_id", flat=True))
    recovered = 0
    with transaction.atomic():
        rows = list(
            DBTaskResult.objects.filter(status=TaskResultStatus.RUNNING, started_at__lt=cutoff)
            .select_for_update(skip_locked=True)
            .order_by("started_at")[:100]
        )
        for row in rows:
            last = row.worker_ids[-1] if row.worker_ids else ""
            if last in live:
                continue
            exc = WorkerLost(f"worker {last or '?'} stopped while running this task")
            policy = task_policy(row.task_path)
            if len(row.worker_ids) < policy.max_attempts:
                _reschedule(row, exc, delay=0, counted=True)
            else:
                _fail(row, exc)
            recovered += 1
    return recovered


def periodic_fire(now: datetime.datetime | None = None) -> dict[str, int]:
    """Fire the periodic jobs that are due: one task per organization each. Several workers
    may call this at once; the locked row per job makes one of them fire it."""
    # the tenant root by its label, as TenantModel's foreign key names it: core sits below accounts
    Organization = apps.get_model("accounts", "Organization")
    worker_connection()

    now = now or timezone.now()
    fired: dict[str, int] = {}
    for job in list(PERIODIC_JOBS.values()):
        if not job.enabled():
            continue
        PeriodicJobState.objects.bulk_create(
            [PeriodicJobState(name=job.name, next_run_at=now)], ignore_conflicts=True
        )
        with transaction.atomic():
            state = (
                PeriodicJobState.objects.select_for_update(skip_locked=True)
                .filter(name=job.name, next_run_at__lte=now)
                .first()
            )
            if state is None:
                continue
            state.next_run_at = now + job.every
            pending = DBTaskResult.objects.filter(
                task_path=periodic_job_run.module_path,
                status__in=[TaskResultStatus.READY, TaskResultStatus.RUNNING],
                args_kwargs__args__1=job.name,
            ).exists()
            if pending:
                state.skipped_runs = F("skipped_runs") + 1
                state.save(update_fields=["next_run_at", "skipped_runs"])
                log.warning("periodic.skipped", job=job.name, reason="previous run still queued")
                continue
            org_ids = list(Organization.objects.values_list("id", flat=True))
            for org_id in org_ids:
                periodic_job_run.enqueue(str(org_id), job.name)
            state.last_run_at = now
            state.last_fanout = len(org_ids)
            state.save(update_fields=["next_run_at", "last_run_at", "last_fanout"])
            fired[job.name] = len(org_ids)
    return fired


def run_pending(*, now: datetime.datetime | None = None, limit: int = 10_000, queues=None) -> int:
    """Run the ready tasks in this thread until none is left (tests, `clinic worker --batch`)."""
    worker_connection()
    count = 0
    seen: set = set()
    while count < limit:
        row = claim_next("inline", queues=queues, now=now)
        if row is None:
            break
        if row.id in seen:  # asked to run again later (RetryLater) within this pass: stop here
            DBTaskResult.objects.filter(id=row.id).update(
                status=TaskResultStatus.READY, worker_ids=row.worker_ids[:-1]
            )
            break
        seen.add(row.id)
        execute(row)
        count += 1
    return count


def worker_status() -> dict:
    """What `clinic worker --status` prints: workers, queue depth, recent failures."""
    from django.db.models import Count

    worker_connection()
    counts = dict(DBTaskResult.objects.values_list("status").annotate(n=Count("id")).order_by())
    return {
        "workers": list(
            WorkerHeartbeat.objects.values(
                "worker_id",
                "hostname",
                "pid",
                "concurrency",
                "last_seen_at",
                "tasks_done",
                "tasks_failed",
            )
        ),
        "tasks": counts,
        "due": ready_tasks().count(),
        "periodic": list(
            PeriodicJobState.objects.values(
                "name", "last_run_at", "next_run_at", "last_fanout", "skipped_runs"
            )
        ),
        "failed": [
            {
                "id": str(r.id),
                "task": r.task_path,
                "args": r.args_kwargs.get("args"),
                "finished_at": r.finished_at,
                "error": r.exception_class_path,
                "attempts": len(r.worker_ids),
            }
            for r in DBTaskResult.objects.filter(status=TaskResultStatus.FAILED).order_by(
                "-finished_at"
            )[:20]
        ],
    }
