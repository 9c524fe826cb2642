"""Writes for notifications: planning messages, sending deliveries (the state machine),
in-app notifications, preferences and settings, unsubscribe.

The general interface is `message_plan(event=..., recipients=..., context=..., subject=...)`:
an event name plus a context becomes one delivery per recipient and allowed channel, each sent by
a task enqueued in the caller's transaction. Appointments use it through
`appointment_notifications_plan`, called by the scheduling services inside their transactions.
"""

from __future__ import annotations

import datetime
import hashlib
import smtplib
import threading
import uuid
import zoneinfo
from dataclasses import dataclass
from email.utils import formataddr, parseaddr

from django.conf import settings
from django.core import signing
from django.core.exceptions import ValidationError
from django.core.mail import EmailMultiAlternatives, get_connection
from django.db import IntegrityError, connection, transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from clinic.accounts.models import Organization
from clinic.core.errors import NotFound, ValidationFailed
from clinic.core.logs import logger
from clinic.core.tasks import RetryLater, task_attempt, task_tenant_context, tenant_task
from clinic.core.tenancy import require_org_id
from clinic.notifications import messages, selectors
from clinic.notifications.mail import HandoffAborted
from clinic.notifications.messages import event_get, language_pick, message_render, when_format
from clinic.notifications.models import (
    FINAL_STATUSES,
    Category,
    Channel,
    ContactPreference,
    Delivery,
    DeliveryStatus,
    Notification,
    NotificationSettings,
    RecipientKind,
    UserNotificationSettings,
)
from clinic.notifications.selectors import Recipient
from clinic.notifications.sms import SmsPermanentError, sms_provider

log = logger("clinic.notifications")

UNSUBSCRIBE_SALT = "clinic.notifications.unsubscribe"
# A reminder later than this before the start is not worth sending.
REMINDER_MIN_LEAD = datetime.timedelta(minutes=15)


# --- quiet hours ---------------------------------------------------------------------------------


def _in_quiet(local: datetime.datetime, start: datetime.time, end: datetime.time) -> bool:
    t = local.time()
    if start == end:
        return False
    if start < end:
        return start <= t < end
    return t >= start or t < end  # over midnight (21:00 → 08:00)


def quiet_hours_adjust(
    when: datetime.datetime,
    *,
    quiet: tuple[datetime.time, datetime.time] | None,
    time_zone: str,
    earlier: bool,
) -> datetime.datetime:
    """Move `when` out of the quiet hours: to their start (the evening before) when `earlier`,
    else to their end. Wall-clock arithmetic in `time_zone` (DST-safe)."""
    if not quiet:
        return when
    start, end = quiet
    tz = zoneinfo.ZoneInfo(time_zone or "UTC")
    local = when.astimezone(tz)
    if not _in_quiet(local, start, end):
        return when
    if earlier:
        day = local.date()
        if start > end and local.time() < end:  # after midnight: the window began yesterday
            day -= datetime.timedelta(days=1)
        moved = datetime.datetime.combine(day, start, tzinfo=tz) - datetime.timedelta(minutes=1)
    else:
        day = local.date()
        if start > end and local.time() >= start:  # before midnight: it ends tomorrow
            day += datetime.timedelta(days=1)
        moved = datetime.datetime.combine(day, end, tzinfo=tz)
    return moved.astimezone(datetime.UTC)


def _quiet_of(pref: ContactPreference, org_settings: NotificationSettings):
    if pref.quiet_hours_start is not None and pref.quiet_hours_end is not None:
        return (pref.quiet_hours_start, pref.quiet_hours_end)
    if org_settings.quiet_hours_start is not None and org_settings.quiet_hours_end is not None:
        return (org_settings.quiet_hours_start, org_settings.quiet_hours_end)
    return None


# --- planning ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PlannedSubject:
    type: str
    id: uuid.UUID | str


def _channels_for(
    recipient: Recipient, event, org_settings: NotificationSettings
) -> list[tuple[str, str, str]]:
    """(channel, address, why-not) per channel of the event for this recipient."""
    pref = recipient.preference
    out = []
    for channel in event.channels:
        if channel == Channel.EMAIL:
            address = recipient.email
            allowed = org_settings.email_enabled and pref.email_enabled
        else:
            address = recipient.phone
            allowed = org_settings.sms_enabled and pref.sms_enabled
        if not address:
            continue  # nothing to send to: no row (the patient page shows missing details)
        reason = ""
        if not allowed:
            reason = _("The recipient does not accept this channel.")
        elif event.reminder and (not pref.reminders_enabled or pref.unsubscribed_at):
            reason = _("The recipient unsubscribed from reminders.")
        out.append((channel, address, reason))
    return out


def _key(*parts) -> str:
    raw = ":".join(str(p) for p in parts)
    if len(raw) <= 200:
        return raw
    return raw[:150] + ":" + hashlib.sha256(raw.encode()).hexdigest()[:40]


