"""Every waitlist write: entries (with their score), offers (holding the slot through
scheduling's holds), answers to offers and the cascade to the next entry.

Concurrency: an offer is made with the entry's row locked (`select_for_update`) and its status
re-read, so an entry never gets two live offers; the slot is held with scheduling's hold, whose
exclusion constraint refuses a second hold on the same time, so a freed slot gets one offer
even when a cancellation and the periodic job reach it together. Answers lock the offer row:
of two racing accepts, one books and the other is told the offer was already accepted.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import structlog
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from clinic.accounts.models import Membership
from clinic.audit.services import audit_record
from clinic.core.errors import Conflict, Gone, NotFound, ValidationFailed
from clinic.scheduling import services as scheduling
from clinic.scheduling.models import Hold, Modality
from clinic.waitlist import matching, scoring, selectors
from clinic.waitlist.models import (
    EntryStatus,
    OfferSource,
    OfferStatus,
    ReferralSource,
    TimeOfDay,
    Urgency,
    WaitlistEntry,
    WaitlistOffer,
)

log = structlog.get_logger(__name__)

# an offer shorter than this is not worth sending (the patient could not answer in time)
MIN_OFFER = timedelta(minutes=10)
MAX_OFFER_SECONDS = 48 * 3600
# candidates tried for one freed slot before giving up (each try is a hold attempt)
MAX_TRIES_PER_SLOT = 10
# the periodic job's share per run (entries without a live offer, best score first)
JOB_ENTRIES_PER_RUN = 200


class SystemActor:
    """Stands in for a member when the waitlist acts by itself (a freed slot, the periodic job,
    a patient answering through a link): it may act on every practitioner's schedule, but never
    outside working hours (no override), and audit rows name no user."""

    id = None
    user_id = None
    role = "system"
    permissions = frozenset({"appointment.view_all"})

    def has(self, permission: str) -> bool:
        return permission in self.permissions


SYSTEM = SystemActor()


def _now() -> datetime:
    return timezone.now()


def _token_hash(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


# --- entries -------------------------------------------------------------------------------------


def _invalid(field: str, message: str) -> ValidationFailed:
    return ValidationFailed(
        _("Invalid value for %(field)s.") % {"field": field}, details={field: [message]}
    )


def _entry_values(data: dict[str, Any], *, partial: bool) -> dict[str, Any]:
    from clinic.directory.models import Contact, Location, Patient, Practitioner, Service

    errors: dict[str, list[str]] = {}
    out: dict[str, Any] = {}
    required = ("patient_id", "service_id", "earliest_date", "latest_date")
    for name in required:
        if not partial and data.get(name) in (None, ""):
            errors.setdefault(name, []).append(_("This field is required."))
    lookups = {
        "patient_id": (Patient, _("No such patient in this organization.")),
        "service_id": (Service, _("No such service in this organization.")),
        "contact_id": (Contact, _("No such contact in this organization.")),
    }
    for name, (model, message) in lookups.items():
        if data.get(name) not in (None, ""):
            if not model.objects.filter(id=data[name]).exists():
                errors.setdefault(name, []).append(message)
            else:
                out[name] = data[name]
        elif name == "contact_id" and name in data:
            out[name] = None
    for name, model in (("practitioner_ids", Practitioner), ("location_ids", Location)):
        if name in data and data[name] is not None:
            ids = list(dict.fromkeys(data[name]))
            if model.objects.filter(id__in=ids).count() != len(ids):
                errors.setdefault(name, []).append(_("Unknown id in this list."))
            out[name] = ids
    if data.get("modality") not in (None, ""):
        if data["modality"] not in Modality.values:
            errors.setdefault("modality", []).append(
                _("Must be one of: %(v)s.") % {"v": ", ".join(Modality.values)}
            )
        out["modality"] = data["modality"]
    elif "modality" in data:
        out["modality"] = ""
    for name in ("earliest_date", "latest_date"):
        if data.get(name) is not None:
            out[name] = data[name]
    if data.get("preferred_days") is not None:
        days = sorted(set(data["preferred_days"]))
        if any(not 0 <= d <= 6 for d in days):
            errors.setdefault("preferred_days", []).append(_("Days are 0 (Monday) to 6 (Sunday)."))
        out["preferred_days"] = days
    if data.get("preferred_times") is not None:
        times = list(dict.fromkeys(data["preferred_times"]))
        if any(t not in TimeOfDay.values for t in times):
            errors.setdefault("preferred_times", []).append(
                _("Must be one of: %(v)s.") % {"v": ", ".join(TimeOfDay.values)}
            )
        out["preferred_times"] = times
    if data.get("urgency") is not None:
        if data["urgency"] not in Urgency.values:
            errors.setdefault("urgency", []).append(
                _("Must be one of: %(v)s.") % {"v": ", ".join(Urgency.values)}
            )
        out["urgency"] = data["urgency"]
    if data.get("referral_source") is not None:
        if data["referral_source"] not in ("", *ReferralSource.values):
            errors.setdefault("referral_source", []).append(
                _("Must be one of: %(v)s.") % {"v": ", ".join(ReferralSource.values)}
            )
        out["referral_source"] = data["referral_source"]
    if data.get("notes") is not None:
        if len(data["notes"]) > 5000:
            errors.setdefault("notes", []).append(_("At most 5000 characters."))
        out["notes"] = data["notes"]
    if errors:
        raise ValidationFailed(
            _("Invalid value for %(field)s.") % {"field": next(iter(errors))}, details=errors
        )
    return out


def _dates_check(entry: WaitlistEntry) -> None:
    if entry.latest_date < entry.earliest_date:
        raise _invalid("latest_date", _("Must be on or after the earliest date."))


def entry_score_refresh(
    entry: WaitlistEntry, *, settings=None, today: date | None = None, save: bool = True
) -> WaitlistEntry:
    """Recompute the priority score and its breakdown (inputs changed, a decline, nightly)."""
    settings = settings or selectors.settings_get()
    today = today or _now().date()
    since = entry.created_at.date() if entry.created_at else today
    entry.score, entry.score_breakdown = scoring.priority_score(
        waiting_since=since,
        today=today,
        urgency=entry.urgency,
        referral_source=entry.referral_source,
        declined_count=entry.declined_count,
        weights=scoring.Weights.of(settings),
    )
    entry.score_computed_at = _now()
    if save:
        entry.save(update_fields=["score", "score_breakdown", "score_computed_at", "updated_at"])
    return entry


@transaction.atomic
def entry_create(*, actor: Membership, data: dict[str, Any]) -> WaitlistEntry:
    values = _entry_values(data, partial=False)
    entry = WaitlistEntry(**values, created_by_id=actor.id)
    _dates_check(entry)
    entry.created_at = _now()
    entry_score_refresh(entry, save=False)
    entry.save()
    return entry


@transaction.atomic
def entry_update(*, actor: Membership, entry: WaitlistEntry, data: dict[str, Any]) -> WaitlistEntry:
    entry = WaitlistEntry.objects.select_for_update().get(id=entry.id)
    if entry.status in (EntryStatus.BOOKED, EntryStatus.WITHDRAWN):
        raise Conflict(
            _("This waitlist entry is closed."),
            code="entry_closed",
            details={"status": entry.status},
        )
    values = _entry_values(data, partial=True)
    for name, value in values.items():
        setattr(entry, name, value)
    _dates_check(entry)
    entry_score_refresh(entry, save=False)
    entry.save()
    return entry


@transaction.atomic
def entry_withdraw(*, actor: Membership, entry: WaitlistEntry) -> WaitlistEntry:
    """DELETE: the entry leaves the list (kept, status withdrawn); a live offer is withdrawn and
    its slot goes to the next entry."""
    entry = WaitlistEntry.objects.select_for_update().get(id=entry.id)
    live = WaitlistOffer.objects.select_for_update().filter(
        entry_id=entry.id, status=OfferStatus.PENDING
    )
    for offer in live:
        _offer_close(offer, OfferStatus.WITHDRAWN, actor=actor, entry_status=None)
        _cascade(offer)
    if entry.status != EntryStatus.BOOKED:
        entry.status = EntryStatus.WITHDRAWN
        entry.save(update_fields=["status", "updated_at"])
    return entry


def scores_refresh_all(*, today: date | None = None) -> int:
    """Nightly: waiting time grows, so every open entry's score is recomputed."""
    settings = selectors.settings_get()
    entries = list(
        WaitlistEntry.objects.filter(status__in=[EntryStatus.ACTIVE, EntryStatus.OFFERED])
    )
    for entry in entries:
        entry_score_refresh(entry, settings=settings, today=today, save=False)
    WaitlistEntry.objects.bulk_update(entries, ["score", "score_breakdown", "score_computed_at"])
    return len(entries)


