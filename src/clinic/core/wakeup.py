"""Wake idle workers when a task is enqueued: `NOTIFY clinic_tasks` in the enqueuing transaction.

PostgreSQL delivers a notification only when its transaction commits (and folds duplicates
within one transaction), so a rolled-back enqueue wakes nobody. Workers also poll, so a lost
notification (a proxy that drops LISTEN, a restart) only costs latency.
"""

from __future__ import annotations

from django.db import connections

CHANNEL = "clinic_tasks"


def workers_wake(sender, task_result, **kwargs) -> None:
    from django_tasks_db.backend import DatabaseBackend

    backend = task_result.task.get_backend()
    if not isinstance(backend, DatabaseBackend):
        return
    from django.db import router
    from django_tasks_db.models import DBTaskResult

    alias = router.db_for_write(DBTaskResult)
    with connections[alias].cursor() as cur:
        cur.execute(f"NOTIFY {CHANNEL}")
