"""The practitioner is told in-app when their time-off request is approved or denied
(subscribed to scheduling's TimeOffDecided, see handlers.py), in their language, the period in
the time off's location zone."""

from __future__ import annotations

from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext_lazy as _

from clinic.accounts.models import Membership, Organization
from clinic.core import timefmt
from clinic.notifications import selectors
from clinic.notifications.messages import MessageEvent, event_register, language_pick
from clinic.notifications.models import Category
from clinic.notifications.services import PlannedSubject, _key, notification_create

DECIDED_EVENT = event_register(
    MessageEvent(
        "staff.time_off_decided",
        "staff_time_off_decided",
        _("Time-off request decided"),
        channels=(),
        # about the practitioner's own schedule: muted with "My appointments"
        category=Category.APPOINTMENTS,
    )
)


def _zone(time_off, org) -> str:
    if time_off.location_id:
        return time_off.location.time_zone
    if time_off.practitioner.default_location_id:
        return time_off.practitioner.default_location.time_zone
    return org.time_zone or "UTC"


def _requester_user_id(time_off):
    """The practitioner's login; when they have none, whoever filed the request for them."""
    membership_id = time_off.practitioner.membership_id or time_off.requested_by_id
    if membership_id is None:
        return None
    return Membership.objects.filter(pk=membership_id).values_list("user_id", flat=True).first()


def time_off_decision_notify(*, time_off, actor=None) -> None:
    from clinic.scheduling.models import TimeOff, TimeOffStatus

    time_off = TimeOff.objects.select_related(
        "practitioner__default_location", "location", "decided_by__user"
    ).get(pk=time_off.pk)
    user_id = _requester_user_id(time_off)
    # nobody to tell, or the practitioner decided themselves
    if user_id is None or (actor is not None and actor.user_id == user_id):
        return
    org = Organization.objects.get(id=time_off.organization_id)
    zone = _zone(time_off, org)
    approved = time_off.status == TimeOffStatus.APPROVED
    decider = time_off.decided_by.user if time_off.decided_by else None
    for membership, user_settings in selectors.staff_to_notify(
        category=DECIDED_EVENT.category, user_ids=[user_id]
    ):
        language = language_pick(membership.user.preferred_locale, org.default_locale)
        with translation.override(language):
            kind = str(time_off.get_type_display())
        context = {
            "org_name": org.name,
            "approved": approved,
            "period": timefmt.local_range(
                time_off.start_at, time_off.end_at, zone, language=language, organization=org
            ),
            "type": kind,
            "decided_by": str(decider) if decider else "",
            "note": time_off.decision_note,
        }
        notification_create(
            user_id=membership.user_id,
            event=DECIDED_EVENT.name,
            context=context,
            language=language,
            category=DECIDED_EVENT.category,
            link=reverse("scheduling:time_off"),
            subject=PlannedSubject("time_off", time_off.pk),
            dedupe_key=_key(DECIDED_EVENT.name, f"{time_off.pk}:{time_off.status}"),
            user_settings=user_settings,
            email=membership.user.email,
        )