def entries_expire(*, today: date | None = None) -> int:
    """Entries whose latest date has passed leave the list."""
    today = today or _now().date()
    return WaitlistEntry.objects.filter(status=EntryStatus.ACTIVE, latest_date__lt=today).update(
        status=EntryStatus.EXPIRED, updated_at=_now()
    )


# --- offers --------------------------------------------------------------------------------------


@dataclass
class IssuedOffer:
    offer: WaitlistOffer
    token: str


def offer_create(
    *,
    actor,
    entry: WaitlistEntry,
    practitioner_id,
    start: datetime,
    location_id=None,
    source: str = OfferSource.MANUAL,
    slot_freed_at: datetime | None = None,
    match: tuple[float, dict] | None = None,
) -> IssuedOffer:
    """Offer one slot to one entry: hold it (scheduling's hold, up to the offer's expiry), and
    send the patient accept/decline links. 409 when the entry already has a live offer or is
    closed, or the slot is not free (with `retry_after` when only holds are in the way)."""
    missing = {
        name: [_("This field is required.")]
        for name, value in (("start", start), ("practitioner_id", practitioner_id))
        if not value
    }
    if missing:
        raise ValidationFailed(
            _("Invalid value for %(field)s.") % {"field": next(iter(missing))}, details=missing
        )
    settings = selectors.settings_get()
    with transaction.atomic():
        entry = (
            WaitlistEntry.objects.select_for_update(of=("self",))
            .select_related("patient", "service")
            .get(id=entry.id)
        )
        if entry.status != EntryStatus.ACTIVE:
            raise Conflict(
                _("This entry already has a live offer or is closed.")
                if entry.status == EntryStatus.OFFERED
                else _("This waitlist entry is closed."),
                code="entry_offered" if entry.status == EntryStatus.OFFERED else "entry_closed",
                details={"status": entry.status},
            )
        now = _now()
        expires = min(
            now + timedelta(minutes=settings.offer_hold_minutes),
            start - timedelta(minutes=settings.offer_lead_minutes),
        )
        if expires - now < MIN_OFFER:
            raise Conflict(
                _("Too close to the appointment to make an offer."),
                code="offer_too_late",
                details={"start": [_("Too close to the appointment to make an offer.")]},
            )
        hold, rows = scheduling.hold_create(
            actor=actor,
            practitioner_id=practitioner_id,
            patient_id=entry.patient_id,
            service_id=entry.service_id,
            start=start,
            location_id=location_id,
            hold_seconds=int((expires - now).total_seconds()),
            max_seconds=MAX_OFFER_SECONDS,
        )
        row = rows[0]
        raw = "wlo_" + secrets.token_urlsafe(32)
        score, breakdown = match or (0.0, {})
        try:
            with transaction.atomic():
                offer = WaitlistOffer.objects.create(
                    entry=entry,
                    hold=hold,
                    practitioner_id=row.practitioner_id,
                    location_id=row.location_id,
                    service_id=entry.service_id,
                    start_at=row.start_at,
                    end_at=row.end_at,
                    source=source,
                    match_score=score,
                    match_breakdown=breakdown,
                    expires_at=hold.expires_at,
                    slot_freed_at=slot_freed_at or now,
                    token_hash=_token_hash(raw),
                    created_by_id=actor.id,
                )
        except IntegrityError:
            raise Conflict(
                _("This slot is already offered."), code="slot_offered", details={}
            ) from None
        entry.status = EntryStatus.OFFERED
        entry.save(update_fields=["status", "updated_at"])
        audit_record(
            action="waitlist.offer",
            organization_id=offer.organization_id,
            actor_id=actor.user_id,
            object_type="waitlist_offer",
            object_id=offer.id,
            details={"entry": str(entry.id), "hold": str(hold.id), "source": source},
        )
        from clinic.waitlist.messages import offer_message_plan

        offer_message_plan(offer=offer, entry=entry, token=raw)
    return IssuedOffer(offer=offer, token=raw)


