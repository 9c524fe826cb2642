"""Access beyond plans and appointments: the care team (practitioners assigned to a patient by
hand) and break-glass.

Break-glass: a practitioner opens a time-limited access to the record of a patient outside
their caseload, with a reason. The access is a row the caseload rule reads
(clinical.selectors), an audit event on the patient's access log, and an event the admins are
told of (notifications). It lapses by itself at `expires_at`."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from clinic.accounts.models import Membership
from clinic.audit.services import audit_record
from clinic.clinical import events, selectors
from clinic.clinical.models import BreakGlassAccess, CareTeamMember
from clinic.core.errors import Conflict, NotFound, PermissionDenied, field_error
from clinic.core.events import publish
from clinic.directory.models import Practitioner
from clinic.directory.selectors import patient_for_actor

DEFAULT_MINUTES = 60
MIN_MINUTES, MAX_MINUTES = 5, 240
# a reason is an account of why, not "x": at least a few words
MIN_REASON, MAX_REASON = 10, 500


def break_glass_open(
    *, actor: Membership, patient_id: Any, reason: Any, minutes: Any = None
) -> BreakGlassAccess:
    """Open `actor`'s access to the patient's record for `minutes` (default 60). Refused to
    roles that read every record already or may not break the glass (403), for a patient the
    actor may read already (409 `already_in_caseload`), and without a reason (400)."""
    if not actor.has("record.break_glass"):
        raise PermissionDenied(_("Your role cannot open emergency access to a record."))
    patient = patient_for_actor(actor, patient_id)
    text = "" if reason is None else str(reason).strip()
    if len(text) < MIN_REASON:
        raise field_error(
            "reason",
            _("Say why you need this record (at least %(n)d characters).") % {"n": MIN_REASON},
        )
    if len(text) > MAX_REASON:
        raise field_error("reason", _("At most %(limit)d characters.") % {"limit": MAX_REASON})
    if minutes in (None, ""):
        minutes = DEFAULT_MINUTES
    if isinstance(minutes, bool) or not isinstance(minutes, int | str):
        raise field_error("minutes", _("Give a whole number of minutes."))
    try:
        minutes = int(minutes)
    except ValueError:
        raise field_error("minutes", _("Give a whole number of minutes.")) from None
    if not MIN_MINUTES <= minutes <= MAX_MINUTES:
        raise field_error(
            "minutes",
            _("Between %(low)d and %(high)d minutes.") % {"low": MIN_MINUTES, "high": MAX_MINUTES},
        )
    if selectors.content_visible(actor, patient.id):
        raise Conflict(
            _("You can already read this record: no emergency access is needed."),
            code="already_in_caseload",
        )
    now = timezone.now()
    with transaction.atomic():
        access = BreakGlassAccess.objects.create(
            patient_id=patient.id,
            membership_id=actor.id,
            reason=text,
            opened_at=now,
            expires_at=now + dt.timedelta(minutes=minutes),
        )
        audit_record(
            action="clinical_record.break_glass",
            organization_id=actor.organization_id,
            actor_id=actor.user_id,
            object_type="directory_patient",
            object_id=str(patient.id),
            details={"reason": text, "minutes": minutes, "access_id": str(access.id)},
        )
        access.patient = patient
        publish(events.BreakGlassOpened(access=access, actor=actor))
    return access


# --- the care team (a caseload assigned by hand) --------------------------------------------


@transaction.atomic
def care_team_add(*, actor: Membership, patient_id: Any, practitioner_id: Any) -> CareTeamMember:
    """Put a practitioner in the patient's care team (their caseload from now on); 409
    `already_in_care_team` when they are, 422 naming `practitioner_id` when there is no such
    active practitioner with an account."""
    patient = patient_for_actor(actor, patient_id)
    practitioner = (
        Practitioner.objects.filter(
            id=selectors._uuid(practitioner_id),
            is_active=True,
            membership__isnull=False,
            membership__is_active=True,
        ).first()
        if selectors._uuid(practitioner_id)
        else None
    )
    if practitioner is None:
        raise field_error("practitioner_id", _("No such practitioner with an account."))
    if CareTeamMember.objects.filter(patient_id=patient.id, practitioner=practitioner).exists():
        raise Conflict(
            _("%(name)s is already in this patient's care team.")
            % {"name": practitioner.display_name},
            code="already_in_care_team",
        )
    try:
        with transaction.atomic():
            member = CareTeamMember.objects.create(
                patient_id=patient.id, practitioner=practitioner, added_by=actor
            )
    except IntegrityError:  # the same assignment made at the same moment
        raise Conflict(
            _("%(name)s is already in this patient's care team.")
            % {"name": practitioner.display_name},
            code="already_in_care_team",
        ) from None
    member.practitioner = practitioner
    return member


@transaction.atomic
def care_team_remove(*, actor: Membership, patient_id: Any, practitioner_id: Any) -> None:
    patient = patient_for_actor(actor, patient_id)
    deleted, _rows = CareTeamMember.objects.filter(
        patient_id=patient.id, practitioner_id=selectors._uuid(practitioner_id)
    ).delete()
    if not deleted:
        raise NotFound(_("This practitioner is not in the patient's care team."))