def message_plan(
    *,
    event: str,
    recipients: list[Recipient],
    context: dict,
    subject: PlannedSubject | None = None,
    send_at: datetime.datetime | None = None,
    key: str,
    time_zone: str,
    latest: datetime.datetime | None = None,
    org_settings: NotificationSettings | None = None,
) -> list[Delivery]:
    """Plan `event` for each recipient on each channel they accept: one `Delivery` each, sent by
    a task enqueued in the current transaction (rolled back with it).

    `send_at` (default now) is moved out of the recipient's quiet hours: earlier for reminders,
    later for other messages. A reminder whose time has passed, or a message that quiet hours
    would push past `latest`, is handled as documented in `_send_time`. `key` identifies the
    message; together with the channel and the recipient it is the delivery's idempotency key,
    so planning twice creates nothing new.
    """
    spec = event_get(event)
    org_settings = org_settings or selectors.notification_settings_get()
    now = timezone.now()
    planned: list[Delivery] = []
    rows: list[Delivery] = []
    seen_addresses: set[tuple[str, str]] = set()
    for recipient in recipients:
        for channel, address, reason in _channels_for(recipient, spec, org_settings):
            if (channel, address.lower()) in seen_addresses:
                continue  # a guardian who is also the patient's address: one message
            seen_addresses.add((channel, address.lower()))
            when = _send_time(
                send_at or now,
                now=now,
                reminder=spec.reminder,
                latest=latest,
                quiet=_quiet_of(recipient.preference, org_settings),
                time_zone=time_zone,
            )
            delivery = Delivery(
                id=uuid.uuid4(),
                organization_id=require_org_id(),
                event=event,
                template=spec.template,
                channel=channel,
                recipient_kind=recipient.kind,
                patient=recipient.record if recipient.kind == RecipientKind.PATIENT else None,
                contact=recipient.record if recipient.kind == RecipientKind.CONTACT else None,
                user_id=recipient.record.pk if recipient.kind == RecipientKind.USER else None,
                recipient_name=recipient.name[:200],
                to_address=address,
                language=language_pick(recipient.language),
                subject_type=subject.type if subject else "",
                subject_id=subject.id if subject else None,
                context={**context, "for_self": recipient.for_self},
                scheduled_for=when or now,
                idempotency_key=_key(key, channel, recipient.key),
            )
            if reason or when is None:
                delivery.status = DeliveryStatus.SKIPPED
                delivery.last_error = reason or _("Too late to send before the appointment.")
                delivery.finished_at = now
            rows.append(delivery)
    if not rows:
        return planned
    existing = {
        d.idempotency_key: d
        for d in Delivery.objects.filter(idempotency_key__in=[r.idempotency_key for r in rows])
    }
    for row in rows:
        found = existing.get(row.idempotency_key)
        if found is not None:
            if found.status == DeliveryStatus.CANCELLED and row.status == DeliveryStatus.QUEUED:
                # planned, cancelled (moved away), and now wanted again (moved back)
                found.status = DeliveryStatus.QUEUED
                found.scheduled_for = row.scheduled_for
                found.context = row.context
                found.last_error = ""
                found.finished_at = None
                found.attempts = 0
                found.task_id = _enqueue(found)
                found.save()
                planned.append(found)
            continue
        if row.status == DeliveryStatus.QUEUED:
            row.task_id = _enqueue(row)
        new_rows = [row]
        try:
            with transaction.atomic():
                Delivery.objects.bulk_create(new_rows)
        except IntegrityError:
            continue  # planned concurrently by someone else: theirs stands
        planned.append(row)
    return planned


def _send_time(
    when: datetime.datetime,
    *,
    now: datetime.datetime,
    reminder: bool,
    latest: datetime.datetime | None,
    quiet,
    time_zone: str,
) -> datetime.datetime | None:
    """When to send, or None when not worth sending.

    A reminder moves *earlier* out of quiet hours (the evening before, not at 6 a.m.); if that
    is already past, it goes now unless now is quiet, then at the end of the quiet hours — and
    is dropped if that leaves less than 15 minutes before the appointment (`latest`). Other
    messages move *later* (to the end of the quiet hours) unless that would be after `latest`
    (news about an appointment that starts before morning goes now)."""
    if reminder:
        if when < now:
            return None
        moved = quiet_hours_adjust(when, quiet=quiet, time_zone=time_zone, earlier=True)
        if moved < now:
            moved = quiet_hours_adjust(now, quiet=quiet, time_zone=time_zone, earlier=False)
        if latest is not None and moved > latest - REMINDER_MIN_LEAD:
            return None
        return max(moved, now)
    moved = quiet_hours_adjust(max(when, now), quiet=quiet, time_zone=time_zone, earlier=False)
    if latest is not None and moved > latest:
        return max(when, now)
    return moved


def _enqueue(delivery: Delivery) -> str:
    """The delivery's task, in the current transaction with the database backend (it exists
    if and only if the transaction commits); with a queue outside the database (Redis), once the
    transaction has committed."""
    from django_tasks import task_backends
    from django_tasks_db.backend import DatabaseBackend

    task = delivery_send_task
    if delivery.scheduled_for > timezone.now():
        task = task.using(run_after=delivery.scheduled_for)
    args = (str(delivery.organization_id), str(delivery.id))
    if not isinstance(task_backends[task.backend], DatabaseBackend):
        transaction.on_commit(lambda: task.enqueue(*args))
        return ""
    return str(task.enqueue(*args).id)


def deliveries_cancel(
    *, subject: PlannedSubject, events: tuple[str, ...] | None = None, reason: str = ""
) -> int:
    """Cancel the queued deliveries about `subject` (all, or of `events`). Their tasks find them
    cancelled and do nothing; waiting task rows of the database backend are removed."""
    qs = Delivery.objects.filter(
        subject_type=subject.type, subject_id=subject.id, status=DeliveryStatus.QUEUED
    )
    if events:
        qs = qs.filter(event__in=events)
    rows = list(qs.select_for_update().only("id", "task_id"))
    if not rows:
        return 0
    now = timezone.now()
    Delivery.objects.filter(id__in=[r.id for r in rows]).update(
        status=DeliveryStatus.CANCELLED,
        last_error=reason[:500],
        finished_at=now,
        updated_at=now,
    )
    _task_rows_discard([r.task_id for r in rows if r.task_id])
    return len(rows)


def _task_rows_discard(task_ids: list[str]) -> None:
    from django_tasks import task_backends
    from django_tasks_db.backend import DatabaseBackend

    if not task_ids or not isinstance(task_backends["default"], DatabaseBackend):
        return
    from django_tasks_db.models import DBTaskResult

    DBTaskResult.objects.filter(id__in=task_ids, status="READY").delete()


# --- appointments --------------------------------------------------------------------------------

APPOINTMENT_EVENTS = ("booked", "rescheduled", "cancelled", "status")
_NOTIFIED_STATUSES = ("scheduled", "confirmed")
_PAST_STATUSES = ("checked_in", "in_progress", "completed", "no_show", "cancelled")


