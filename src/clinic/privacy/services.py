"""Erasure of a patient's personal data, in two steps, through the registry each module fills
(core/privacy.py), and the retention rules applied by the periodic job.

1. `erasure_request` checks the reason and what stops an erasure now (upcoming appointments, a
   live waitlist offer), and returns the plan with a one-time confirmation code (valid 15 min).
2. `erasure_confirm` with that code, by the same member, runs every module's erase function in
   one transaction, then pseudonymises the audit images of the rows they changed (the columns
   each module declared) through the database function `app_audit_pseudonymise`, and records
   the outcome on the request. Nothing is erased if any step fails.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from clinic.accounts.models import Membership
from clinic.audit.services import audit_record
from clinic.core.errors import Conflict, Gone, ValidationFailed
from clinic.core.privacy import RETENTION_RULES, Outcome, personal_data_all
from clinic.directory.selectors import patient_for_actor
from clinic.privacy import selectors
from clinic.privacy.models import ErasureRequest

CONFIRMATION_VALID = timedelta(minutes=15)


def _code_hash(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()


def _reason(reason: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        message = _("Say why the patient's data is erased (e.g. the patient's written request).")
        raise ValidationFailed(message, details={"reason": [message]})
    if len(reason) > 500:
        message = _("At most %(n)d characters.") % {"n": 500}
        raise ValidationFailed(message, details={"reason": [message]})
    return reason


def _already_erased(patient) -> None:
    if ErasureRequest.objects.filter(patient=patient, confirmed_at__isnull=False).exists():
        raise Conflict(_("This patient's data has already been erased."), code="already_erased")


def _blocking_refuse(plan: list[dict]) -> None:
    blocking = [item["blocking"] for item in plan if item["blocking"]]
    if blocking:
        raise Conflict(
            _("The patient's data cannot be erased yet: %(why)s") % {"why": " ".join(blocking)},
            code="erasure_blocked",
            details={"blocking": blocking},
        )


@transaction.atomic
def erasure_request(*, actor: Membership, patient_id, reason: str):
    """Step 1: the plan and a confirmation code (shown once). Refused while something stops it."""
    patient = patient_for_actor(actor, patient_id)  # another clinic's: 404 before anything
    reason = _reason(reason)
    _already_erased(patient)
    plan = selectors.erasure_plan(patient)
    _blocking_refuse(plan)
    code = secrets.token_urlsafe(9)
    request = ErasureRequest.objects.create(
        patient=patient,
        requested_by=actor,
        reason=reason,
        code_hash=_code_hash(code),
        expires_at=timezone.now() + CONFIRMATION_VALID,
    )
    return request, code, plan


@transaction.atomic
def erasure_confirm(*, actor: Membership, patient_id, confirmation: str) -> ErasureRequest:
    """Step 2: erase, with the code from step 1, by the member who asked."""
    patient = patient_for_actor(actor, patient_id)
    request = (
        ErasureRequest.objects.select_for_update()
        .filter(
            patient=patient,
            requested_by=actor,
            code_hash=_code_hash(confirmation or ""),
            confirmed_at__isnull=True,
        )
        .first()
    )
    if request is None:
        message = _("This confirmation code is not valid for this patient.")
        raise ValidationFailed(message, details={"confirmation": [message]})
    if request.expires_at <= timezone.now():
        raise Gone(_("The confirmation code has expired: ask again."), code="confirmation_expired")
    _already_erased(patient)
    blocking = [
        reason
        for entry in personal_data_all()
        if entry.blocking and (reason := entry.blocking(patient))
    ]
    if blocking:
        raise Conflict(
            _("The patient's data cannot be erased yet: %(why)s") % {"why": " ".join(blocking)},
            code="erasure_blocked",
            details={"blocking": blocking},
        )
    outcome: dict[str, dict] = {}
    for entry in personal_data_all():
        if entry.outcome == Outcome.KEPT or entry.erase is None:
            outcome[entry.name] = {"outcome": entry.outcome, "count": entry.count(patient)}
            continue
        erased = entry.erase(patient)
        outcome[entry.name] = {"outcome": entry.outcome, "count": erased.count}
        for table, ids in erased.rows.items():
            columns = entry.audit.get(table, ())
            if ids and columns:
                with connection.cursor() as cur:
                    cur.execute(
                        "SELECT app_audit_pseudonymise(%s, %s, %s)",
                        [table, [str(i) for i in ids], list(columns)],
                    )
    request.confirmed_at = timezone.now()
    request.outcome = outcome
    request.save(update_fields=["confirmed_at", "outcome"])
    audit_record(
        action="patient.erased",
        organization_id=actor.organization_id,
        actor_id=actor.user_id,
        object_type="directory_patient",
        object_id=str(patient.id),
        details={"request": str(request.id), "outcome": outcome},
    )
    return request


def retention_apply(*, now=None) -> dict[str, int]:
    """Every retention rule, each with its own cutoff; rows removed or emptied per rule."""
    now = now or timezone.now()
    done = {}
    for name, rule in sorted(RETENTION_RULES.items()):
        with transaction.atomic():
            done[name] = rule.purge(now - rule.keep)
    return done
