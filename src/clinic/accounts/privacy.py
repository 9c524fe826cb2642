"""Accounts' side of personal data (core/privacy.py): the patient's own sign-in to this clinic
is ended on erasure (the user may belong to other organizations, which keep theirs), and old
sessions are swept by the retention job."""

from __future__ import annotations

from datetime import timedelta

from django.db import connection
from django.utils.translation import gettext_lazy as _

from clinic.accounts.models import ApiToken, Membership
from clinic.core.privacy import Erased, Outcome, personal_data, retention_rule


def login_export(patient) -> dict:
    membership = (
        Membership.objects.select_related("user").filter(id=patient.membership_id).first()
        if patient.membership_id
        else None
    )
    if membership is None:
        return {}
    return {"email": membership.user.email, "active": membership.is_active}


def login_erase(patient) -> Erased:
    if not patient.membership_id:
        return Erased()
    ApiToken.objects.filter(membership_id=patient.membership_id).delete()
    changed = Membership.objects.filter(id=patient.membership_id, is_active=True).update(
        is_active=False
    )
    return Erased(changed)


def sessions_purge(cutoff) -> int:
    """Expired browser sessions (an owner-run function: sessions are readable by key only)."""
    with connection.cursor() as cur:
        cur.execute("SELECT app_session_clear_expired(%s)", [cutoff])
        return cur.fetchone()[0]


def register() -> None:
    personal_data(
        "accounts.login",
        holds=_("The patient's own sign-in to this clinic and its access tokens"),
        outcome=Outcome.DELETED,
        count=lambda patient: 1 if patient.membership_id else 0,
        export=login_export,
        erase=login_erase,
        order=15,
    )
    retention_rule(
        "accounts.sessions_expired",
        holds=_("Browser sessions past their expiry"),
        keep=timedelta(0),
        purge=sessions_purge,
    )