def appointment_notifications_plan(
    *,
    appointment,
    event: str,
    previous_start: datetime.datetime | None = None,
    actor=None,
    announce: bool = True,
) -> list[Delivery]:
    """What an appointment change means for messages. Call it inside the transaction of the
    change, after saving the appointment:

    - "booked": confirmation now, reminders at the organization's offsets before the start;
      staff are told in-app when a patient booked it themselves (`actor` is a Membership);
    - "rescheduled": pending reminders cancelled, a "moved" message, reminders at the new time
      (`previous_start` is shown in the message; with `announce=False`, no "moved" message:
      the clinic agreed the new time with the patient — the reminders still follow it);
    - "cancelled": pending reminders cancelled, a cancellation message (not with
      `announce=False`), staff told in-app;
    - "status": any other status change (checked in, completed, no-show...): pending reminders
      of an appointment that is no longer upcoming are cancelled.

    Holds, blocks and group sessions get no patient messages."""
    if event not in APPOINTMENT_EVENTS:
        raise ValueError(f"unknown appointment event {event!r}")
    subject = PlannedSubject("appointment", appointment.pk)
    status = appointment.status
    if event in ("rescheduled", "cancelled") or status in _PAST_STATUSES:
        deliveries_cancel(
            subject=subject,
            events=("appointment.reminder",)
            if event != "cancelled"
            else ("appointment.reminder", "appointment.booked", "appointment.rescheduled"),
            reason=_("The appointment changed."),
        )
    if appointment.patient_id is None or appointment.kind != "individual":
        return []
    if event == "status" or (event != "cancelled" and status not in _NOTIFIED_STATUSES):
        return []
    org = (
        actor.organization  # already loaded with the request's membership
        if getattr(actor, "organization_id", None) == appointment.organization_id
        else Organization.objects.get(pk=appointment.organization_id)
    )
    org_settings = selectors.notification_settings_get()
    time_zone = _appointment_zone(appointment, org)
    recipients = selectors.patient_recipients(
        appointment.patient, default_language=org.default_locale
    )
    start_key = int(appointment.start_at.timestamp())
    base = {"appointment_id": str(appointment.pk), "start_at": appointment.start_at.isoformat()}
    planned: list[Delivery] = []
    if event == "cancelled" and not announce:
        _staff_appointment_notify(appointment, "staff.cancellation", actor, org, time_zone)
        return planned
    if event == "cancelled":
        planned += message_plan(
            event="appointment.cancelled",
            recipients=recipients,
            context={**base, "cancel_reason": getattr(appointment, "cancel_reason", "")},
            subject=subject,
            key=_key("appt", appointment.pk, "cancelled"),
            time_zone=time_zone,
            latest=appointment.start_at,
            org_settings=org_settings,
        )
        _appointment_in_app(appointment, recipients, "appointment.cancelled", org, time_zone)
        _staff_appointment_notify(appointment, "staff.cancellation", actor, org, time_zone)
        return planned
    if appointment.start_at <= timezone.now():
        return planned  # recorded after the fact: nothing to announce
    if event == "booked":
        planned += message_plan(
            event="appointment.booked",
            recipients=recipients,
            context=base,
            subject=subject,
            key=_key("appt", appointment.pk, "booked"),
            time_zone=time_zone,
            latest=appointment.start_at,
            org_settings=org_settings,
        )
        _appointment_in_app(appointment, recipients, "appointment.booked", org, time_zone)
        if actor is not None and getattr(actor, "role", None) == "patient":
            _staff_appointment_notify(appointment, "staff.patient_booking", actor, org, time_zone)
    elif announce:
        planned += message_plan(
            event="appointment.rescheduled",
            recipients=recipients,
            context={**base, "old_start_at": previous_start.isoformat() if previous_start else ""},
            subject=subject,
            key=_key("appt", appointment.pk, "moved", start_key),
            time_zone=time_zone,
            latest=appointment.start_at,
            org_settings=org_settings,
        )
        _appointment_in_app(appointment, recipients, "appointment.rescheduled", org, time_zone)
    planned += reminders_plan(
        appointment=appointment,
        recipients=recipients,
        org_settings=org_settings,
        time_zone=time_zone,
    )
    return planned


def reminders_plan(*, appointment, recipients, org_settings, time_zone) -> list[Delivery]:
    """Reminders at each configured offset before the start (idempotent)."""
    planned: list[Delivery] = []
    start_key = int(appointment.start_at.timestamp())
    for offset in sorted(set(org_settings.reminder_offsets_minutes), reverse=True):
        send_at = appointment.start_at - datetime.timedelta(minutes=offset)
        if send_at <= timezone.now():
            continue
        planned += message_plan(
            event="appointment.reminder",
            recipients=recipients,
            context={
                "appointment_id": str(appointment.pk),
                "start_at": appointment.start_at.isoformat(),
                "offset_minutes": offset,
            },
            subject=PlannedSubject("appointment", appointment.pk),
            send_at=send_at,
            key=_key("appt", appointment.pk, "reminder", offset, start_key),
            time_zone=time_zone,
            latest=appointment.start_at,
            org_settings=org_settings,
        )
    return planned


def _appointment_zone(appointment, org) -> str:
    location = getattr(appointment, "location", None)
    return getattr(location, "time_zone", "") or org.time_zone or "UTC"


def _appointment_context(appointment, org, language: str, time_zone: str) -> dict:
    practitioner = appointment.practitioner
    service = appointment.service
    location = appointment.location
    address = ", ".join(
        p for p in (location.address_line1, location.postal_code, location.city) if p
    )
    return {
        "org_name": org.name,
        "patient_name": appointment.patient.display_name if appointment.patient_id else "",
        "practitioner_name": practitioner.display_name,
        "service_name": service.name if service else "",
        "location_name": location.name,
        "location_address": address,
        "location_phone": location.phone,
        **when_format(appointment.start_at, time_zone, language, organization=org),
    }