def _offer_close(
    offer: WaitlistOffer, status: str, *, actor, entry_status: str | None = EntryStatus.ACTIVE
) -> None:
    """Close a pending offer (declined, expired, withdrawn): its hold is released, the entry
    goes back to the list (a decline counts against its score)."""
    now = _now()
    offer.status = status
    offer.responded_at = now
    offer.save(update_fields=["status", "responded_at"])
    if offer.hold_id:
        hold = Hold.objects.filter(id=offer.hold_id).first()
        if hold is not None:
            scheduling.hold_release(actor=actor, hold=hold)
    entry = WaitlistEntry.objects.select_for_update().get(id=offer.entry_id)
    if status == OfferStatus.DECLINED:
        entry.declined_count += 1
    if entry_status and entry.status == EntryStatus.OFFERED:
        entry.status = entry_status
    entry_score_refresh(entry, save=False)
    entry.save()
    audit_record(
        action=f"waitlist.offer_{status}",
        organization_id=offer.organization_id,
        actor_id=getattr(actor, "user_id", None),
        object_type="waitlist_offer",
        object_id=offer.id,
    )


def _cascade(offer: WaitlistOffer) -> WaitlistOffer | None:
    """The slot of a closed offer goes to the next best entry (until the lead time)."""
    return slot_fill(
        practitioner_id=offer.practitioner_id,
        location_id=offer.location_id,
        start=offer.start_at,
        end=offer.end_at,
        modality="",
        freed_at=offer.slot_freed_at,
        source=OfferSource.CASCADE,
    )


