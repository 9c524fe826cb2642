"""Notifications: in-app notifications, email/SMS deliveries, recipients' preferences, and the
bookkeeping of the background worker.

A `Delivery` is one message to one address on one channel. Its status machine:

    queued ──claim──▶ (leased) ──hand-off──▶ sending ──accepted──▶ sent
      │  ▲                 │                              └──refused──▶ bounced / failed
      │  └── temporary ────┘ (error before the hand-off: retried with backoff)
      └──▶ cancelled (appointment moved or cancelled) / skipped (preferences, no address)

`sending` is written and committed at the hand-off point (for SMTP: the whole message has been
transmitted, only the final "." is left), so a retry after a crash knows whether the provider may
already have the message and never sends it twice. The idempotency key is unique per
organization: planning the same message twice creates one row.
"""

from __future__ import annotations

import datetime

from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models import Q
from django.db.models.functions import Now
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from clinic.core.models import TenantModel


def _choices_check(field: str, choices, name: str):
    return models.CheckConstraint(
        condition=Q(**{f"{field}__in": [value for value, _label in choices]}), name=name
    )


class Channel(models.TextChoices):
    EMAIL = "email", _("Email")
    SMS = "sms", _("SMS")


class DeliveryStatus(models.TextChoices):
    QUEUED = "queued", pgettext_lazy("message status", "Queued")
    SENDING = "sending", pgettext_lazy("message status", "Sending")
    SENT = "sent", pgettext_lazy("message status", "Sent")
    FAILED = "failed", pgettext_lazy("message status", "Failed")
    BOUNCED = "bounced", pgettext_lazy("message status", "Bounced")
    CANCELLED = "cancelled", pgettext_lazy("message status", "Cancelled")
    SKIPPED = "skipped", pgettext_lazy("message status", "Skipped")


FINAL_STATUSES = (
    DeliveryStatus.SENT,
    DeliveryStatus.FAILED,
    DeliveryStatus.BOUNCED,
    DeliveryStatus.CANCELLED,
    DeliveryStatus.SKIPPED,
)


class RecipientKind(models.TextChoices):
    PATIENT = "patient", _("Patient")
    CONTACT = "contact", _("Contact")
    USER = "user", _("Staff member")


class Category(models.TextChoices):
    """What an in-app notification is about; users mute categories in their settings."""

    APPOINTMENTS = "appointments", _("My appointments")
    PATIENT_BOOKINGS = "patient_bookings", _("Bookings made by patients")
    CANCELLATIONS = "cancellations", _("Cancellations")
    DELIVERY_FAILURES = "delivery_failures", _("Messages that could not be delivered")
    INVOICES = "invoices", _("Invoices")
    SYSTEM = "system", _("System")


DEFAULT_REMINDER_OFFSETS = [24 * 60, 2 * 60]
DEFAULT_OVERDUE_DAYS = [7, 30]


def _default_reminder_offsets():
    return list(DEFAULT_REMINDER_OFFSETS)


def _default_overdue_days():
    return list(DEFAULT_OVERDUE_DAYS)


class NotificationSettings(TenantModel):
    """One row per organization; defaults apply while it is absent (see selectors)."""

    reminder_offsets_minutes = ArrayField(
        models.PositiveIntegerField(),
        default=_default_reminder_offsets,
        blank=True,
        verbose_name=_("reminders (minutes before the appointment)"),
    )
    overdue_reminder_days = ArrayField(
        models.PositiveIntegerField(),
        default=_default_overdue_days,
        blank=True,
        verbose_name=_("overdue reminders (days after the due date)"),
    )
    email_enabled = models.BooleanField(_("send emails"), default=True)
    sms_enabled = models.BooleanField(_("send text messages"), default=True)
    quiet_hours_start = models.TimeField(
        _("quiet hours from"), null=True, blank=True, default=datetime.time(21, 0)
    )
    quiet_hours_end = models.TimeField(
        _("quiet hours until"), null=True, blank=True, default=datetime.time(8, 0)
    )
    reply_to = models.EmailField(_("reply-to address"), blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["organization"], name="notification_settings_one"),
            models.CheckConstraint(
                condition=Q(reminder_offsets_minutes__len__lte=5),
                name="notification_settings_offsets_count",
            ),
            models.CheckConstraint(
                condition=Q(overdue_reminder_days__len__lte=5),
                name="notification_settings_overdue_count",
            ),
            models.CheckConstraint(
                condition=Q(quiet_hours_start__isnull=True, quiet_hours_end__isnull=True)
                | Q(quiet_hours_start__isnull=False, quiet_hours_end__isnull=False),
                name="notification_settings_quiet_pair",
            ),
        ]


