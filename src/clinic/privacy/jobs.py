"""The retention job, registered with the worker's scheduler (core.tasks)."""

from __future__ import annotations

import datetime

from clinic.core.tasks import periodic_job
from clinic.privacy import services


@periodic_job("privacy.retention", every=datetime.timedelta(hours=24))
def retention_job(organization_id: str) -> dict:
    """Daily, per organization: data past its retention period is removed or emptied."""
    return services.retention_apply()
