"""Waitlist: patients waiting for a service, and the offers that hold a freed slot for them.

An offer holds its slot through scheduling's hold mechanism (a `held` appointment row under the
same exclusion constraints as bookings), so nobody else can book it while the patient decides.
Two partial unique indexes keep the cascade honest when a cancellation and the periodic job
race: one live (pending) offer per entry, and one live offer per practitioner and start.
"""

from __future__ import annotations

from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from clinic.core.models import TenantModel
from clinic.core.security import CURRENT_ORG


def _choices_check(field: str, choices, name: str, *, allow_blank: bool = False):
    condition = Q(**{f"{field}__in": [value for value, _label in choices]})
    if allow_blank:
        condition |= Q(**{field: ""})
    return models.CheckConstraint(condition=condition, name=name)


class Urgency(models.TextChoices):
    LOW = "low", pgettext_lazy("urgency", "Low")
    MEDIUM = "medium", pgettext_lazy("urgency", "Medium")
    HIGH = "high", pgettext_lazy("urgency", "High")
    URGENT = "urgent", pgettext_lazy("urgency", "Urgent")


class ReferralSource(models.TextChoices):
    SELF = "self", _("Self-referred")
    PHYSICIAN = "physician", _("Physician")
    SPECIALIST = "specialist", _("Specialist")
    HOSPITAL = "hospital", _("Hospital")
    OTHER = "other", _("Other")


class TimeOfDay(models.TextChoices):
    MORNING = "morning", _("Morning")
    AFTERNOON = "afternoon", _("Afternoon")
    EVENING = "evening", _("Evening")


class EntryStatus(models.TextChoices):
    ACTIVE = "active", pgettext_lazy("waitlist entry status", "Active")
    OFFERED = "offered", pgettext_lazy("waitlist entry status", "Offered")
    BOOKED = "booked", pgettext_lazy("waitlist entry status", "Booked")
    WITHDRAWN = "withdrawn", pgettext_lazy("waitlist entry status", "Withdrawn")
    EXPIRED = "expired", pgettext_lazy("waitlist entry status", "Expired")


class OfferStatus(models.TextChoices):
    PENDING = "pending", pgettext_lazy("offer status", "Pending")
    ACCEPTED = "accepted", pgettext_lazy("offer status", "Accepted")
    DECLINED = "declined", pgettext_lazy("offer status", "Declined")
    EXPIRED = "expired", pgettext_lazy("offer status", "Expired")
    WITHDRAWN = "withdrawn", pgettext_lazy("offer status", "Withdrawn")


class OfferSource(models.TextChoices):
    MANUAL = "manual", _("Manual")
    FREED = "freed", _("Freed slot")
    JOB = "job", _("Periodic matching")
    CASCADE = "cascade", _("Cascade")


class WaitlistSettings(TenantModel):
    """One row per organization; defaults apply when it is absent (the seed's weights)."""

    weight_wait = models.DecimalField(max_digits=4, decimal_places=3, default="0.400")
    weight_urgency = models.DecimalField(max_digits=4, decimal_places=3, default="0.300")
    weight_referral = models.DecimalField(max_digits=4, decimal_places=3, default="0.200")
    decline_penalty = models.DecimalField(max_digits=4, decimal_places=3, default="0.100")
    # waiting this many days earns the full waiting-time part of the score
    wait_full_days = models.PositiveSmallIntegerField(default=60)
    offer_hold_minutes = models.PositiveIntegerField(default=120)
    # an offer ends at the latest this long before its slot (and none is made closer than that)
    offer_lead_minutes = models.PositiveIntegerField(default=120)
    match_threshold = models.DecimalField(max_digits=4, decimal_places=3, default="0.500")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["organization"], name="waitlist_settings_one"),
            models.CheckConstraint(
                condition=Q(
                    weight_wait__gte=0,
                    weight_wait__lte=1,
                    weight_urgency__gte=0,
                    weight_urgency__lte=1,
                    weight_referral__gte=0,
                    weight_referral__lte=1,
                    decline_penalty__gte=0,
                    decline_penalty__lte=1,
                    match_threshold__gte=0,
                    match_threshold__lte=1,
                ),
                name="waitlist_settings_fractions",
            ),
            models.CheckConstraint(
                condition=Q(offer_hold_minutes__gte=5, offer_hold_minutes__lte=2880),
                name="waitlist_settings_hold_range",
            ),
            models.CheckConstraint(
                condition=Q(wait_full_days__gte=1), name="waitlist_settings_wait_days"
            ),
        ]


