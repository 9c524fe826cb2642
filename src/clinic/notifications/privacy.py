"""Notifications' personal data (core/privacy.py) and retention: the messages sent to a patient
(addresses and rendered text), their in-app notices and contact preferences. Erasure empties
the messages (that a message was sent, when and how, stays), cancels those still queued, and
deletes notices and preferences. Retention empties the text of messages once they are old."""

from __future__ import annotations

from datetime import timedelta

from django.utils.translation import gettext_lazy as _

from clinic.core.privacy import Erased, Outcome, personal_data, retention_rule
from clinic.notifications.models import (
    FINAL_STATUSES,
    ContactPreference,
    Delivery,
    DeliveryStatus,
    Notification,
)

_CONTENT = ("recipient_name", "to_address", "rendered_subject", "rendered_body", "context")
DELIVERED_KEEP = timedelta(days=180)
NOTICE_KEEP = timedelta(days=365)


def _deliveries(patient):
    return Delivery.objects.filter(patient=patient)


def messages_export(patient) -> list[dict]:
    return [
        {
            "event": d.event,
            "channel": d.channel,
            "to": d.to_address,
            "status": d.status,
            "scheduled_for": d.scheduled_for,
            "subject": d.rendered_subject,
            "body": d.rendered_body,
        }
        for d in _deliveries(patient).order_by("scheduled_for")
    ]


def messages_erase(patient) -> Erased:
    deliveries = _deliveries(patient)
    deliveries.filter(status=DeliveryStatus.QUEUED).update(status=DeliveryStatus.CANCELLED)
    ids = list(deliveries.values_list("id", flat=True))
    Delivery.objects.filter(id__in=ids).update(
        # the address column may not be empty (a database rule): a dash says it was erased
        recipient_name="",
        to_address="—",
        rendered_subject="",
        rendered_body="",
        context={},
    )
    notices = 0
    if patient.membership_id:
        notices = Notification.objects.filter(user__memberships__id=patient.membership_id).delete()[
            0
        ]
    preferences = ContactPreference.objects.filter(patient=patient).delete()[0]
    return Erased(len(ids) + notices + preferences, {"notifications_delivery": ids})


def delivered_purge(cutoff) -> int:
    """Messages sent, failed or cancelled before `cutoff`: their text and context emptied (the
    record that a message went out, to whom by kind and when, stays for support questions)."""
    return (
        Delivery.objects.filter(scheduled_for__lt=cutoff, status__in=FINAL_STATUSES)
        .exclude(rendered_subject="", rendered_body="", context={})
        .update(rendered_subject="", rendered_body="", context={}, last_error="")
    )


def notices_purge(cutoff) -> int:
    return Notification.objects.filter(read_at__lt=cutoff).delete()[0]


def register() -> None:
    personal_data(
        "notifications.messages",
        holds=_("Messages sent to the patient: addresses and text; in-app notices; preferences"),
        outcome=Outcome.ANONYMISED,
        count=lambda patient: _deliveries(patient).count(),
        export=messages_export,
        erase=messages_erase,
        audit={"notifications_delivery": _CONTENT},
        order=60,
    )
    retention_rule(
        "notifications.delivered",
        holds=_("Text of messages sent, failed or cancelled"),
        keep=DELIVERED_KEEP,
        purge=delivered_purge,
    )
    retention_rule(
        "notifications.notices_read",
        holds=_("In-app notices already read"),
        keep=NOTICE_KEEP,
        purge=notices_purge,
    )
