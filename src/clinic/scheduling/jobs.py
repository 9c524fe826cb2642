"""Scheduling's periodic jobs, registered with the worker's scheduler (core.tasks) from
SchedulingConfig.ready()."""

from __future__ import annotations

import datetime

from clinic.core.tasks import periodic_job
from clinic.scheduling.services import holds_expire_sweep


@periodic_job("scheduling.holds_expire_sweep", every=datetime.timedelta(minutes=1))
def holds_expire_sweep_job(organization_id: str) -> int:
    """Every minute, per organization: expired slot holds release their slots."""
    return holds_expire_sweep(organization_id=organization_id)
