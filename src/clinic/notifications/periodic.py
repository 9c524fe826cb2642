"""Notifications' periodic jobs, fired by `clinic worker` (no second scheduler process). Each
firing runs the job once per organization, in that organization's tenant context; every body
is idempotent. Other modules register their own (e.g. scheduling/jobs.py).

- `notifications.reminders_catch_up` (every 5 minutes): missing reminders planned, lost
  delivery tasks enqueued again, dead ones reported;
- `billing.overdue_scan` (hourly): overdue-invoice reminders (the name is kept so the worker's
  recorded last run still applies).
"""

from __future__ import annotations

import datetime

from clinic.core.tasks import periodic_job
from clinic.notifications.invoices import invoices_overdue_remind
from clinic.notifications.services import reminders_catch_up


@periodic_job("notifications.reminders_catch_up", every=datetime.timedelta(minutes=5))
def reminders_catch_up_job(organization_id: str):
    return reminders_catch_up()


@periodic_job("billing.overdue_scan", every=datetime.timedelta(hours=1))
def overdue_scan_job(organization_id: str):
    return invoices_overdue_remind()
