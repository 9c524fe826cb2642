"""Waitlist reads: access helpers, lists ordered by score, offer history and the figures."""

from __future__ import annotations

import statistics
import uuid

from django.db.models import Count, Exists, OuterRef, Q, QuerySet
from django.utils.translation import gettext as _

from clinic.accounts.models import Membership
from clinic.core.errors import NotFound
from clinic.waitlist.models import (
    EntryStatus,
    OfferStatus,
    WaitlistEntry,
    WaitlistOffer,
    WaitlistSettings,
)

VIEW = "waitlist.view"


def settings_get() -> WaitlistSettings:
    return WaitlistSettings.objects.first() or WaitlistSettings()


def entries_visible_to(actor: Membership) -> QuerySet:
    """The waitlist is a front-desk tool: whoever may view it sees all of it."""
    if not actor.has(VIEW):
        return WaitlistEntry.objects.none()
    return WaitlistEntry.objects.all()


def entry_for_actor(actor: Membership, entry_id, *, for_update: bool = False) -> WaitlistEntry:
    qs = entries_visible_to(actor).select_related("patient", "service", "contact")
    if for_update:
        qs = qs.select_for_update(of=("self",))
    found = qs.filter(id=entry_id).first()
    if found is None:
        raise NotFound(_("Waitlist entry not found."))
    return found


def entries_list(
    actor: Membership,
    *,
    status: str | None = None,
    service_id: uuid.UUID | None = None,
    practitioner_id: uuid.UUID | None = None,
    patient_id: uuid.UUID | None = None,
    urgency: str | None = None,
) -> QuerySet:
    """Ordered by score (best first), then the longest waiting."""
    qs = entries_visible_to(actor).select_related("patient", "service")
    if status:
        qs = qs.filter(status=status)
    if service_id:
        qs = qs.filter(service_id=service_id)
    if practitioner_id:
        qs = qs.filter(Q(practitioner_ids=[]) | Q(practitioner_ids__contains=[practitioner_id]))
    if patient_id:
        qs = qs.filter(patient_id=patient_id)
    if urgency:
        qs = qs.filter(urgency=urgency)
    live = WaitlistOffer.objects.filter(entry_id=OuterRef("id"), status=OfferStatus.PENDING)
    return qs.annotate(has_live_offer=Exists(live)).order_by("-score", "created_at", "id")


def offer_for_actor(actor: Membership, offer_id, *, for_update: bool = False) -> WaitlistOffer:
    if not actor.has(VIEW):
        raise NotFound(_("Offer not found."))
    qs = WaitlistOffer.objects.select_related("entry", "practitioner", "location", "service")
    if for_update:
        qs = qs.select_for_update(of=("self",))
    found = qs.filter(id=offer_id).first()
    if found is None:
        raise NotFound(_("Offer not found."))
    return found


def offers_of_entry(entry: WaitlistEntry) -> QuerySet:
    return (
        WaitlistOffer.objects.filter(entry_id=entry.id)
        .select_related("practitioner", "location")
        .order_by("-created_at")
    )


def offers_of_entries(entry_ids) -> dict[uuid.UUID, list[WaitlistOffer]]:
    """Offer history of several entries in one query (the board)."""
    out: dict[uuid.UUID, list[WaitlistOffer]] = {i: [] for i in entry_ids}
    for offer in (
        WaitlistOffer.objects.filter(entry_id__in=list(entry_ids))
        .select_related("practitioner", "location")
        .order_by("-created_at")
    ):
        out[offer.entry_id].append(offer)
    return out


def entries_for_slot(
    *, practitioner_id, location_id, modality: str, local_date, service_ids, exclude_ids=()
) -> list[WaitlistEntry]:
    """Active entries a freed slot could serve (hard limits only: dates, practitioner, location,
    modality, a service the slot fits); the scoring ranks them."""
    return list(
        WaitlistEntry.objects.filter(
            status=EntryStatus.ACTIVE,
            service_id__in=list(service_ids),
            earliest_date__lte=local_date,
            latest_date__gte=local_date,
        )
        .filter(Q(practitioner_ids=[]) | Q(practitioner_ids__contains=[practitioner_id]))
        .filter(Q(location_ids=[]) | Q(location_ids__contains=[location_id]))
        .filter(Q(modality="") | Q(modality=modality))
        .exclude(id__in=list(exclude_ids))
        .select_related("patient", "service")
        .order_by("-score", "created_at")[:200]
    )


def offered_entry_ids(*, practitioner_id, start) -> set[uuid.UUID]:
    """Entries already offered this slot (a cascade does not offer it to them again)."""
    return set(
        WaitlistOffer.objects.filter(practitioner_id=practitioner_id, start_at=start).values_list(
            "entry_id", flat=True
        )
    )


def figures() -> dict:
    """Fill rate (freed slots offered that were filled from the waitlist), median time to fill
    (slot freed → offer accepted, minutes) and offers per fill. Two queries."""
    slots = list(
        WaitlistOffer.objects.values("practitioner_id", "start_at").annotate(
            offers=Count("id"), accepted=Count("id", filter=Q(status=OfferStatus.ACCEPTED))
        )
    )
    filled = [s for s in slots if s["accepted"]]
    accepted = WaitlistOffer.objects.filter(
        status=OfferStatus.ACCEPTED, responded_at__isnull=False
    ).values_list("slot_freed_at", "responded_at")
    minutes = [(done - freed).total_seconds() / 60 for freed, done in accepted]
    return {
        "slots_offered": len(slots),
        "slots_filled": len(filled),
        "fill_rate": round(len(filled) / len(slots), 4) if slots else None,
        "median_minutes_to_fill": round(statistics.median(minutes), 1) if minutes else None,
        "offers_per_fill": round(sum(s["offers"] for s in filled) / len(filled), 2)
        if filled
        else None,
    }
