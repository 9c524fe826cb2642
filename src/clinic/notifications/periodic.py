"""The periodic jobs, fired by `clinic worker` (no second scheduler process). Each firing runs
the job once per organization, in that organization's tenant context; every body is idempotent.

- `scheduling.holds_expire_sweep` (every minute): expired slot holds release their slots;
- `notifications.reminders_catch_up` (every 5 minutes): missing reminders planned, lost
  delivery tasks enqueued again, dead ones reported;
- `billing.overdue_scan` (hourly): overdue-invoice reminders, registered only when the billing
  module is installed and exposes `clinic.billing.selectors.invoices_overdue`.
"""

from __future__ import annotations

import datetime
import importlib
import inspect

from django.apps import apps

from clinic.core.tasks import periodic_job


def _function(module: str, name: str):
    try:
        return getattr(importlib.import_module(module), name, None)
    except ImportError:
        return None


def _holds_sweep_available() -> bool:
    return apps.is_installed("clinic.scheduling") and bool(
        _function("clinic.scheduling.services", "holds_expire_sweep")
    )


@periodic_job(
    "scheduling.holds_expire_sweep",
    every=datetime.timedelta(minutes=1),
    enabled=_holds_sweep_available,
)
def holds_expire_sweep_job(organization_id: str):
    sweep = _function("clinic.scheduling.services", "holds_expire_sweep")
    params = inspect.signature(sweep).parameters
    result = sweep(organization_id=organization_id) if "organization_id" in params else sweep()
    return result if isinstance(result, int | dict | None) else str(result)


@periodic_job("notifications.reminders_catch_up", every=datetime.timedelta(minutes=5))
def reminders_catch_up_job(organization_id: str):
    from clinic.notifications.services import reminders_catch_up

    return reminders_catch_up()


def _billing_available() -> bool:
    return apps.is_installed("clinic.billing") and bool(
        _function("clinic.billing.selectors", "invoices_overdue")
    )


@periodic_job("billing.overdue_scan", every=datetime.timedelta(hours=1), enabled=_billing_available)
def overdue_scan_job(organization_id: str):
    from clinic.notifications.invoices import invoices_overdue_remind

    return invoices_overdue_remind()
