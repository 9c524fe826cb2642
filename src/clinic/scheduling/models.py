"""Scheduling: appointments (with holds and blocks), recurring series, availability, settings
and calendar feeds.

The guarantee against double booking lives in PostgreSQL, not in Python: three exclusion
constraints (btree_gist) refuse two live rows that overlap for the same practitioner (over the
*occupied* range, i.e. including the service's buffers), the same exclusive room, or the same
patient. "Live" means not cancelled and not a no-show; a hold is an appointment row in status
`held`, so it occupies its slot through the same constraints until it is confirmed, released or
swept away once expired (an expiry cannot be part of a constraint: `now()` is not immutable).

The constraints are DEFERRABLE INITIALLY IMMEDIATE: checked at the end of each statement, so one
UPDATE that moves a whole series is judged on the final state, not row by row.
"""

from __future__ import annotations

import datetime

from django.contrib.postgres.constraints import ExclusionConstraint
from django.contrib.postgres.fields import ArrayField, DateTimeRangeField, RangeOperators
from django.db import models
from django.db.models import F, Func, Q
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from clinic.core.models import TenantModel
from clinic.core.security import CURRENT_ORG

MAX_DURATION_HOURS = 24
MAX_BUFFER_MINUTES = 240


class TsTzRange(Func):
    function = "TSTZRANGE"
    output_field = DateTimeRangeField()


def _choices_check(field: str, choices, name: str, *, allow_blank: bool = False):
    condition = Q(**{f"{field}__in": [value for value, _label in choices]})
    if allow_blank:
        condition |= Q(**{field: ""})
    return models.CheckConstraint(condition=condition, name=name)


class AppointmentKind(models.TextChoices):
    INDIVIDUAL = "individual", _("Individual")
    GROUP = "group", _("Group session")
    BLOCK = "block", _("Blocked time")


class AppointmentStatus(models.TextChoices):
    HELD = "held", _("Held")
    SCHEDULED = "scheduled", pgettext_lazy("appointment status", "Scheduled")
    CONFIRMED = "confirmed", pgettext_lazy("appointment status", "Confirmed")
    CHECKED_IN = "checked_in", _("Checked in")
    IN_PROGRESS = "in_progress", _("In progress")
    COMPLETED = "completed", pgettext_lazy("appointment status", "Completed")
    CANCELLED = "cancelled", pgettext_lazy("appointment status", "Cancelled")
    NO_SHOW = "no_show", _("No-show")


# Statuses that free the slot (everything else occupies it).
RELEASED_STATUSES = (AppointmentStatus.CANCELLED, AppointmentStatus.NO_SHOW)
LIVE = ~Q(status__in=[s.value for s in RELEASED_STATUSES])


class Modality(models.TextChoices):
    IN_PERSON = "in_person", _("In person")
    TELEHEALTH = "telehealth", _("Telehealth")
    HOME_VISIT = "home_visit", _("Home visit")


class IcsDetail(models.TextChoices):
    BUSY = "busy", _("Busy only")
    SERVICE = "service", _("Service")
    SERVICE_INITIALS = "service_initials", _("Service and patient initials")
    SERVICE_NAME = "service_name", _("Service and patient name")


class SchedulingSettings(TenantModel):
    """One row per organization; defaults apply when it is absent (see selectors)."""

    late_cancel_hours = models.PositiveSmallIntegerField(
        _("late cancellation window (hours)"), default=24
    )
    slot_granularity_minutes = models.PositiveSmallIntegerField(
        _("slot granularity (minutes)"), default=15
    )
    default_hold_seconds = models.PositiveIntegerField(_("hold duration (seconds)"), default=300)
    # Practitioners whose own appointments may overlap (some clinics want it); default strict.
    double_booking_practitioner_ids = ArrayField(models.UUIDField(), default=list, blank=True)
    ics_detail = models.CharField(
        _("calendar feed detail"),
        max_length=20,
        choices=IcsDetail.choices,
        default=IcsDetail.SERVICE_INITIALS,
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["organization"], name="scheduling_settings_one"),
            models.CheckConstraint(
                condition=Q(late_cancel_hours__lte=720),
                name="scheduling_settings_late_cancel_range",
            ),
            models.CheckConstraint(
                condition=Q(slot_granularity_minutes__gte=5, slot_granularity_minutes__lte=240),
                name="scheduling_settings_granularity_range",
            ),
            models.CheckConstraint(
                condition=Q(default_hold_seconds__gte=30, default_hold_seconds__lte=3600),
                name="scheduling_settings_hold_range",
            ),
            _choices_check("ics_detail", IcsDetail.choices, "scheduling_settings_ics_detail"),
        ]


