"""Waitlist API: entries (ordered by score), matches, offers, answers, figures, settings, and the
patient's public offer link (the secret in the URL is the only credential).

Handlers parse, authorise and call one service or selector; refusals are domain errors."""

from typing import Any
from uuid import UUID

from ninja import Query, Router, Status
from ninja.pagination import paginate

from clinic.api.auth import require
from clinic.api.pagination import Mapped, PagePagination
from clinic.waitlist import matching, selectors, services
from clinic.waitlist.messages import offer_link
from clinic.waitlist.models import OfferSource, WaitlistEntry, WaitlistOffer
from clinic.waitlist.schemas import (
    EntryFilters,
    EntryIn,
    EntryOut,
    EntryPatch,
    FiguresOut,
    MatchOut,
    OfferCreated,
    OfferIn,
    OfferOut,
    PublicOfferOut,
    WaitlistSettingsIn,
    WaitlistSettingsOut,
)

router = Router(tags=["waitlist"])


def _id(value) -> str | None:
    return str(value) if value is not None else None


def entry_out(e: WaitlistEntry) -> dict[str, Any]:
    return {
        "id": str(e.id),
        "patient": {"id": str(e.patient_id), "name": e.patient.display_name},
        "contact_id": _id(e.contact_id),
        "service": {"id": str(e.service_id), "name": e.service.name},
        "practitioner_ids": [str(i) for i in e.practitioner_ids],
        "location_ids": [str(i) for i in e.location_ids],
        "modality": e.modality,
        "earliest_date": e.earliest_date.isoformat(),
        "latest_date": e.latest_date.isoformat(),
        "preferred_days": e.preferred_days,
        "preferred_times": e.preferred_times,
        "urgency": e.urgency,
        "referral_source": e.referral_source,
        "notes": e.notes,
        "status": e.status,
        "score": float(e.score),
        "score_breakdown": e.score_breakdown,
        "declined_count": e.declined_count,
        "booked_appointment_id": _id(e.booked_appointment_id),
        "created_at": e.created_at.isoformat(),
    }


def offer_out(o: WaitlistOffer) -> dict[str, Any]:
    return {
        "id": str(o.id),
        "entry_id": str(o.entry_id),
        "status": o.status,
        "source": o.source,
        "start": o.start_at.isoformat(),
        "end": o.end_at.isoformat(),
        "practitioner_id": str(o.practitioner_id),
        "location_id": str(o.location_id),
        "service_id": str(o.service_id),
        "hold_id": _id(o.hold_id),
        "appointment_id": _id(o.appointment_id),
        "expires_at": o.expires_at.isoformat(),
        "match_score": float(o.match_score),
        "created_at": o.created_at.isoformat(),
        "responded_at": o.responded_at.isoformat() if o.responded_at else None,
    }


# --- entries -------------------------------------------------------------------------------------


@router.post("/waitlist", response={201: EntryOut})
@require("waitlist.manage")
def entry_create(request, payload: EntryIn):
    entry = services.entry_create(actor=request.auth, data=payload.model_dump(mode="python"))
    return Status(201, entry_out(selectors.entry_for_actor(request.auth, entry.id)))


@router.get("/waitlist", response=list[EntryOut])
@require("waitlist.view")
@paginate(PagePagination)
def entries_list(request, filters: Query[EntryFilters]):
    return Mapped(selectors.entries_list(request.auth, **filters.dict()), entry_out)


@router.get("/waitlist-figures", response=FiguresOut)
@require("waitlist.view")
def figures(request):
    return selectors.figures()


@router.get("/waitlist-settings", response=WaitlistSettingsOut)
@require("waitlist.view")
def settings_get(request):
    return selectors.settings_get()


@router.patch("/waitlist-settings", response=WaitlistSettingsOut)
@require("waitlist.settings")
def settings_update(request, payload: WaitlistSettingsIn):
    return services.settings_update(actor=request.auth, data=payload.model_dump(exclude_unset=True))


@router.get("/waitlist/{entry_id}", response=EntryOut)
@require("waitlist.view")
def entry_get(request, entry_id: UUID):
    return entry_out(selectors.entry_for_actor(request.auth, entry_id))