def _appointment_in_app(appointment, recipients, event_name, org, time_zone) -> None:
    """Copies for recipients who have a login (patients, guardians): their notification centre."""
    for recipient in recipients:
        if recipient.user_id is None:
            continue
        context = {
            **_appointment_context(appointment, org, recipient.language, time_zone),
            "for_self": recipient.for_self,
        }
        notification_create(
            user_id=recipient.user_id,
            event=event_name,
            context=context,
            language=recipient.language,
            category=Category.APPOINTMENTS,
            link="",
            subject=PlannedSubject("appointment", appointment.pk),
            dedupe_key=_key(event_name, appointment.pk, int(appointment.start_at.timestamp())),
        )


def _staff_appointment_notify(appointment, event_name, actor, org, time_zone) -> None:
    spec = event_get(event_name)
    practitioner_user = None
    membership_id = getattr(appointment.practitioner, "membership_id", None)
    if membership_id:
        from clinic.accounts.models import Membership

        practitioner_user = (
            Membership.objects.filter(pk=membership_id).values_list("user_id", flat=True).first()
        )
    targets = selectors.staff_to_notify(
        category=spec.category,
        user_ids=[practitioner_user] if practitioner_user else None,
        permission=None if practitioner_user else "delivery.view",
    )
    actor_user_id = getattr(actor, "user_id", None)
    for membership, user_settings in targets:
        if membership.user_id == actor_user_id:
            continue  # nobody needs to be told what they just did
        language = language_pick(membership.user.preferred_locale, org.default_locale)
        context = {
            **_appointment_context(appointment, org, language, time_zone),
            "cancel_reason": getattr(appointment, "cancel_reason", ""),
            "cancelled_by": str(actor.user) if actor is not None and hasattr(actor, "user") else "",
        }
        notification_create(
            user_id=membership.user_id,
            event=event_name,
            context=context,
            language=language,
            category=spec.category,
            link=_appointment_link(appointment),
            subject=PlannedSubject("appointment", appointment.pk),
            dedupe_key=_key(event_name, appointment.pk, int(appointment.start_at.timestamp())),
            user_settings=user_settings,
            email=membership.user.email,
        )


def _appointment_link(appointment) -> str:
    try:
        return reverse("scheduling:appointment_detail", args=[appointment.pk])
    except Exception:
        return ""


# --- rendering at send time ----------------------------------------------------------------------

# subject type -> function(delivery, org, time_zone_hint) -> (context, still_relevant_reason)
CONTEXT_BUILDERS: dict = {}


def context_builder(subject_type: str):
    def register(func):
        CONTEXT_BUILDERS[subject_type] = func
        return func

    return register


@context_builder("appointment")
def _appointment_delivery_context(delivery: Delivery, org) -> tuple[dict, str]:
    from clinic.scheduling.models import Appointment

    appointment = (
        Appointment.objects.select_related("practitioner", "service", "location", "patient")
        .filter(pk=delivery.subject_id)
        .first()
    )
    if appointment is None:
        return {}, _("The appointment no longer exists.")
    if delivery.event != "appointment.cancelled":
        if appointment.status not in _NOTIFIED_STATUSES:
            return {}, _("The appointment is no longer upcoming.")
        planned_start = delivery.context.get("start_at")
        if planned_start and datetime.datetime.fromisoformat(planned_start) != appointment.start_at:
            return {}, _("The appointment has moved.")
    time_zone = _appointment_zone(appointment, org)
    context = _appointment_context(appointment, org, delivery.language, time_zone)
    old = delivery.context.get("old_start_at")
    if old:
        context["old_when"] = when_format(
            datetime.datetime.fromisoformat(old), time_zone, delivery.language, organization=org
        )["when"]
    context["cancel_reason"] = delivery.context.get("cancel_reason", "")
    return context, ""


def _delivery_context(delivery: Delivery, org) -> tuple[dict, str]:
    builder = CONTEXT_BUILDERS.get(delivery.subject_type)
    context, stale = ({}, "") if builder is None else builder(delivery, org)
    merged = {"org_name": org.name, **delivery.context, **context}
    merged["recipient_name"] = delivery.recipient_name
    merged["for_self"] = delivery.context.get("for_self", True)
    if event_get(delivery.event).reminder and delivery.recipient_kind in ("patient", "contact"):
        merged["unsubscribe_url"] = unsubscribe_url(delivery)
    return merged, stale


# --- sending: the delivery state machine ---------------------------------------------------------


class DeliveryTemporaryError(Exception):
    """Sending failed before the hand-off; the task retries with backoff."""


