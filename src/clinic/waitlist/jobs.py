"""Waitlist periodic jobs, registered with the worker's scheduler (core.tasks) from
WaitlistConfig.ready()."""

from __future__ import annotations

import datetime

from clinic.core.tasks import periodic_job
from clinic.waitlist import services


@periodic_job("waitlist.offers_expire", every=datetime.timedelta(minutes=1))
def offers_expire_job(organization_id: str) -> int:
    """Every minute: offers past their expiry close and their slots go to the next entry."""
    return services.offers_expire_sweep()


@periodic_job("waitlist.match", every=datetime.timedelta(minutes=15))
def match_job(organization_id: str) -> int:
    """Every 15 minutes: waiting entries are offered the best free slot that suits them."""
    return services.entries_match_run()


@periodic_job("waitlist.scores_refresh", every=datetime.timedelta(hours=24))
def scores_refresh_job(organization_id: str) -> dict:
    """Nightly: waiting time grows (scores recomputed); entries past their dates expire."""
    return {"expired": services.entries_expire(), "scored": services.scores_refresh_all()}
