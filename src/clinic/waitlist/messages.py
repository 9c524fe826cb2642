"""Waitlist messages through the notifications outbox: the offer to the patient (email/SMS with
the accept/decline link, in their language, the slot in the location's zone) and the in-app
notice to staff when an offer is accepted."""

from __future__ import annotations

from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from clinic.accounts.models import Organization
from clinic.notifications import selectors as notification_selectors
from clinic.notifications.messages import (
    MessageEvent,
    absolute_url,
    event_get,
    event_register,
    language_pick,
    when_format,
)
from clinic.notifications.models import Category
from clinic.notifications.services import (
    PlannedSubject,
    _key,
    context_builder,
    message_plan,
    notification_create,
)

OFFER_EVENT = event_register(MessageEvent("waitlist.offer", "waitlist_offer", _("Waitlist offer")))
ACCEPTED_EVENT = event_register(
    MessageEvent(
        "staff.waitlist_accepted",
        "staff_waitlist_accepted",
        _("Waitlist offer accepted"),
        channels=(),
        category=Category.APPOINTMENTS,
    )
)


def offer_link(token: str) -> str:
    return absolute_url(reverse("waitlist:offer_respond", args=[token]))


def _context(offer, org, language: str) -> dict:
    zone = offer.location.time_zone or org.time_zone or "UTC"
    return {
        "org_name": org.name,
        "patient_name": offer.entry.patient.display_name,
        "practitioner_name": offer.practitioner.display_name,
        "service_name": offer.service.name,
        "location_name": offer.location.name,
        **when_format(offer.start_at, zone, language, organization=org),
        "expires": when_format(offer.expires_at, zone, language, organization=org)["when_short"],
    }


def offer_message_plan(*, offer, entry, token: str) -> None:
    """Email/SMS to the patient (or the contacts who receive their messages), per language."""
    org = Organization.objects.get(id=offer.organization_id)
    offer = (
        type(offer)
        .objects.select_related("practitioner", "location", "service", "entry__patient")
        .get(id=offer.id)
    )
    recipients = notification_selectors.patient_recipients(
        entry.patient, default_language=org.default_locale
    )
    if entry.contact_id:
        recipients = [
            r for r in recipients if r.kind != "contact" or r.record.pk == entry.contact_id
        ] or recipients
    link = offer_link(token)
    for recipient in recipients:
        language = language_pick(recipient.language, org.default_locale)
        recipient.language = language
        message_plan(
            event=OFFER_EVENT.name,
            recipients=[recipient],
            context={**_context(offer, org, language), "offer_url": link},
            subject=PlannedSubject("waitlist_offer", offer.pk),
            key=_key("waitlist.offer", offer.pk),
            time_zone=offer.location.time_zone or org.time_zone,
            latest=offer.expires_at,
        )


def offer_accepted_staff_notify(*, offer) -> None:
    """In-app to the practitioner (or to the front desk when they have no login)."""
    from clinic.accounts.models import Membership

    org = Organization.objects.get(id=offer.organization_id)
    offer = (
        type(offer)
        .objects.select_related("practitioner", "location", "service", "entry__patient")
        .get(id=offer.id)
    )
    spec = event_get(ACCEPTED_EVENT.name)
    practitioner_user = None
    if offer.practitioner.membership_id:
        practitioner_user = (
            Membership.objects.filter(pk=offer.practitioner.membership_id)
            .values_list("user_id", flat=True)
            .first()
        )
    targets = notification_selectors.staff_to_notify(
        category=spec.category,
        user_ids=[practitioner_user] if practitioner_user else None,
        permission=None if practitioner_user else "waitlist.manage",
    )
    for membership, user_settings in targets:
        language = language_pick(membership.user.preferred_locale, org.default_locale)
        notification_create(
            user_id=membership.user_id,
            event=spec.name,
            context=_context(offer, org, language),
            language=language,
            category=spec.category,
            link=reverse("waitlist:board"),
            subject=PlannedSubject("waitlist_offer", offer.pk),
            dedupe_key=_key(spec.name, offer.pk),
            user_settings=user_settings,
            email=membership.user.email,
        )


@context_builder("waitlist_offer")
def _offer_delivery_context(delivery, org) -> tuple[dict, str]:
    """At sending time: an offer answered or expired meanwhile is not sent any more."""
    from clinic.waitlist.models import OfferStatus, WaitlistOffer

    status = WaitlistOffer.objects.filter(pk=delivery.subject_id).values_list("status", flat=True)
    if delivery.recipient_kind in ("patient", "contact") and status.first() != OfferStatus.PENDING:
        return {}, str(_("The offer is no longer open."))
    return {}, ""
