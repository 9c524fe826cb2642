"""The owners and admins are told in-app when a practitioner opens emergency ("break-glass")
access to a record outside their caseload (subscribed to clinical's BreakGlassOpened, see
handlers.py): who, which patient, why, until when — in their language, the time in the
organization's zone."""

from __future__ import annotations

from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from clinic.accounts.models import Organization
from clinic.core import timefmt
from clinic.notifications import selectors
from clinic.notifications.messages import MessageEvent, event_register, language_pick
from clinic.notifications.models import Category
from clinic.notifications.services import PlannedSubject, _key, notification_create

OPENED_EVENT = event_register(
    MessageEvent(
        "staff.break_glass_opened",
        "staff_break_glass_opened",
        _("Emergency access to a record"),
        channels=(),
        category=Category.SYSTEM,
    )
)


def break_glass_notify(*, access, actor) -> None:
    org = Organization.objects.get(id=access.organization_id)
    who = actor.user.full_name or actor.user.email
    for membership, user_settings in selectors.staff_to_notify(
        category=OPENED_EVENT.category, permission="clinical.access_log"
    ):
        language = language_pick(membership.user.preferred_locale, org.default_locale)
        context = {
            "org_name": org.name,
            "who": who,
            "patient": access.patient.display_name,
            "reason": access.reason,
            "until": timefmt.local_datetime(access.expires_at, language=language, organization=org),
        }
        notification_create(
            user_id=membership.user_id,
            event=OPENED_EVENT.name,
            context=context,
            language=language,
            category=OPENED_EVENT.category,
            link=reverse("clinical:access_log", args=[access.patient_id]),
            subject=PlannedSubject("break_glass", access.pk),
            dedupe_key=_key(OPENED_EVENT.name, access.pk),
            user_settings=user_settings,
            email=membership.user.email,
        )