def delivery_send(*, organization_id: str, delivery_id: str) -> str:
    """Send one delivery at most once. Runs in a task with `atomic=False`: each step commits on
    its own (claim → hand-off → result). Returns the outcome (for logs and tests)."""
    lease = uuid.uuid4()
    now = timezone.now()
    with task_tenant_context(organization_id):
        delivery = (
            Delivery.objects.select_for_update(of=("self",))
            .select_related("organization")
            .filter(pk=delivery_id)
            .first()
        )
        if delivery is None:
            return "missing"
        if delivery.status in FINAL_STATUSES:
            return f"already {delivery.status}"
        if delivery.status == DeliveryStatus.SENDING:
            # A previous attempt handed the message to the provider and stopped before it
            # recorded the answer: the provider may have it, so it is not sent again.
            delivery.status = DeliveryStatus.SENT
            delivery.sent_at = delivery.sent_at or delivery.updated_at or now
            delivery.finished_at = now
            delivery.last_error = _(
                "The previous attempt stopped after handing the message over; it was not sent "
                "again (delivery not confirmed)."
            )
            delivery.lease_token = None
            delivery.lease_expires_at = None
            delivery.save()
            return "sent (unconfirmed)"
        if delivery.lease_token and delivery.lease_expires_at and delivery.lease_expires_at > now:
            wait = (delivery.lease_expires_at - now).total_seconds()
            raise RetryLater("another attempt owns this delivery", delay_seconds=wait + 1)
        if delivery.scheduled_for > now + datetime.timedelta(seconds=5):
            # Woken early (a catch-up or a retry): come back on time.
            raise RetryLater(
                "not due yet", delay_seconds=(delivery.scheduled_for - now).total_seconds()
            )
        org = delivery.organization
        org_settings = selectors.notification_settings_get()
        context, stale = _delivery_context(delivery, org)
        blocked = stale or _recipient_blocks(delivery, org_settings)
        if blocked:
            delivery.status = DeliveryStatus.CANCELLED if stale else DeliveryStatus.SKIPPED
            delivery.last_error = blocked
            delivery.finished_at = now
            delivery.save()
            return delivery.status
        rendered = message_render(
            template=delivery.template,
            channel=delivery.channel,
            language=delivery.language,
            context=context,
        )
        delivery.rendered_subject = rendered.subject
        delivery.rendered_body = rendered.text
        delivery.attempts += 1  # the row is locked
        delivery.lease_token = lease
        delivery.lease_expires_at = now + datetime.timedelta(
            seconds=settings.DELIVERY_LEASE_SECONDS
        )
        delivery.save()

    def handoff() -> None:
        with task_tenant_context(organization_id):
            # The one commit that must be durable before the provider accepts the message
            # (the worker relaxes synchronous_commit for its own bookkeeping).
            with connection.cursor() as cur:
                cur.execute("SET LOCAL synchronous_commit TO on")
            moved = Delivery.objects.filter(
                pk=delivery_id, lease_token=lease, status=DeliveryStatus.QUEUED
            ).update(status=DeliveryStatus.SENDING, updated_at=timezone.now())
        if moved != 1:
            raise HandoffAborted("the delivery is no longer ours to send")

    try:
        if delivery.channel == Channel.EMAIL:
            provider_id = _email_send(delivery, rendered, org, org_settings, handoff)
        else:
            handoff()
            provider_id = (
                sms_provider()
                .send(delivery.to_address, rendered.text, idempotency_key=delivery.idempotency_key)
                .provider_message_id
            )
    except HandoffAborted:
        return "aborted"
    except (smtplib.SMTPRecipientsRefused, SmsPermanentError) as exc:
        return _delivery_finish_failed(
            organization_id, delivery_id, lease, DeliveryStatus.BOUNCED, _error_text(exc)
        )
    except smtplib.SMTPResponseException as exc:
        # The server answered with an error (also to the final "."): nothing was accepted.
        if 500 <= exc.smtp_code < 600:
            return _delivery_finish_failed(
                organization_id, delivery_id, lease, DeliveryStatus.BOUNCED, _error_text(exc)
            )
        return _delivery_retry_or_fail(organization_id, delivery_id, lease, exc, refused=True)
    except Exception as exc:
        return _delivery_retry_or_fail(organization_id, delivery_id, lease, exc)
    with task_tenant_context(organization_id):
        done = timezone.now()
        Delivery.objects.filter(pk=delivery_id, lease_token=lease).update(
            status=DeliveryStatus.SENT,
            sent_at=done,
            finished_at=done,
            provider_message_id=(provider_id or "")[:255],
            last_error="",
            lease_token=None,
            lease_expires_at=None,
            updated_at=done,
        )
    return "sent"


# Declared beside its body (not in tasks.py) so that enqueueing it, above, imports nothing
# that imports this module back.
@tenant_task(max_attempts=6, backoff_seconds=60, atomic=False, queue_name="deliveries")
def delivery_send_task(organization_id: str, delivery_id: str) -> str:
    """Send one delivery (email or SMS) at most once; retried with backoff on temporary
    failures (1, 2, 4, 8, 16 minutes), then marked failed and reported to staff."""
    return delivery_send(organization_id=organization_id, delivery_id=delivery_id)


def _error_text(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:1000]


def _recipient_blocks(delivery: Delivery, org_settings: NotificationSettings) -> str:
    """Re-checked at send time: the recipient may have unsubscribed since it was planned."""
    if delivery.recipient_kind == RecipientKind.USER:
        return ""
    if delivery.patient_id:
        pref = ContactPreference.objects.filter(patient_id=delivery.patient_id).first()
    else:
        pref = ContactPreference.objects.filter(contact_id=delivery.contact_id).first()
    pref = pref or ContactPreference()
    if delivery.channel == Channel.EMAIL and not (
        pref.email_enabled and org_settings.email_enabled
    ):
        return _("The recipient does not accept this channel.")
    if delivery.channel == Channel.SMS and not (pref.sms_enabled and org_settings.sms_enabled):
        return _("The recipient does not accept this channel.")
    if event_get(delivery.event).reminder and (not pref.reminders_enabled or pref.unsubscribed_at):
        return _("The recipient unsubscribed from reminders.")
    return ""


def _delivery_retry_or_fail(organization_id, delivery_id, lease, exc, refused=False) -> str:
    """A temporary failure: retried (the task raises) until its last attempt, then failed.
    `refused`: the provider answered with an error, so even after the hand-off nothing was
    accepted and the message may be sent again."""
    attempt, max_attempts = task_attempt()
    retry = False
    with task_tenant_context(organization_id):
        delivery = Delivery.objects.select_for_update().filter(pk=delivery_id).first()
        if delivery is None or delivery.lease_token != lease:
            return "aborted"
        if delivery.status == DeliveryStatus.SENDING and refused:
            delivery.status = DeliveryStatus.QUEUED
        if delivery.status == DeliveryStatus.SENDING:
            # Failed after the hand-off without an answer: it may have been delivered.
            delivery.status = DeliveryStatus.SENT
            delivery.sent_at = timezone.now()
            delivery.finished_at = delivery.sent_at
            delivery.last_error = _(
                "No answer after the message was handed over (%(error)s); not sent again."
            ) % {"error": _error_text(exc)}
            delivery.lease_token = None
            delivery.lease_expires_at = None
            delivery.save()
            return "sent (unconfirmed)"
        delivery.last_error = _error_text(exc)
        delivery.lease_token = None
        delivery.lease_expires_at = None
        delivery.save()
        retry = attempt < max_attempts
    if retry:  # raised outside the transaction: the recorded error stays
        log.warning("delivery.retry", delivery=str(delivery_id), attempt=attempt, error=str(exc))
        raise DeliveryTemporaryError(delivery.last_error) from exc
    return _delivery_finish_failed(
        organization_id, delivery_id, None, DeliveryStatus.FAILED, _error_text(exc)
    )