def offer_accept(*, offer: WaitlistOffer, actor=None) -> WaitlistOffer:
    """Book the held slot for the entry, atomically. An offer accepted already → 409
    `offer_accepted`; declined or withdrawn → 409; past its expiry → 410 `offer_expired` (the
    offer is closed and the slot goes to the next entry, which stays done)."""
    actor = actor or SYSTEM
    expired = False
    with transaction.atomic():
        offer = WaitlistOffer.objects.select_for_update().get(id=offer.id)
        now = _now()
        if offer.status == OfferStatus.PENDING and offer.expires_at <= now:
            _offer_close(offer, OfferStatus.EXPIRED, actor=actor)
            _cascade(offer)
            expired = True
        elif offer.status == OfferStatus.EXPIRED:
            expired = True
        elif offer.status != OfferStatus.PENDING:
            raise Conflict(
                _("This offer was already answered."),
                code=f"offer_{offer.status}",
                details={"status": offer.status},
            )
        else:
            hold = Hold.objects.get(id=offer.hold_id)
            appointments = scheduling.hold_confirm(actor=actor, hold=hold)
            offer.status = OfferStatus.ACCEPTED
            offer.responded_at = now
            offer.appointment = appointments[0]
            offer.save(update_fields=["status", "responded_at", "appointment"])
            WaitlistEntry.objects.filter(id=offer.entry_id).update(
                status=EntryStatus.BOOKED, booked_appointment=appointments[0], updated_at=now
            )
            audit_record(
                action="waitlist.offer_accepted",
                organization_id=offer.organization_id,
                actor_id=getattr(actor, "user_id", None),
                object_type="waitlist_offer",
                object_id=offer.id,
                details={"appointment": str(appointments[0].id)},
            )
            from clinic.waitlist.messages import offer_accepted_staff_notify

            offer_accepted_staff_notify(offer=offer)
            return offer
    if expired:
        raise Gone(
            _("This offer has expired."),
            code="offer_expired",
            details={"expired_at": offer.expires_at.isoformat()},
        )
    return offer