class WaitlistEntry(TenantModel):
    patient = models.ForeignKey("directory.Patient", on_delete=models.PROTECT, related_name="+")
    # who is contacted for a dependant or an animal (empty: the patient's usual recipients)
    contact = models.ForeignKey(
        "directory.Contact", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    service = models.ForeignKey("directory.Service", on_delete=models.PROTECT, related_name="+")
    # empty: any practitioner / any location
    practitioner_ids = ArrayField(models.UUIDField(), default=list, blank=True)
    location_ids = ArrayField(models.UUIDField(), default=list, blank=True)
    modality = models.CharField(_("modality"), max_length=20, blank=True)
    earliest_date = models.DateField(_("earliest date"))
    latest_date = models.DateField(_("latest date"))
    preferred_days = ArrayField(models.PositiveSmallIntegerField(), default=list, blank=True)
    preferred_times = ArrayField(models.CharField(max_length=10), default=list, blank=True)
    urgency = models.CharField(
        _("urgency"), max_length=10, choices=Urgency.choices, default=Urgency.MEDIUM
    )
    referral_source = models.CharField(
        _("referral source"), max_length=20, choices=ReferralSource.choices, blank=True
    )
    notes = models.TextField(_("clinical note"), blank=True)
    status = models.CharField(
        _("status"), max_length=10, choices=EntryStatus.choices, default=EntryStatus.ACTIVE
    )
    score = models.DecimalField(max_digits=5, decimal_places=4, default=0)
    score_breakdown = models.JSONField(default=dict, blank=True)
    score_computed_at = models.DateTimeField(null=True, blank=True)
    declined_count = models.PositiveSmallIntegerField(default=0)
    booked_appointment = models.ForeignKey(
        "scheduling.Appointment", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_by = models.ForeignKey(
        "accounts.Membership", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    audit_hash = ("notes",)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["organization", "id"], name="waitlist_entry_org_id"),
            _choices_check("urgency", Urgency.choices, "waitlist_entry_urgency"),
            _choices_check(
                "referral_source",
                ReferralSource.choices,
                "waitlist_entry_referral",
                allow_blank=True,
            ),
            _choices_check("status", EntryStatus.choices, "waitlist_entry_status"),
            models.CheckConstraint(
                condition=Q(latest_date__gte=F("earliest_date")),
                name="waitlist_entry_dates_order",
            ),
            models.CheckConstraint(
                condition=Q(score__gte=0, score__lte=1), name="waitlist_entry_score_range"
            ),
        ]
        indexes = [
            models.Index(
                fields=["organization", "status", "-score"], name="waitlist_entry_org_status"
            ),
            models.Index(fields=["organization", "patient"], name="waitlist_entry_org_patient"),
        ]


class WaitlistOffer(TenantModel):
    entry = models.ForeignKey(WaitlistEntry, on_delete=models.CASCADE, related_name="offers")
    hold = models.ForeignKey(
        "scheduling.Hold", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    appointment = models.ForeignKey(
        "scheduling.Appointment", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    practitioner = models.ForeignKey(
        "directory.Practitioner", on_delete=models.PROTECT, related_name="+"
    )
    location = models.ForeignKey("directory.Location", on_delete=models.PROTECT, related_name="+")
    service = models.ForeignKey("directory.Service", on_delete=models.PROTECT, related_name="+")
    start_at = models.DateTimeField()
    end_at = models.DateTimeField()
    status = models.CharField(
        max_length=10, choices=OfferStatus.choices, default=OfferStatus.PENDING
    )
    source = models.CharField(max_length=10, choices=OfferSource.choices)
    match_score = models.DecimalField(max_digits=5, decimal_places=4, default=0)
    match_breakdown = models.JSONField(default=dict, blank=True)
    expires_at = models.DateTimeField()
    # when the slot came free (the cancellation), for the time-to-fill figure
    slot_freed_at = models.DateTimeField()
    token_hash = models.CharField(max_length=64, unique=True)
    created_by = models.ForeignKey(
        "accounts.Membership", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    responded_at = models.DateTimeField(null=True, blank=True)

    # The public accept/decline link knows its secret before the tenant is known (as calendar
    # feeds do): RLS reveals the one offer whose hash is in app.token_hash.
    rls_using = (
        f"organization_id = {CURRENT_ORG} "
        "OR token_hash = NULLIF(current_setting('app.token_hash', true), '')"
    )
    audit_redact = ("token_hash",)

    class Meta:
        constraints = [
            _choices_check("status", OfferStatus.choices, "waitlist_offer_status"),
            _choices_check("source", OfferSource.choices, "waitlist_offer_source"),
            models.CheckConstraint(
                condition=Q(end_at__gt=F("start_at")), name="waitlist_offer_end_after_start"
            ),
            models.CheckConstraint(
                condition=Q(match_score__gte=0, match_score__lte=1),
                name="waitlist_offer_score_range",
            ),
            models.UniqueConstraint(
                fields=["organization", "entry"],
                condition=Q(status="pending"),
                name="waitlist_offer_one_live_per_entry",
            ),
            models.UniqueConstraint(
                fields=["organization", "practitioner", "start_at"],
                condition=Q(status="pending"),
                name="waitlist_offer_one_live_per_slot",
            ),
        ]
        indexes = [
            models.Index(
                fields=["organization", "entry", "-created_at"], name="wl_offer_org_entry"
            ),
            models.Index(
                fields=["organization", "practitioner", "start_at"], name="wl_offer_org_slot"
            ),
            models.Index(
                fields=["expires_at"], name="wl_offer_pending_exp", condition=Q(status="pending")
            ),
        ]