class AppointmentSeries(TenantModel):
    """A recurrence (RFC 5545 RRULE in the location's wall time). Its occurrences are real
    appointment rows; see recurrence.py for the expansion and its DST rule."""

    practitioner = models.ForeignKey(
        "directory.Practitioner", on_delete=models.PROTECT, related_name="+"
    )
    patient = models.ForeignKey(
        "directory.Patient", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    service = models.ForeignKey("directory.Service", on_delete=models.PROTECT, related_name="+")
    location = models.ForeignKey("directory.Location", on_delete=models.PROTECT, related_name="+")
    room = models.ForeignKey(
        "directory.Room", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    rrule = models.CharField(_("recurrence rule"), max_length=500)
    time_zone = models.CharField(max_length=64)
    # The wall-clock start of the first occurrence, in `time_zone`.
    wall_date = models.DateField()
    wall_time = models.TimeField()
    duration_minutes = models.PositiveIntegerField()
    exdates = ArrayField(models.DateField(), default=list, blank=True)
    # Set when a "this and following" edit ended the series early (last wall date kept).
    ended_on = models.DateField(null=True, blank=True)
    split_from = models.ForeignKey(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    notes = models.TextField(blank=True)
    created_by = models.ForeignKey(
        "accounts.Membership", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["organization", "id"], name="series_org_id"),
            models.CheckConstraint(condition=~Q(rrule=""), name="series_rrule_present"),
            models.CheckConstraint(
                condition=Q(duration_minutes__gte=1, duration_minutes__lte=MAX_DURATION_HOURS * 60),
                name="series_duration_range",
            ),
        ]
        indexes = [models.Index(fields=["organization", "practitioner"], name="series_org_pract")]


class HoldState(models.TextChoices):
    ACTIVE = "active", pgettext_lazy("hold status", "Active")
    CONFIRMED = "confirmed", pgettext_lazy("hold status", "Confirmed")
    RELEASED = "released", pgettext_lazy("hold status", "Released")
    EXPIRED = "expired", pgettext_lazy("hold status", "Expired")


class Hold(TenantModel):
    """A temporary claim on one or more slots (its appointments are in status `held`)."""

    state = models.CharField(max_length=10, choices=HoldState.choices, default=HoldState.ACTIVE)
    expires_at = models.DateTimeField()
    created_by = models.ForeignKey(
        "accounts.Membership", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["organization", "id"], name="hold_org_id"),
            _choices_check("state", HoldState.choices, "hold_state_valid"),
            models.CheckConstraint(
                condition=Q(expires_at__gt=F("created_at")), name="hold_expires_after_creation"
            ),
        ]
        indexes = [
            models.Index(
                fields=["expires_at"], name="hold_active_expiry", condition=Q(state="active")
            ),
        ]


class Appointment(TenantModel):
    """One block of a practitioner's time over [start_at, end_at)."""

    kind = models.CharField(
        _("kind"),
        max_length=12,
        choices=AppointmentKind.choices,
        default=AppointmentKind.INDIVIDUAL,
    )
    status = models.CharField(
        _("status"),
        max_length=12,
        choices=AppointmentStatus.choices,
        default=AppointmentStatus.SCHEDULED,
    )
    practitioner = models.ForeignKey(
        "directory.Practitioner", on_delete=models.PROTECT, related_name="+"
    )
    patient = models.ForeignKey(
        "directory.Patient", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    service = models.ForeignKey(
        "directory.Service", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    location = models.ForeignKey("directory.Location", on_delete=models.PROTECT, related_name="+")
    room = models.ForeignKey(
        "directory.Room", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    modality = models.CharField(
        _("modality"), max_length=20, choices=Modality.choices, default=Modality.IN_PERSON
    )
    start_at = models.DateTimeField(_("start"))
    end_at = models.DateTimeField(_("end"))
    # The practitioner's occupied time: [start - buffer before, end + buffer after).
    buffer_before_minutes = models.PositiveSmallIntegerField(default=0)
    buffer_after_minutes = models.PositiveSmallIntegerField(default=0)
    occupied_start = models.DateTimeField()
    occupied_end = models.DateTimeField()
    # Denormalised at write time so the constraints can see them: the practitioner may be double
    # booked (organization setting), and the room admits one booking at a time (capacity 1).
    allows_overlap = models.BooleanField(default=False)
    room_exclusive = models.BooleanField(default=False)
    notes = models.TextField(_("notes"), blank=True)
    created_by = models.ForeignKey(
        "accounts.Membership", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    status_changed_at = models.DateTimeField(null=True, blank=True)
    cancelled_by = models.ForeignKey(
        "accounts.Membership", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    cancelled_at = models.DateTimeField(null=True, blank=True)
    cancel_reason = models.CharField(max_length=500, blank=True)
    late_cancel = models.BooleanField(default=False)
    series = models.ForeignKey(
        AppointmentSeries,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="occurrences",
    )
    # The occurrence's original wall-clock date in its series (RFC 5545 RECURRENCE-ID).
    recurrence_date = models.DateField(null=True, blank=True)
    # Edited on its own ("this occurrence"): later series-wide edits keep its time.
    series_exception = models.BooleanField(default=False)
    hold = models.ForeignKey(
        Hold, on_delete=models.CASCADE, null=True, blank=True, related_name="appointments"
    )
    hold_expires_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(end_at__gt=F("start_at")), name="appointment_end_after_start"
            ),
            models.CheckConstraint(
                condition=Q(
                    end_at__lte=F("start_at")
                    + models.Value(datetime.timedelta(hours=MAX_DURATION_HOURS))
                ),
                name="appointment_at_most_24h",
            ),
            models.CheckConstraint(
                condition=Q(occupied_start__lte=F("start_at"), occupied_end__gte=F("end_at")),
                name="appointment_occupied_covers",
            ),
            models.CheckConstraint(
                condition=Q(
                    buffer_before_minutes__lte=MAX_BUFFER_MINUTES,
                    buffer_after_minutes__lte=MAX_BUFFER_MINUTES,
                ),
                name="appointment_buffers_range",
            ),
            _choices_check("kind", AppointmentKind.choices, "appointment_kind_valid"),
            _choices_check("status", AppointmentStatus.choices, "appointment_status_valid"),
            _choices_check("modality", Modality.choices, "appointment_modality_valid"),
            models.CheckConstraint(
                condition=Q(patient__isnull=False) | Q(kind__in=["group", "block"]),
                name="appointment_patient_required",
            ),
            models.CheckConstraint(
                condition=Q(service__isnull=False) | Q(kind="block"),
                name="appointment_service_required",
            ),
            models.CheckConstraint(
                condition=(
                    Q(status="held") & Q(hold_expires_at__isnull=False) & Q(hold__isnull=False)
                )
                | (~Q(status="held") & Q(hold_expires_at__isnull=True)),
                name="appointment_hold_expiry",
            ),
            models.CheckConstraint(
                condition=Q(status="cancelled")
                | (Q(cancelled_at__isnull=True) & Q(late_cancel=False)),
                name="appointment_cancel_fields",
            ),
            models.CheckConstraint(
                condition=Q(room__isnull=False) | Q(room_exclusive=False),
                name="appointment_room_exclusive_needs_room",
            ),
            ExclusionConstraint(
                name="appointment_no_practitioner_overlap",
                expressions=[
                    (F("organization"), RangeOperators.EQUAL),
                    (F("practitioner"), RangeOperators.EQUAL),
                    (TsTzRange("occupied_start", "occupied_end"), RangeOperators.OVERLAPS),
                ],
                condition=LIVE & Q(allows_overlap=False),
                deferrable=models.Deferrable.IMMEDIATE,
            ),
            ExclusionConstraint(
                name="appointment_no_room_overlap",
                expressions=[
                    (F("organization"), RangeOperators.EQUAL),
                    (F("room"), RangeOperators.EQUAL),
                    (TsTzRange("start_at", "end_at"), RangeOperators.OVERLAPS),
                ],
                condition=LIVE & Q(room_exclusive=True),
                deferrable=models.Deferrable.IMMEDIATE,
            ),
            ExclusionConstraint(
                name="appointment_no_patient_overlap",
                expressions=[
                    (F("organization"), RangeOperators.EQUAL),
                    (F("patient"), RangeOperators.EQUAL),
                    (TsTzRange("start_at", "end_at"), RangeOperators.OVERLAPS),
                ],
                condition=LIVE & Q(patient__isnull=False) & ~Q(kind="group"),
                deferrable=models.Deferrable.IMMEDIATE,
            ),
        ]
        indexes = [
            # Range reads use btree: an appointment lasts at most 24 h, so
            # `start_at > range_start - 24h AND start_at < range_end` bounds the scan.
            models.Index(
                fields=["organization", "practitioner", "start_at"], name="appt_org_pract_start"
            ),
            # Covering: the slot search's busy-time read is an index-only scan.
            models.Index(
                fields=["organization", "practitioner", "occupied_start"],
                name="appt_org_pract_occupied",
                condition=LIVE,
                include=["occupied_end", "status", "hold_expires_at", "id"],
            ),
            models.Index(fields=["organization", "start_at"], name="appt_org_start"),
            models.Index(
                fields=["organization", "room", "start_at"],
                name="appt_org_room_start",
                condition=Q(room__isnull=False),
            ),
            models.Index(
                fields=["organization", "patient", "start_at"],
                name="appt_org_patient_start",
                condition=Q(patient__isnull=False),
            ),
            models.Index(
                fields=["organization", "series", "recurrence_date"],
                name="appt_org_series",
                condition=Q(series__isnull=False),
            ),
            models.Index(
                fields=["organization", "hold"],
                name="appt_org_hold",
                condition=Q(hold__isnull=False),
            ),
            models.Index(
                fields=["hold_expires_at"], name="appt_held_expiry", condition=Q(status="held")
            ),
        ]

    def __str__(self) -> str:
        return f"{self.start_at:%Y-%m-%d %H:%M} {self.get_kind_display()}"

    @property
    def is_live(self) -> bool:
        return self.status not in RELEASED_STATUSES


class AvailabilityRule(TenantModel):
    """A practitioner's weekly working window, in the location's wall time."""

    practitioner = models.ForeignKey(
        "directory.Practitioner", on_delete=models.CASCADE, related_name="+"
    )
    location = models.ForeignKey("directory.Location", on_delete=models.PROTECT, related_name="+")
    weekday = models.PositiveSmallIntegerField(_("weekday"))  # 0 = Monday ... 6 = Sunday
    start_time = models.TimeField(_("from"))
    end_time = models.TimeField(_("to"))
    modality = models.CharField(
        _("modality"),
        max_length=20,
        choices=Modality.choices,
        blank=True,
        help_text=_("Empty: any modality"),
    )
    effective_from = models.DateField(_("effective from"), null=True, blank=True)
    effective_to = models.DateField(_("effective to"), null=True, blank=True)
    max_appointments = models.PositiveSmallIntegerField(
        _("max appointments per day"), null=True, blank=True
    )
    # Rotations: the rule applies every `interval_weeks` weeks, counted from the week of
    # `anchor_date` (1 = every week; the anchor is then irrelevant).
    interval_weeks = models.PositiveSmallIntegerField(_("every N weeks"), default=1)
    anchor_date = models.DateField(_("rotation starts on"), null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(weekday__gte=0, weekday__lte=6), name="availability_rule_weekday"
            ),
            models.CheckConstraint(
                condition=Q(interval_weeks__gte=1, interval_weeks__lte=52),
                name="availability_rule_interval_range",
            ),
            models.CheckConstraint(
                condition=Q(interval_weeks=1) | Q(anchor_date__isnull=False),
                name="availability_rule_rotation_anchor",
            ),
            models.CheckConstraint(
                condition=Q(end_time__gt=F("start_time")), name="availability_rule_end_after_start"
            ),
            models.CheckConstraint(
                condition=Q(effective_from__isnull=True)
                | Q(effective_to__isnull=True)
                | Q(effective_to__gte=F("effective_from")),
                name="availability_rule_effective_order",
            ),
            models.CheckConstraint(
                condition=Q(max_appointments__isnull=True) | Q(max_appointments__gte=1),
                name="availability_rule_max_positive",
            ),
            _choices_check(
                "modality", Modality.choices, "availability_rule_modality", allow_blank=True
            ),
        ]
        indexes = [
            models.Index(
                fields=["organization", "practitioner", "weekday"], name="avail_rule_org_pract"
            )
        ]


class ExceptionKind(models.TextChoices):
    EXTRA = "extra", _("Extra hours")
    BLOCKED = "blocked", _("Blocked")


class AvailabilityException(TenantModel):
    """One-off change: extra hours, or blocked hours (holiday, training...)."""

    practitioner = models.ForeignKey(
        "directory.Practitioner", on_delete=models.CASCADE, related_name="+"
    )
    kind = models.CharField(_("kind"), max_length=10, choices=ExceptionKind.choices)
    location = models.ForeignKey(
        "directory.Location", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    start_at = models.DateTimeField(_("start"))
    end_at = models.DateTimeField(_("end"))
    reason = models.CharField(_("reason"), max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(end_at__gt=F("start_at")), name="availability_exception_end_after_start"
            ),
            models.CheckConstraint(
                condition=Q(kind="blocked") | Q(location__isnull=False),
                name="availability_exception_extra_location",
            ),
            _choices_check("kind", ExceptionKind.choices, "availability_exception_kind"),
        ]
        indexes = [
            models.Index(
                fields=["organization", "practitioner", "start_at"],
                name="avail_exc_org_pract_start",
            )
        ]


class TimeOffType(models.TextChoices):
    VACATION = "vacation", _("Vacation")
    SICK = "sick", _("Sick leave")
    TRAINING = "training", _("Training")
    PERSONAL = "personal", _("Personal")
    OTHER = "other", _("Other")


class TimeOffStatus(models.TextChoices):
    PENDING = "pending", pgettext_lazy("time off status", "Pending")
    APPROVED = "approved", pgettext_lazy("time off status", "Approved")
    DENIED = "denied", pgettext_lazy("time off status", "Denied")
    CANCELLED = "cancelled", pgettext_lazy("time off status", "Cancelled")


# Requests that still claim their time (a denied or cancelled one frees it for another request).
TIME_OFF_ACTIVE = (TimeOffStatus.PENDING, TimeOffStatus.APPROVED)


class TimeOff(TenantModel):
    """A practitioner's request to be away over [start_at, end_at). Whole days are stored as the
    instants of local midnights in the location's zone (so a request across a DST change keeps
    its wall-clock bounds). Only approved time off removes availability; pending time off is
    shown on the calendar."""

    practitioner = models.ForeignKey(
        "directory.Practitioner", on_delete=models.PROTECT, related_name="+"
    )
    location = models.ForeignKey(
        "directory.Location", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    start_at = models.DateTimeField(_("start"))
    end_at = models.DateTimeField(_("end"))
    all_day = models.BooleanField(_("whole days"), default=False)
    type = models.CharField(
        _("type"), max_length=12, choices=TimeOffType.choices, default=TimeOffType.VACATION
    )
    reason = models.CharField(_("reason"), max_length=500, blank=True)
    status = models.CharField(
        _("status"), max_length=10, choices=TimeOffStatus.choices, default=TimeOffStatus.PENDING
    )
    requested_by = models.ForeignKey(
        "accounts.Membership", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    decided_by = models.ForeignKey(
        "accounts.Membership", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_note = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["organization", "id"], name="time_off_org_id"),
            models.CheckConstraint(
                condition=Q(end_at__gt=F("start_at")), name="time_off_end_after_start"
            ),
            _choices_check("type", TimeOffType.choices, "time_off_type_valid"),
            _choices_check("status", TimeOffStatus.choices, "time_off_status_valid"),
            models.CheckConstraint(
                condition=Q(status="pending") | Q(decided_at__isnull=False),
                name="time_off_decided_at",
            ),
            # Two live requests of one practitioner never overlap (the service names the other
            # request; this is the guarantee under concurrency).
            ExclusionConstraint(
                name="time_off_no_overlap",
                expressions=[
                    (F("organization"), RangeOperators.EQUAL),
                    (F("practitioner"), RangeOperators.EQUAL),
                    (TsTzRange("start_at", "end_at"), RangeOperators.OVERLAPS),
                ],
                condition=Q(status__in=["pending", "approved"]),
            ),
        ]
        indexes = [
            models.Index(
                fields=["organization", "practitioner", "start_at"],
                name="time_off_org_pract_start",
            ),
            models.Index(fields=["organization", "status", "start_at"], name="time_off_org_status"),
        ]

    def __str__(self) -> str:
        return f"{self.get_type_display()} {self.start_at:%Y-%m-%d}"

    @property
    def place(self):
        """Where its times are read: its location, else the practitioner's default one."""
        return self.location or self.practitioner.default_location

    @property
    def last_instant(self) -> datetime.datetime:
        """Just before the end: the last day of whole-day time off, shown inclusively."""
        return self.end_at - datetime.timedelta(microseconds=1)


class Closure(TenantModel):
    """The clinic (or one location) closed over [start_at, end_at): public holidays, training
    days. It removes every slot there, like approved time off of every practitioner."""

    location = models.ForeignKey(
        "directory.Location",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text=_("Empty: every location"),
    )
    name = models.CharField(_("name"), max_length=200)
    start_at = models.DateTimeField(_("start"))
    end_at = models.DateTimeField(_("end"))
    all_day = models.BooleanField(_("whole days"), default=True)
    created_by = models.ForeignKey(
        "accounts.Membership", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(end_at__gt=F("start_at")), name="closure_end_after_start"
            ),
            models.CheckConstraint(condition=~Q(name=""), name="closure_name_present"),
        ]
        indexes = [models.Index(fields=["organization", "start_at"], name="closure_org_start")]

    def __str__(self) -> str:
        return self.name

    @property
    def last_instant(self) -> datetime.datetime:
        return self.end_at - datetime.timedelta(microseconds=1)


class IcsFeed(TenantModel):
    """A practitioner's private calendar feed; only the SHA-256 of its secret is stored."""

    practitioner = models.ForeignKey(
        "directory.Practitioner", on_delete=models.CASCADE, related_name="+"
    )
    name = models.CharField(max_length=100, blank=True)
    token_hash = models.CharField(max_length=64, unique=True)
    prefix = models.CharField(max_length=12)
    created_by = models.ForeignKey(
        "accounts.Membership", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    # Knowing the secret (its hash in app.token_hash) reveals that one feed before the tenant is
    # known, as for API tokens.
    rls_using = (
        f"organization_id = {CURRENT_ORG} "
        "OR token_hash = NULLIF(current_setting('app.token_hash', true), '')"
    )
    audit_redact = ("token_hash",)

    class Meta:
        indexes = [models.Index(fields=["organization", "practitioner"], name="icsfeed_org_pract")]
