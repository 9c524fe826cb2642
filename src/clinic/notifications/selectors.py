"""Reads for notifications: settings with their defaults, who receives a patient's messages,
notification and delivery lists (tenant-scoped, constant query count)."""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db.models import Q, QuerySet
from django.db.models.functions import Coalesce
from django.urls import reverse

from clinic.accounts.models import Membership
from clinic.accounts.roles import role_has
from clinic.core.timeline import Cursor, TimelineItem, before_q
from clinic.core.timeline import order_by as timeline_order
from clinic.notifications.messages import event_title
from clinic.notifications.models import (
    Category,
    Channel,
    ContactPreference,
    Delivery,
    DeliveryStatus,
    Notification,
    NotificationSettings,
    UserNotificationSettings,
)


def notification_settings_get() -> NotificationSettings:
    """The organization's settings, or an unsaved row holding the defaults."""
    return NotificationSettings.objects.first() or NotificationSettings()


def user_notification_settings_get(membership: Membership) -> UserNotificationSettings:
    return UserNotificationSettings.objects.filter(
        membership=membership
    ).first() or UserNotificationSettings(membership=membership)


def contact_preference_get(*, patient=None, contact=None) -> ContactPreference:
    if patient is not None:
        found = ContactPreference.objects.filter(patient=patient).first()
        return found or ContactPreference(patient=patient)
    found = ContactPreference.objects.filter(contact=contact).first()
    return found or ContactPreference(contact=contact)


# --- who receives a patient's messages ----------------------------------------------------------


@dataclass
class Recipient:
    """Someone who receives a patient's messages: the patient, or a flagged guardian/owner."""

    kind: str  # "patient" | "contact"
    record: object  # Patient or Contact
    name: str
    email: str
    phone: str
    language: str
    preference: ContactPreference
    for_self: bool
    user_id: object | None = None  # their login, for in-app copies
    relationship: str = ""
    extra: dict = field(default_factory=dict)

    @property
    def key(self) -> str:
        return f"{self.kind}:{self.record.pk}"


def _contact_receives(link) -> bool:
    """A contact receives a patient's messages when the clinic flagged them as allowed to receive
    clinical information, or when they are the primary responsible party (parent, guardian,
    owner). Emergency contacts and payers alone do not."""
    from clinic.directory.models import RESPONSIBLE_RELATIONSHIPS

    if link.may_receive_clinical_info:
        return True
    return link.is_primary and link.relationship in RESPONSIBLE_RELATIONSHIPS


def patient_recipients(patient, *, default_language: str) -> list[Recipient]:
    """The patient (a person with an address) and the contacts who receive their messages, with
    their preferences; two queries whatever the number of contacts."""
    from clinic.directory.models import PatientContact

    links = [
        link
        for link in PatientContact.objects.filter(
            patient=patient, contact__archived_at__isnull=True
        )
        .select_related("contact", "contact__membership")
        .order_by("-is_primary", "created_at")
        if _contact_receives(link)
    ]
    contact_ids = [link.contact_id for link in links]
    prefs = {
        (p.patient_id or p.contact_id): p
        for p in ContactPreference.objects.filter(
            Q(patient=patient) | Q(contact_id__in=contact_ids)
        )
    }
    recipients: list[Recipient] = []
    if not patient.species:  # animals do not read their messages; their owners do
        pref = prefs.get(patient.pk) or ContactPreference(patient=patient)
        recipients.append(
            Recipient(
                kind="patient",
                record=patient,
                name=patient.display_name,
                email=patient.email,
                phone=patient.phone,
                language=pref.language or patient.preferred_language or default_language,
                preference=pref,
                for_self=True,
                user_id=patient.membership.user_id if patient.membership_id else None,
            )
        )
    for link in links:
        contact = link.contact
        pref = prefs.get(contact.pk) or ContactPreference(contact=contact)
        recipients.append(
            Recipient(
                kind="contact",
                record=contact,
                name=contact.display_name,
                email=contact.email,
                phone=contact.phone,
                language=pref.language or contact.preferred_language or default_language,
                preference=pref,
                for_self=False,
                user_id=contact.membership.user_id if contact.membership_id else None,
                relationship=link.relationship,
            )
        )
    return recipients


# --- in-app notifications -----------------------------------------------------------------------


