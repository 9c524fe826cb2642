"""The audit log's periodic job, registered with the worker's scheduler (core.tasks)."""

from __future__ import annotations

import datetime

from clinic.audit import services
from clinic.core.tasks import periodic_job


@periodic_job("audit.partitions_ensure", every=datetime.timedelta(hours=24))
def partitions_ensure_job(organization_id: str) -> int:
    """Daily: this month's and the next three months' partitions exist before rows arrive."""
    return services.partitions_ensure()