class ContactPreference(TenantModel):
    """How a patient (or a contact: guardian, owner) wants to be reached."""

    patient = models.ForeignKey(
        "directory.Patient", on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    contact = models.ForeignKey(
        "directory.Contact", on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    email_enabled = models.BooleanField(_("email"), default=True)
    sms_enabled = models.BooleanField(_("text messages"), default=True)
    reminders_enabled = models.BooleanField(_("appointment reminders"), default=True)
    # Empty: the record's preferred language, then the organization's.
    language = models.CharField(
        _("language"),
        max_length=5,
        blank=True,
        choices=[("en", "English"), ("fr", "Français"), ("ar", "العربية")],
    )
    # Both empty: the organization's quiet hours. Local times in the location's zone.
    quiet_hours_start = models.TimeField(_("quiet hours from"), null=True, blank=True)
    quiet_hours_end = models.TimeField(_("quiet hours until"), null=True, blank=True)
    unsubscribed_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(patient__isnull=False, contact__isnull=True)
                | Q(patient__isnull=True, contact__isnull=False),
                name="contact_preference_one_subject",
            ),
            models.UniqueConstraint(
                fields=["organization", "patient"],
                condition=Q(patient__isnull=False),
                name="contact_preference_patient_unique",
            ),
            models.UniqueConstraint(
                fields=["organization", "contact"],
                condition=Q(contact__isnull=False),
                name="contact_preference_contact_unique",
            ),
            models.CheckConstraint(
                condition=Q(language__in=["", "en", "fr", "ar"]), name="contact_preference_lang"
            ),
            models.CheckConstraint(
                condition=Q(quiet_hours_start__isnull=True, quiet_hours_end__isnull=True)
                | Q(quiet_hours_start__isnull=False, quiet_hours_end__isnull=False),
                name="contact_preference_quiet_pair",
            ),
        ]