@transaction.atomic
def offer_decline(*, offer: WaitlistOffer, actor=None) -> WaitlistOffer:
    """The patient says no: the hold is released and the next entry gets the slot."""
    actor = actor or SYSTEM
    offer = WaitlistOffer.objects.select_for_update().get(id=offer.id)
    if offer.status != OfferStatus.PENDING:
        raise Conflict(
            _("This offer was already answered."),
            code=f"offer_{offer.status}",
            details={"status": offer.status},
        )
    _offer_close(offer, OfferStatus.DECLINED, actor=actor)
    _cascade(offer)
    return offer


def offers_expire_sweep(*, now: datetime | None = None) -> int:
    """Pending offers past their expiry close, and their slots cascade (the periodic job)."""
    now = now or _now()
    done = 0
    ids = list(
        WaitlistOffer.objects.filter(status=OfferStatus.PENDING, expires_at__lte=now).values_list(
            "id", flat=True
        )
    )
    for offer_id in ids:
        with transaction.atomic():
            offer = (
                WaitlistOffer.objects.select_for_update(skip_locked=True)
                .filter(id=offer_id, status=OfferStatus.PENDING)
                .first()
            )
            if offer is None:
                continue  # answered meanwhile, or being answered right now
            _offer_close(offer, OfferStatus.EXPIRED, actor=SYSTEM)
            _cascade(offer)
            done += 1
    return done


def unscoped_offer_resolve(raw: str) -> WaitlistOffer | None:
    """The offer whose link secret this is, before any tenant is known (RLS reveals the one
    row whose hash is in app.token_hash); then the tenant is set from it."""
    from clinic.core.tenancy import tenant_activate, token_hash_activate

    if not raw or len(raw) > 100:
        return None
    digest = _token_hash(raw)
    token_hash_activate(digest)
    offer = WaitlistOffer.unscoped_objects.filter(token_hash=digest).first()
    if offer is None:
        return None
    tenant_activate(offer.organization_id)
    return offer


# --- filling slots -------------------------------------------------------------------------------


def _location_zone(location_id) -> str:
    from clinic.directory.models import Location

    return Location.objects.filter(id=location_id).values_list("time_zone", flat=True).first()