def notifications_of_user(
    user, *, unread: bool | None = None, category: str | None = None
) -> QuerySet[Notification]:
    qs = Notification.objects.filter(user=user)
    if unread is True:
        qs = qs.filter(read_at__isnull=True)
    elif unread is False:
        qs = qs.filter(read_at__isnull=False)
    if category:
        qs = qs.filter(category=category)
    return qs.order_by("-created_at", "-id")


def unread_count(user) -> int:
    return Notification.objects.filter(user=user, read_at__isnull=True).count()


def staff_to_notify(*, category: str, permission: str | None = None, user_ids=None):
    """Active members who should get a staff notification of `category`: those holding
    `permission` (or the given users), minus those who muted the category. One query."""
    qs = Membership.objects.filter(is_active=True, user__is_active=True).select_related("user")
    if user_ids is not None:
        qs = qs.filter(user_id__in=list(user_ids))
    muted = {s.membership_id: s for s in UserNotificationSettings.objects.filter(membership__in=qs)}
    result = []
    for membership in qs:
        if permission and not role_has(membership.role, permission):
            continue
        settings_row = muted.get(membership.pk)
        if settings_row and category in settings_row.muted_categories:
            continue
        result.append((membership, settings_row))
    return result


CATEGORY_LABELS = dict(Category.choices)


# --- deliveries ----------------------------------------------------------------------------------


def deliveries_list(
    *,
    status: str | None = None,
    channel: str | None = None,
    event: str | None = None,
    patient_id=None,
    subject_id=None,
) -> QuerySet[Delivery]:
    qs = Delivery.objects.all()
    if status:
        qs = qs.filter(status=status)
    if channel:
        qs = qs.filter(channel=channel)
    if event:
        qs = qs.filter(event=event)
    if patient_id:
        qs = qs.filter(patient_id=patient_id)
    if subject_id:
        qs = qs.filter(subject_id=subject_id)
    return qs.order_by("-created_at", "-id")


def delivery_status_counts() -> dict[str, int]:
    from django.db.models import Count

    return dict(Delivery.objects.values_list("status").annotate(n=Count("id")).order_by())


# --- a patient's chart ----------------------------------------------------------------------------


def _patient_deliveries(actor: Membership, patient_id) -> QuerySet[Delivery]:
    """Email and SMS sent to the patient or their contacts about them: front desk and managers
    follow them (delivery.view); other roles see none."""
    if not actor.has("delivery.view"):
        return Delivery.objects.none()
    return Delivery.objects.filter(patient_id=patient_id)


def delivery_title(delivery: Delivery) -> str:
    channel = dict(Channel.choices).get(delivery.channel, delivery.channel)
    return f"{channel} · {delivery.rendered_subject or event_title(delivery.event)}"


def patient_deliveries(actor: Membership, *, patient_id, limit: int = 10) -> list[Delivery]:
    """The latest messages of the patient's chart (one query)."""
    return list(_patient_deliveries(actor, patient_id).order_by("-created_at", "-id")[:limit])


def patient_messages_timeline(
    actor: Membership, *, patient_id, before: Cursor | None = None, limit: int = 20
) -> list[TimelineItem]:
    """The patient's messages as timeline items (at: sent, else planned for), newest first,
    after `before`, at most `limit + 1` (one query)."""
    rows = (
        _patient_deliveries(actor, patient_id)
        .annotate(at=Coalesce("sent_at", "scheduled_for"))
        .filter(before_q(before, kind="message", at_field="at"))
        .order_by(*timeline_order("at"))[: limit + 1]
    )
    statuses = dict(DeliveryStatus.choices)
    return [
        TimelineItem(
            kind="message",
            at=d.at,
            title=delivery_title(d),
            status=d.status,
            status_label=str(statuses.get(d.status, d.status)),
            object_id=d.id,
            url=reverse("notifications:delivery_detail", args=[d.id]),
        )
        for d in rows
    ]


def deliveries_failed_since(since, *, limit: int = 20) -> list[Delivery]:
    """Messages that could not be delivered (failed or bounced) whose last attempt was at or
    after `since`, latest first: for the front desk to call or write to the patient."""
    return list(
        Delivery.objects.filter(
            status__in=[DeliveryStatus.FAILED, DeliveryStatus.BOUNCED], updated_at__gte=since
        ).order_by("-updated_at", "-id")[:limit]
    )
