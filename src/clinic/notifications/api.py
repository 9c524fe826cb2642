from uuid import UUID

from django.utils.translation import gettext as _
from ninja import Query, Router, Schema
from ninja.pagination import paginate

from clinic.api.auth import require
from clinic.api.pagination import PagePagination
from clinic.core.errors import NotFound, ValidationFailed
from clinic.notifications import selectors, services
from clinic.notifications.models import Category, Channel, Delivery, DeliveryStatus
from clinic.notifications.schemas import (
    ContactPreferenceOut,
    ContactPreferencePatch,
    DeliveryDetailOut,
    DeliveryOut,
    MarkedOut,
    NotificationOut,
    OrganizationSettingsOut,
    OrganizationSettingsPatch,
    UnreadCountOut,
    UserSettingsOut,
    UserSettingsPatch,
)

router = Router(tags=["notifications"])


class NotificationFilters(Schema):
    unread: bool | None = None
    category: str | None = None


class DeliveryFilters(Schema):
    status: str | None = None
    channel: str | None = None
    event: str | None = None
    patient_id: UUID | None = None
    subject_id: UUID | None = None


def _choice(value, allowed, field):
    if value and value not in allowed:
        raise ValidationFailed(
            _("Unknown value."),
            details={field: [_("must be one of: %s") % ", ".join(allowed)]},
        )
    return value or None


@router.get("/notifications", response=list[NotificationOut])
@require("notification.view")
@paginate(PagePagination)
def notifications_list(request, filters: Query[NotificationFilters]):
    """Your in-app notifications in this organization, newest first."""
    return selectors.notifications_of_user(
        request.auth.user,
        unread=filters.unread,
        category=_choice(filters.category, Category.values, "category"),
    )


@router.get("/notifications/unread-count", response=UnreadCountOut)
@require("notification.view")
def notifications_unread_count(request):
    return {"unread": selectors.unread_count(request.auth.user)}


@router.post("/notifications/read-all", response=MarkedOut)
@require("notification.view")
def notifications_read_all(request):
    return {"marked": services.notifications_mark_all_read(user=request.auth.user)}


@router.post("/notifications/{notification_id}/read", response=NotificationOut)
@require("notification.view")
def notification_read(request, notification_id: UUID):
    return services.notification_mark_read(user=request.auth.user, notification_id=notification_id)


@router.get("/notifications/settings", response=UserSettingsOut)
@require("notification.view")
def my_settings_get(request):
    return selectors.user_notification_settings_get(request.auth)


@router.patch("/notifications/settings", response=UserSettingsOut)
@require("notification.view")
def my_settings_update(request, payload: UserSettingsPatch):
    return services.user_notification_settings_update(
        membership=request.auth, **payload.dict(exclude_unset=True)
    )


@router.get("/notification-settings", response=OrganizationSettingsOut)
@require("notification.view")
def organization_settings_get(request):
    """The organization's reminder offsets, overdue delays, channels and quiet hours."""
    return selectors.notification_settings_get()


@router.patch("/notification-settings", response=OrganizationSettingsOut)
@require("notification_settings.update")
def organization_settings_update(request, payload: OrganizationSettingsPatch):
    return services.notification_settings_update(**payload.dict(exclude_unset=True))


def _patient(request, patient_id):
    from clinic.directory.selectors import patient_for_actor

    return patient_for_actor(request.auth, patient_id)


@router.get("/patients/{patient_id}/contact-preferences", response=ContactPreferenceOut)
@require("contact_preference.view")
def patient_preferences_get(request, patient_id: UUID):
    return selectors.contact_preference_get(patient=_patient(request, patient_id))


@router.patch("/patients/{patient_id}/contact-preferences", response=ContactPreferenceOut)
@require("contact_preference.update")
def patient_preferences_update(request, patient_id: UUID, payload: ContactPreferencePatch):
    return services.contact_preference_update(
        patient=_patient(request, patient_id), **payload.dict(exclude_unset=True)
    )


def _contact(request, contact_id):
    from clinic.directory.selectors import contact_for_actor

    return contact_for_actor(request.auth, contact_id)


@router.get("/contacts/{contact_id}/contact-preferences", response=ContactPreferenceOut)
@require("contact_preference.view")
def contact_preferences_get(request, contact_id: UUID):
    return selectors.contact_preference_get(contact=_contact(request, contact_id))


@router.patch("/contacts/{contact_id}/contact-preferences", response=ContactPreferenceOut)
@require("contact_preference.update")
def contact_preferences_update(request, contact_id: UUID, payload: ContactPreferencePatch):
    return services.contact_preference_update(
        contact=_contact(request, contact_id), **payload.dict(exclude_unset=True)
    )


@router.get("/deliveries", response=list[DeliveryOut])
@require("delivery.view")
@paginate(PagePagination)
def deliveries_list(request, filters: Query[DeliveryFilters]):
    """Email and SMS messages to patients and contacts: planned, sent, failed."""
    return selectors.deliveries_list(
        status=_choice(filters.status, DeliveryStatus.values, "status"),
        channel=_choice(filters.channel, Channel.values, "channel"),
        event=filters.event,
        patient_id=filters.patient_id,
        subject_id=filters.subject_id,
    )


def _delivery(delivery_id) -> Delivery:
    delivery = Delivery.objects.filter(pk=delivery_id).first()
    if delivery is None:
        raise NotFound(_("Message not found."))
    return delivery


@router.get("/deliveries/{delivery_id}", response=DeliveryDetailOut)
@require("delivery.view")
def delivery_get(request, delivery_id: UUID):
    return _delivery(delivery_id)


@router.post("/deliveries/{delivery_id}/retry", response=DeliveryDetailOut)
@require("delivery.retry")
def delivery_retry(request, delivery_id: UUID):
    """Send a failed or bounced message again."""
    return services.delivery_retry(delivery=_delivery(delivery_id))