def _delivery_finish_failed(organization_id, delivery_id, lease, status, error) -> str:
    with task_tenant_context(organization_id):
        delivery = Delivery.objects.select_for_update().filter(pk=delivery_id).first()
        if delivery is None or (lease is not None and delivery.lease_token != lease):
            return "aborted"
        delivery.status = status
        delivery.last_error = error
        delivery.finished_at = timezone.now()
        delivery.lease_token = None
        delivery.lease_expires_at = None
        delivery.save()
        log.warning("delivery.failed", delivery=str(delivery_id), status=status, error=error)
        delivery_failure_notify(delivery)
    return str(status)


def delivery_failure_notify(delivery: Delivery) -> None:
    """Tell the staff who look after messages that one could not be delivered (in-app)."""
    if delivery.recipient_kind == RecipientKind.USER:
        return  # a failed email copy of a staff notification: the in-app one exists
    org = Organization.objects.get(pk=delivery.organization_id)
    for membership, user_settings in selectors.staff_to_notify(
        category=Category.DELIVERY_FAILURES, permission="delivery.view"
    ):
        language = language_pick(membership.user.preferred_locale, org.default_locale)
        notification_create(
            user_id=membership.user_id,
            event="staff.delivery_failed",
            context={
                "org_name": org.name,
                "recipient_name": delivery.recipient_name,
                "to_address": delivery.to_address,
                "channel_label": Channel(delivery.channel).label,
                "message_subject": delivery.rendered_subject or delivery.event,
                "error": delivery.last_error[:300],
            },
            language=language,
            category=Category.DELIVERY_FAILURES,
            link=reverse("notifications:delivery_detail", args=[delivery.pk]),
            subject=PlannedSubject("delivery", delivery.pk),
            dedupe_key=_key("delivery_failed", delivery.pk),
            user_settings=user_settings,
        )


_smtp = threading.local()


def _email_backend():
    backend = getattr(_smtp, "backend", None)
    key = (
        settings.EMAIL_BACKEND,
        settings.EMAIL_HOST,
        settings.EMAIL_PORT,
        settings.EMAIL_HOST_USER,
    )
    if backend is None or getattr(_smtp, "key", None) != key:
        email_connections_close()
        backend = get_connection(settings.EMAIL_BACKEND)
        _smtp.backend, _smtp.key = backend, key
    return backend


def email_connections_close() -> None:
    """Close this thread's reused SMTP connection (the worker calls it when it stops)."""
    backend = getattr(_smtp, "backend", None)
    if backend is not None:
        try:
            backend.close()
        except Exception:  # noqa: S110 - closing a dead connection
            pass
        _smtp.backend = None


def _message_id(delivery: Delivery) -> str:
    digest = hashlib.sha256(f"{delivery.organization_id}:{delivery.idempotency_key}".encode())
    domain = parseaddr(settings.DEFAULT_FROM_EMAIL)[1].partition("@")[2] or "clinic.invalid"
    return f"<{digest.hexdigest()[:40]}@{domain}>"


def _email_send(delivery, rendered, org, org_settings, handoff) -> str:
    from_name, from_addr = parseaddr(settings.DEFAULT_FROM_EMAIL)
    message_id = _message_id(delivery)
    headers = {
        "Message-ID": message_id,
        "Auto-Submitted": "auto-generated",
        "X-Clinic-Delivery": str(delivery.pk),
    }
    if event_get(delivery.event).reminder and delivery.recipient_kind != RecipientKind.USER:
        headers["List-Unsubscribe"] = f"<{unsubscribe_url(delivery)}>"
        headers["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    message = EmailMultiAlternatives(
        subject=rendered.subject,
        body=rendered.text,
        from_email=formataddr((org.name or from_name, from_addr)),
        to=[delivery.to_address],
        reply_to=[org_settings.reply_to] if org_settings.reply_to else None,
        headers=headers,
    )
    if rendered.html:
        message.attach_alternative(rendered.html, "text/html")
    backend = _email_backend()
    if not getattr(backend, "supports_handoff", False):
        handoff()
        backend.send_messages([message])
        return message_id
    message.handoff = handoff
    for attempt in (1, 2):
        try:
            backend.open()
            backend.send_messages([message])
            break
        except smtplib.SMTPServerDisconnected:
            # A reused connection the server had closed: reconnect once (nothing was accepted
            # unless the hand-off happened, in which case the caller sees `sending`).
            backend.close()
            if attempt == 2:
                raise
    reply = getattr(message, "smtp_reply", "")
    return f"{message_id} {reply}".strip()


# --- in-app notifications ------------------------------------------------------------------------