@router.patch("/waitlist/{entry_id}", response=EntryOut)
@require("waitlist.manage")
def entry_update(request, entry_id: UUID, payload: EntryPatch):
    entry = selectors.entry_for_actor(request.auth, entry_id)
    services.entry_update(
        actor=request.auth, entry=entry, data=payload.model_dump(mode="python", exclude_unset=True)
    )
    return entry_out(selectors.entry_for_actor(request.auth, entry_id))


@router.delete("/waitlist/{entry_id}", response=EntryOut)
@require("waitlist.manage")
def entry_withdraw(request, entry_id: UUID):
    entry = selectors.entry_for_actor(request.auth, entry_id)
    services.entry_withdraw(actor=request.auth, entry=entry)
    return entry_out(selectors.entry_for_actor(request.auth, entry_id))


@router.get("/waitlist/{entry_id}/matches", response=list[MatchOut])
@require("waitlist.view")
def entry_matches(request, entry_id: UUID, limit: int = 10):
    entry = selectors.entry_for_actor(request.auth, entry_id)
    found = matching.entry_matches(
        entry, limit=max(1, min(limit, 50)), default_zone=request.auth.organization.time_zone
    )
    return [
        {
            "start": m.start.isoformat(),
            "end": m.end.isoformat(),
            "practitioner_id": str(m.practitioner_id),
            "location_id": str(m.location_id),
            "score": m.score,
            "breakdown": m.breakdown,
        }
        for m in found
    ]


@router.get("/waitlist/{entry_id}/offers", response=list[OfferOut])
@require("waitlist.view")
def entry_offers(request, entry_id: UUID):
    entry = selectors.entry_for_actor(request.auth, entry_id)
    return [offer_out(o) for o in selectors.offers_of_entry(entry)]


@router.post("/waitlist/{entry_id}/offers", response={201: OfferCreated})
@require("waitlist.manage")
def offer_create(request, entry_id: UUID, payload: OfferIn):
    """A manual offer of one slot (POST body `start`, `practitioner_id`): held at once."""
    entry = selectors.entry_for_actor(request.auth, entry_id)
    issued = services.offer_create(
        actor=request.auth,
        entry=entry,
        practitioner_id=payload.practitioner_id,
        start=payload.start,
        location_id=payload.location_id,
        source=OfferSource.MANUAL,
    )
    return Status(201, {**offer_out(issued.offer), "link": offer_link(issued.token)})


# --- answers -------------------------------------------------------------------------------------


@router.post("/offers/{offer_id}/accept", response=OfferOut)
@require("waitlist.manage")
def offer_accept(request, offer_id: UUID):
    """Staff record the patient's yes (on the phone). An expired offer: 410, and it stays closed."""
    request.keep_writes_on_error = True  # an expired offer is closed and its slot moves on
    offer = selectors.offer_for_actor(request.auth, offer_id)
    return offer_out(services.offer_accept(offer=offer, actor=request.auth))


@router.post("/offers/{offer_id}/decline", response=OfferOut)
@require("waitlist.manage")
def offer_decline(request, offer_id: UUID):
    offer = selectors.offer_for_actor(request.auth, offer_id)
    return offer_out(services.offer_decline(offer=offer, actor=request.auth))


# --- the patient's link (public) -----------------------------------------------------------------


def _public(offer: WaitlistOffer) -> dict[str, Any]:
    offer = WaitlistOffer.objects.select_related("practitioner", "service", "location").get(
        id=offer.id
    )
    return {
        "status": offer.status,
        "start": offer.start_at.isoformat(),
        "end": offer.end_at.isoformat(),
        "expires_at": offer.expires_at.isoformat(),
        "practitioner_name": offer.practitioner.display_name,
        "service_name": offer.service.name,
        "location_name": offer.location.name,
        "time_zone": offer.location.time_zone,
    }


@router.get("/offer-links/{token}", auth=None, response=PublicOfferOut)
def public_offer(request, token: str):
    return _public(services.offer_for_token(token))


@router.post("/offer-links/{token}/accept", auth=None, response=PublicOfferOut)
def public_offer_accept(request, token: str):
    """Single use: a second answer is 409; after the expiry 410."""
    request.keep_writes_on_error = True
    offer = services.offer_for_token(token)
    return _public(services.offer_accept(offer=offer))


@router.post("/offer-links/{token}/decline", auth=None, response=PublicOfferOut)
def public_offer_decline(request, token: str):
    offer = services.offer_for_token(token)
    return _public(services.offer_decline(offer=offer))