class Delivery(TenantModel):
    """One message to one address on one channel (see the module docstring)."""

    event = models.CharField(max_length=64)
    template = models.CharField(max_length=64)
    channel = models.CharField(max_length=10, choices=Channel.choices)
    status = models.CharField(
        max_length=10, choices=DeliveryStatus.choices, default=DeliveryStatus.QUEUED
    )
    recipient_kind = models.CharField(max_length=10, choices=RecipientKind.choices)
    patient = models.ForeignKey(
        "directory.Patient", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    contact = models.ForeignKey(
        "directory.Contact", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    user = models.ForeignKey(
        "accounts.User", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    recipient_name = models.CharField(max_length=200, blank=True)
    to_address = models.CharField(max_length=254)
    language = models.CharField(max_length=5)
    # What the message is about, to find it again when that changes ("appointment", id).
    subject_type = models.CharField(max_length=40, blank=True)
    subject_id = models.UUIDField(null=True, blank=True)
    context = models.JSONField(default=dict, blank=True)
    scheduled_for = models.DateTimeField()
    idempotency_key = models.CharField(max_length=200)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.TextField(blank=True)
    provider_message_id = models.CharField(max_length=255, blank=True)
    rendered_subject = models.CharField(max_length=300, blank=True)
    rendered_body = models.TextField(blank=True)
    task_id = models.CharField(max_length=64, blank=True)
    lease_token = models.UUIDField(null=True, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_default=Now())
    updated_at = models.DateTimeField(auto_now=True)

    # The message text is kept on the row (what was sent); audit images keep the rest.
    audit_redact = ("rendered_body", "lease_token", "lease_expires_at", "context")

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "idempotency_key"], name="delivery_idempotency_key"
            ),
            _choices_check("channel", Channel.choices, "delivery_channel_valid"),
            _choices_check("status", DeliveryStatus.choices, "delivery_status_valid"),
            _choices_check("recipient_kind", RecipientKind.choices, "delivery_recipient_kind"),
            models.CheckConstraint(
                condition=Q(language__in=["en", "fr", "ar"]), name="delivery_language_valid"
            ),
            models.CheckConstraint(
                condition=~Q(status="sent") | Q(sent_at__isnull=False),
                name="delivery_sent_has_time",
            ),
            models.CheckConstraint(
                condition=Q(recipient_kind="patient", patient__isnull=False)
                | Q(recipient_kind="contact", contact__isnull=False)
                | Q(recipient_kind="user", user__isnull=False),
                name="delivery_recipient_present",
            ),
            models.CheckConstraint(condition=~Q(to_address=""), name="delivery_address_present"),
        ]
        indexes = [
            models.Index(fields=["organization", "-created_at"], name="delivery_org_created"),
            models.Index(
                fields=["organization", "subject_type", "subject_id"], name="delivery_subject"
            ),
            models.Index(
                fields=["organization", "scheduled_for"],
                name="delivery_queued_due",
                condition=Q(status__in=["queued", "sending"]),
            ),
            models.Index(
                fields=["organization", "patient", "-created_at"],
                name="delivery_patient",
                condition=Q(patient__isnull=False),
            ),
            models.Index(
                fields=["organization", "status", "-created_at"], name="delivery_org_status"
            ),
        ]


class Notification(TenantModel):
    """An in-app message for one user in one organization."""

    user = models.ForeignKey("accounts.User", on_delete=models.CASCADE, related_name="+")
    category = models.CharField(max_length=24, choices=Category.choices)
    event = models.CharField(max_length=64)
    title = models.CharField(max_length=200)
    body = models.TextField(blank=True)
    link = models.CharField(max_length=500, blank=True)
    subject_type = models.CharField(max_length=40, blank=True)
    subject_id = models.UUIDField(null=True, blank=True)
    # Makes creation idempotent (a retried task does not notify twice).
    dedupe_key = models.CharField(max_length=200, blank=True)
    read_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_default=Now())

    class Meta:
        constraints = [
            _choices_check("category", Category.choices, "notification_category_valid"),
            models.CheckConstraint(condition=~Q(title=""), name="notification_title_present"),
            models.UniqueConstraint(
                fields=["organization", "user", "dedupe_key"],
                condition=~Q(dedupe_key=""),
                name="notification_dedupe",
            ),
            models.CheckConstraint(
                condition=Q(link="") | Q(link__startswith="/"), name="notification_link_local"
            ),
        ]
        indexes = [
            models.Index(
                fields=["organization", "user", "-created_at"], name="notification_user_recent"
            ),
            models.Index(
                fields=["organization", "user"],
                name="notification_user_unread",
                condition=Q(read_at__isnull=True),
            ),
        ]


class UserNotificationSettings(TenantModel):
    """A staff member's (or patient's) choices for their in-app notifications."""

    membership = models.OneToOneField(
        "accounts.Membership", on_delete=models.CASCADE, related_name="+"
    )
    muted_categories = ArrayField(
        models.CharField(max_length=24, choices=Category.choices), default=list, blank=True
    )
    email_copies = models.BooleanField(
        _("also send me an email for each notification"), default=False
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(muted_categories__contained_by=Category.values),
                name="user_notification_settings_categories",
            ),
        ]