def notification_create(
    *,
    user_id,
    event: str,
    context: dict,
    language: str,
    category: str,
    link: str = "",
    subject: PlannedSubject | None = None,
    dedupe_key: str = "",
    user_settings: UserNotificationSettings | None = None,
    email: str = "",
) -> Notification | None:
    """An in-app notification in the user's language (idempotent with `dedupe_key`); with
    "email copies" on, an email delivery of it too."""
    spec = event_get(event)
    rendered = message_render(
        template=spec.template, channel="in_app", language=language, context=context
    )
    if dedupe_key and Notification.objects.filter(user_id=user_id, dedupe_key=dedupe_key).exists():
        return None
    notification = Notification(
        user_id=user_id,
        category=category,
        event=event,
        title=rendered.subject or event,
        body=rendered.text,
        link=link,
        subject_type=subject.type if subject else "",
        subject_id=subject.id if subject else None,
        dedupe_key=dedupe_key,
    )
    try:
        with transaction.atomic():
            notification.save(force_insert=True)
    except IntegrityError:
        return None
    if user_settings is not None and user_settings.email_copies and email:
        copy = Recipient(
            kind=RecipientKind.USER,
            record=user_settings.membership.user,
            name=str(user_settings.membership.user),
            email=email,
            phone="",
            language=language,
            preference=ContactPreference(),
            for_self=True,
        )
        message_plan(
            event=event,
            recipients=[copy],
            context={**context, "link": messages.absolute_url(link) if link else ""},
            subject=subject,
            key=_key("copy", notification.pk),
            time_zone="UTC",
        )
    return notification


def notification_mark_read(*, user, notification_id) -> Notification:
    notification = Notification.objects.filter(user=user, pk=notification_id).first()
    if notification is None:
        raise NotFound(_("Notification not found."))
    if notification.read_at is None:
        notification.read_at = timezone.now()
        notification.save(update_fields=["read_at"])
    return notification


def notifications_mark_all_read(*, user) -> int:
    return Notification.objects.filter(user=user, read_at__isnull=True).update(
        read_at=timezone.now()
    )


# --- settings and preferences --------------------------------------------------------------------


def _offsets_validate(values, *, field: str, low: int, high: int, unit: str) -> list[int]:
    errors = []
    cleaned = sorted({int(v) for v in values}, reverse=True)
    if len(cleaned) > 5:
        errors.append(_("At most 5 values."))
    for v in cleaned:
        if not low <= v <= high:
            errors.append(
                _("%(value)s is out of range (%(low)s to %(high)s %(unit)s).")
                % {"value": v, "low": low, "high": high, "unit": unit}
            )
    if errors:
        raise ValidationFailed(
            _("The notification settings are not valid."), details={field: errors}
        )
    return cleaned


def notification_settings_update(**fields) -> NotificationSettings:
    """Change the organization's settings; reminders already planned for offsets that are no
    longer wanted are cancelled, and the catch-up job plans the new ones."""
    row = NotificationSettings.objects.select_for_update().first() or NotificationSettings()
    old_offsets = set(row.reminder_offsets_minutes or [])
    if "reminder_offsets_minutes" in fields:
        fields["reminder_offsets_minutes"] = _offsets_validate(
            fields["reminder_offsets_minutes"],
            field="reminder_offsets_minutes",
            low=5,
            high=14 * 24 * 60,
            unit=_("minutes"),
        )
    if "overdue_reminder_days" in fields:
        fields["overdue_reminder_days"] = sorted(
            _offsets_validate(
                fields["overdue_reminder_days"],
                field="overdue_reminder_days",
                low=1,
                high=365,
                unit=_("days"),
            )
        )
    for name, value in fields.items():
        setattr(row, name, value)
    if (row.quiet_hours_start is None) != (row.quiet_hours_end is None):
        raise ValidationFailed(
            _("Give both ends of the quiet hours, or neither."),
            details={"quiet_hours_end": [_("Give both ends of the quiet hours, or neither.")]},
        )
    _full_clean(row, exclude=["organization"])
    row.save()
    dropped = old_offsets - set(row.reminder_offsets_minutes)
    if dropped:
        for delivery in Delivery.objects.filter(
            event="appointment.reminder", status=DeliveryStatus.QUEUED
        ).only("id", "context", "task_id"):
            if delivery.context.get("offset_minutes") in dropped:
                Delivery.objects.filter(pk=delivery.pk).update(
                    status=DeliveryStatus.CANCELLED,
                    last_error=_("Reminder no longer configured."),
                    finished_at=timezone.now(),
                )
                _task_rows_discard([delivery.task_id])
    return row


def _full_clean(row, exclude=None) -> None:
    try:
        row.full_clean(exclude=exclude, validate_unique=False, validate_constraints=False)
    except ValidationError as exc:
        raise ValidationFailed(_("The values are not valid."), details=exc.message_dict) from exc


def contact_preference_update(*, patient=None, contact=None, **fields) -> ContactPreference:
    if (patient is None) == (contact is None):
        raise ValueError("give a patient or a contact")
    qs = ContactPreference.objects.select_for_update()
    row = (qs.filter(patient=patient) if patient else qs.filter(contact=contact)).first()
    row = row or ContactPreference(patient=patient, contact=contact)
    for name, value in fields.items():
        setattr(row, name, value)
    if (row.quiet_hours_start is None) != (row.quiet_hours_end is None):
        raise ValidationFailed(
            _("Give both ends of the quiet hours, or neither."),
            details={"quiet_hours_end": [_("Give both ends of the quiet hours, or neither.")]},
        )
    if row.reminders_enabled:
        row.unsubscribed_at = None
    _full_clean(row, exclude=["organization", "patient", "contact"])
    row.save()
    return row


def user_notification_settings_update(
    *, membership, muted_categories: list[str] | None = None, email_copies: bool | None = None
) -> UserNotificationSettings:
    row = UserNotificationSettings.objects.select_for_update().filter(
        membership=membership
    ).first() or UserNotificationSettings(membership=membership)
    if muted_categories is not None:
        unknown = [c for c in muted_categories if c not in Category.values]
        if unknown:
            raise ValidationFailed(
                _("Unknown notification category."),
                details={"muted_categories": [_("Unknown: %s") % ", ".join(unknown)]},
            )
        row.muted_categories = sorted(set(muted_categories))
    if email_copies is not None:
        row.email_copies = email_copies
    row.save()
    return row


# --- unsubscribe ---------------------------------------------------------------------------------