def slot_fill(
    *,
    practitioner_id,
    location_id,
    start: datetime,
    end: datetime,
    modality: str = "",
    freed_at: datetime | None = None,
    source: str = OfferSource.FREED,
) -> WaitlistOffer | None:
    """Offer a freed slot to the best active entry above the threshold; None when nobody fits
    (or the lead time is reached). Entries already offered this slot are skipped."""
    from clinic.directory.models import PractitionerService

    settings = selectors.settings_get()
    now = _now()
    if start - timedelta(minutes=settings.offer_lead_minutes) - now < MIN_OFFER:
        return None
    time_zone = _location_zone(location_id) or "UTC"
    minutes = int((end - start).total_seconds() // 60)
    service_ids = PractitionerService.objects.filter(
        practitioner_id=practitioner_id,
        service__is_active=True,
        service__duration_minutes__lte=minutes,
    ).values_list("service_id", flat=True)
    entries = selectors.entries_for_slot(
        practitioner_id=practitioner_id,
        location_id=location_id,
        modality=modality,
        local_date=start.astimezone(ZoneInfo(time_zone)).date(),
        service_ids=service_ids,
        exclude_ids=selectors.offered_entry_ids(practitioner_id=practitioner_id, start=start),
    )
    ranked = matching.entries_ranked_for_slot(
        entries, practitioner_id=practitioner_id, start=start, time_zone=time_zone, now=now
    )
    threshold = float(settings.match_threshold)
    for entry, score, breakdown in ranked[:MAX_TRIES_PER_SLOT]:
        if score < threshold:
            break
        try:
            issued = offer_create(
                actor=SYSTEM,
                entry=entry,
                practitioner_id=practitioner_id,
                start=start,
                location_id=location_id,
                source=source,
                slot_freed_at=freed_at or now,
                match=(score, breakdown),
            )
        except (Conflict, ValidationFailed, NotFound) as exc:
            log.info("waitlist.offer_skipped", entry=str(entry.id), reason=str(exc))
            continue
        return issued.offer
    return None


def entries_match_run(*, limit: int = JOB_ENTRIES_PER_RUN) -> int:
    """The periodic job: each active entry (best score first) gets an offer for its best free
    slot above the threshold. Entries locked by a concurrent offer are skipped (they are being
    offered something right now). Returns the offers made."""
    settings = selectors.settings_get()
    threshold = float(settings.match_threshold)
    from clinic.accounts.models import Organization
    from clinic.core.tenancy import require_org_id

    zone = Organization.objects.filter(id=require_org_id()).values_list("time_zone", flat=True)
    default_zone = zone.first() or "UTC"
    made = 0
    # Read once, not re-read one by one: an entry offered, withdrawn or booked meanwhile is
    # refused by offer_create, which locks the entry and checks its status again.
    entries = list(
        WaitlistEntry.objects.filter(status=EntryStatus.ACTIVE).order_by("-score", "created_at")[
            :limit
        ]
    )
    zones: dict = {}  # location zones, read once per run
    for entry in entries:
        tried = 0
        for match in matching.entry_matches(entry, limit=3, default_zone=default_zone, zones=zones):
            if match.score < threshold or tried >= 3:
                break
            tried += 1
            try:
                offer_create(
                    actor=SYSTEM,
                    entry=entry,
                    practitioner_id=match.practitioner_id,
                    start=match.start,
                    location_id=match.location_id,
                    source=OfferSource.JOB,
                    match=(match.score, match.breakdown),
                )
            except Conflict as exc:
                if exc.code in ("entry_offered", "entry_closed"):
                    break
                continue
            except (ValidationFailed, NotFound):
                continue
            made += 1
            break
    return made


def offer_for_token(raw: str) -> WaitlistOffer:
    offer = unscoped_offer_resolve(raw)
    if offer is None:
        raise NotFound(_("Offer not found."))
    return offer


# --- settings ------------------------------------------------------------------------------------


# name: (lowest, highest) — the database constraints say the same; checked here so a form or
# the API gets every field's problem in words, not an IntegrityError
_SETTINGS_RANGES: dict[str, tuple[float, float]] = {
    "weight_wait": (0, 1),
    "weight_urgency": (0, 1),
    "weight_referral": (0, 1),
    "decline_penalty": (0, 1),
    "match_threshold": (0, 1),
    "wait_full_days": (1, 3650),
    "offer_hold_minutes": (5, 2880),
    "offer_lead_minutes": (0, 10080),
}


@transaction.atomic
def settings_update(*, actor: Membership, data: dict[str, Any]):
    """Change the organization's waitlist settings (only the fields given); the open entries'
    scores are recomputed at once when a weight changes, so the board's order follows."""
    from decimal import Decimal

    from clinic.waitlist.models import WaitlistSettings

    errors: dict[str, list[str]] = {}
    for name, value in data.items():
        if value is None:
            continue
        if name not in _SETTINGS_RANGES:
            errors[name] = [_("Unknown setting.")]
            continue
        low, high = _SETTINGS_RANGES[name]
        if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
            errors[name] = [_("Enter a number.")]
        elif not low <= value <= high:
            errors[name] = [
                _("Between %(low)s and %(high)s.") % {"low": f"{low:g}", "high": f"{high:g}"}
            ]
    if errors:
        raise ValidationFailed(
            _("Invalid value for %(field)s.") % {"field": next(iter(errors))}, details=errors
        )
    settings = WaitlistSettings.objects.select_for_update().first() or WaitlistSettings()
    scoring_changed = False
    for name, value in data.items():
        if value is None:
            continue
        value = Decimal(str(value)) if isinstance(value, float) else value
        if name.startswith("weight_") or name in ("decline_penalty", "wait_full_days"):
            scoring_changed |= Decimal(str(getattr(settings, name))) != Decimal(str(value))
        setattr(settings, name, value)
    settings.save()  # audited by the row trigger, like every tenant table
    if scoring_changed:
        scores_refresh_all()
    return settings
