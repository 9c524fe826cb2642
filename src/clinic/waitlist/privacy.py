"""The waitlist's personal data (core/privacy.py): a patient's entries with their clinical note.
Erasure withdraws open entries and empties the note; an erasure waits while an offer is live."""

from __future__ import annotations

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from clinic.core.privacy import Erased, Outcome, personal_data
from clinic.waitlist.models import EntryStatus, OfferStatus, WaitlistEntry, WaitlistOffer


def _entries(patient):
    return WaitlistEntry.objects.filter(patient=patient)


def entries_export(patient) -> list[dict]:
    return [
        {
            "service": e.service.name,
            "earliest_date": e.earliest_date,
            "latest_date": e.latest_date,
            "urgency": e.urgency,
            "status": e.status,
            "referral_source": e.referral_source,
            "notes": e.notes,
            "created_at": e.created_at,
        }
        for e in _entries(patient).select_related("service").order_by("created_at")
    ]


def entries_erase(patient) -> Erased:
    entries = _entries(patient)
    entries.filter(status=EntryStatus.ACTIVE).update(status=EntryStatus.WITHDRAWN)
    ids = list(entries.values_list("id", flat=True))
    WaitlistEntry.objects.filter(id__in=ids).update(notes="")
    return Erased(len(ids), {"waitlist_waitlistentry": ids})


def entries_blocking(patient) -> str:
    live = WaitlistOffer.objects.filter(entry__patient=patient, status=OfferStatus.PENDING).count()
    if live:
        return _("A waitlist offer is waiting for the patient's answer: withdraw it first.")
    return ""


def register() -> None:
    personal_data(
        "waitlist.entries",
        holds=gettext_lazy("Waitlist entries and their notes"),
        outcome=Outcome.ANONYMISED,
        count=lambda patient: _entries(patient).count(),
        export=entries_export,
        erase=entries_erase,
        blocking=entries_blocking,
        audit={"waitlist_waitlistentry": ("notes",)},
        order=50,
    )