def unsubscribe_token(delivery: Delivery) -> str:
    """A signed, stable token naming the recipient (the same in the header and the body)."""
    target = delivery.patient_id or delivery.contact_id
    return signing.Signer(salt=UNSUBSCRIBE_SALT).sign_object(
        {"o": str(delivery.organization_id), "k": delivery.recipient_kind, "i": str(target)},
        compress=True,
    )


def unsubscribe_url(delivery: Delivery) -> str:
    return messages.absolute_url(
        reverse("notifications:unsubscribe", args=[unsubscribe_token(delivery)])
    )


def unsubscribe_token_read(token: str) -> dict:
    try:
        data = signing.Signer(salt=UNSUBSCRIBE_SALT).unsign_object(token)
    except signing.BadSignature as exc:
        raise NotFound(_("This link is not valid.")) from exc
    if data.get("k") not in ("patient", "contact"):
        raise NotFound(_("This link is not valid."))
    return data


def unsubscribe_apply(data: dict) -> ContactPreference:
    """Stop reminders for the person the link was sent to (inside their tenant context). Queued
    reminders to them are skipped at send time."""
    from clinic.directory.models import Contact, Patient

    model = Patient if data["k"] == "patient" else Contact
    record = model.objects.filter(pk=data["i"]).first()
    if record is None:
        raise NotFound(_("This link is not valid."))
    kwargs = {"patient": record} if data["k"] == "patient" else {"contact": record}
    pref = contact_preference_update(**kwargs, reminders_enabled=False)
    pref.unsubscribed_at = timezone.now()
    pref.save(update_fields=["unsubscribed_at", "updated_at"])
    from clinic.audit.services import audit_record

    audit_record(
        action="notifications.unsubscribe",
        organization_id=record.organization_id,
        object_type=model._meta.db_table,
        object_id=str(record.pk),
    )
    return pref


# --- retries by staff, catch-up ------------------------------------------------------------------


def delivery_retry(*, delivery: Delivery) -> Delivery:
    """Send a failed or bounced delivery again (a corrected address, a provider outage)."""
    if delivery.status not in (DeliveryStatus.FAILED, DeliveryStatus.BOUNCED):
        raise ValidationFailed(
            _("Only failed or bounced messages can be sent again."),
            details={"status": [_("is %(status)s") % {"status": delivery.get_status_display()}]},
        )
    delivery.status = DeliveryStatus.QUEUED
    delivery.scheduled_for = timezone.now()
    delivery.finished_at = None
    delivery.attempts = 0
    delivery.task_id = _enqueue(delivery)
    delivery.save()
    return delivery


CATCH_UP_GRACE = datetime.timedelta(minutes=10)


def reminders_catch_up(*, now: datetime.datetime | None = None, horizon_days: int = 15) -> dict:
    """Periodic, idempotent: (1) upcoming appointments missing a reminder get it planned (booked
    before notifications existed, imported, or reminder offsets changed); (2) queued deliveries
    overdue by more than 10 minutes whose task is gone are enqueued again; those whose task
    failed for good are marked failed and reported."""
    from django_tasks_db.models import DBTaskResult

    now = now or timezone.now()
    planned = 0
    org = Organization.objects.get(pk=require_org_id())
    org_settings = selectors.notification_settings_get()
    if org_settings.reminder_offsets_minutes:
        from clinic.scheduling.models import Appointment

        horizon = now + datetime.timedelta(minutes=max(org_settings.reminder_offsets_minutes) + 60)
        horizon = min(horizon, now + datetime.timedelta(days=horizon_days))
        have = set(
            Delivery.objects.filter(
                event="appointment.reminder",
                subject_type="appointment",
                scheduled_for__gte=now - datetime.timedelta(days=1),
            )
            .exclude(status=DeliveryStatus.CANCELLED)
            .values_list("idempotency_key", flat=True)
        )
        upcoming = Appointment.objects.filter(
            start_at__gt=now,
            start_at__lte=horizon,
            status__in=_NOTIFIED_STATUSES,
            kind="individual",
            patient__isnull=False,
        ).select_related("patient", "location")
        for appointment in upcoming:
            start_key = int(appointment.start_at.timestamp())
            due = [
                o
                for o in org_settings.reminder_offsets_minutes
                if appointment.start_at - datetime.timedelta(minutes=o) > now
            ]
            prefix = {_key("appt", appointment.pk, "reminder", o, start_key) for o in due}
            if all(any(k.startswith(p + ":") for k in have) for p in prefix):
                continue
            recipients = selectors.patient_recipients(
                appointment.patient, default_language=org.default_locale
            )
            planned += len(
                reminders_plan(
                    appointment=appointment,
                    recipients=recipients,
                    org_settings=org_settings,
                    time_zone=_appointment_zone(appointment, org),
                )
            )
    requeued = failed = 0
    stuck = list(
        Delivery.objects.filter(
            status=DeliveryStatus.QUEUED, scheduled_for__lt=now - CATCH_UP_GRACE
        ).only("id", "task_id", "scheduled_for", "organization_id")[:500]
    )
    if stuck:
        tasks = {
            str(t.id): t.status
            for t in DBTaskResult.objects.filter(id__in=[d.task_id for d in stuck if d.task_id])
        }
        for delivery in stuck:
            status = tasks.get(delivery.task_id)
            if status in ("READY", "RUNNING"):
                continue
            if status == "FAILED":
                Delivery.objects.filter(pk=delivery.pk).update(
                    status=DeliveryStatus.FAILED,
                    last_error=_("The sending task failed."),
                    finished_at=now,
                )
                delivery.refresh_from_db()
                delivery_failure_notify(delivery)
                failed += 1
                continue
            delivery.task_id = _enqueue(delivery)
            Delivery.objects.filter(pk=delivery.pk).update(task_id=delivery.task_id)
            requeued += 1
    return {"planned": planned, "requeued": requeued, "failed": failed}
