"""Pages: the notification centre (bell, list, mark read), personal and organization settings,
the delivery log, a patient's contact preferences, and the public unsubscribe page."""

from __future__ import annotations

from django.contrib import messages as flash
from django.core.paginator import Paginator
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_POST

from clinic.core.errors import DomainError, NotFound
from clinic.core.tenancy import tenant_activate
from clinic.notifications import selectors, services
from clinic.notifications.forms import (
    ContactPreferenceForm,
    OrganizationSettingsForm,
    UserSettingsForm,
)
from clinic.notifications.models import Category, Channel, Delivery, DeliveryStatus
from clinic.web.access import page_requires

PAGE_SIZE = 25


def _form_errors(form, exc: DomainError) -> None:
    details = exc.details if isinstance(exc.details, dict) else {}
    placed = False
    for field, errors in details.items():
        name = {"reminder_offsets_minutes": "reminder_hours"}.get(field, field)
        if name in form.fields:
            for error in errors if isinstance(errors, list) else [errors]:
                form.add_error(name, error)
            placed = True
    if not placed:
        form.add_error(None, exc.message)


# --- notification centre -------------------------------------------------------------------------


@page_requires("notification.view")
def bell(request):
    """The bell's badge (polled by htmx every 30 seconds)."""
    count = selectors.unread_count(request.user)
    return render(request, "notifications/bell.html#badge", {"unread": count})


@page_requires("notification.view")
def notification_list(request):
    state = request.GET.get("state", "")
    category = request.GET.get("category", "")
    if category not in Category.values:
        category = ""
    qs = selectors.notifications_of_user(
        request.user,
        unread={"unread": True, "read": False}.get(state),
        category=category or None,
    )
    page = Paginator(qs, PAGE_SIZE).get_page(request.GET.get("page"))
    context = {
        "page": page,
        "state": state,
        "category": category,
        "categories": Category.choices,
        "unread": selectors.unread_count(request.user),
    }
    template = "notifications/list.html"
    if request.htmx and request.htmx.target == "notification-list":
        template += "#list"
    return render(request, template, context)


@require_POST
@page_requires("notification.view")
def notification_read(request, notification_id):
    try:
        notification = services.notification_mark_read(
            user=request.user, notification_id=notification_id
        )
    except NotFound:
        return render(request, "web/not_found.html", status=404)
    if request.htmx:
        response = render(request, "notifications/list.html#item", {"n": notification})
        response["HX-Trigger"] = "notifications-changed"
        return response
    if notification.link and request.POST.get("follow"):
        return redirect(notification.link)
    return redirect("notifications:list")


@require_POST
@page_requires("notification.view")
def notifications_read_all(request):
    count = services.notifications_mark_all_read(user=request.user)
    flash.success(request, _("%(count)d notifications marked as read.") % {"count": count})
    if request.htmx:
        response = HttpResponse(status=204)
        response["HX-Refresh"] = "true"
        return response
    return redirect("notifications:list")


@require_http_methods(["GET", "POST"])
@page_requires("notification.view")
def my_settings(request):
    current = selectors.user_notification_settings_get(request.membership)
    initial = {
        "categories": [c for c in Category.values if c not in current.muted_categories],
        "email_copies": current.email_copies,
    }
    form = UserSettingsForm(request.POST or None, initial=initial)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            wanted = set(form.cleaned_data["categories"])
            services.user_notification_settings_update(
                membership=request.membership,
                muted_categories=[c for c in Category.values if c not in wanted],
                email_copies=form.cleaned_data["email_copies"],
            )
            flash.success(request, _("Your notification settings are saved."))
            return redirect("notifications:my_settings")
        status = 422
    return render(request, "notifications/my_settings.html", {"form": form}, status=status)


# --- organization settings -----------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
@page_requires("notification_settings.update")
def organization_settings(request):
    current = selectors.notification_settings_get()
    initial = {
        "reminder_hours": ", ".join(
            _hours(m) for m in sorted(current.reminder_offsets_minutes, reverse=True)
        ),
        "overdue_reminder_days": ", ".join(str(d) for d in current.overdue_reminder_days),
        "email_enabled": current.email_enabled,
        "sms_enabled": current.sms_enabled,
        "quiet_hours_start": current.quiet_hours_start,
        "quiet_hours_end": current.quiet_hours_end,
        "reply_to": current.reply_to,
    }
    form = OrganizationSettingsForm(request.POST or None, initial=initial)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            data = form.cleaned_data
            try:
                services.notification_settings_update(
                    reminder_offsets_minutes=data["reminder_hours"],
                    overdue_reminder_days=data["overdue_reminder_days"],
                    email_enabled=data["email_enabled"],
                    sms_enabled=data["sms_enabled"],
                    quiet_hours_start=data["quiet_hours_start"],
                    quiet_hours_end=data["quiet_hours_end"],
                    reply_to=data["reply_to"] or "",
                )
            except DomainError as exc:
                _form_errors(form, exc)
            else:
                flash.success(request, _("Notification settings saved."))
                return redirect("notifications:organization_settings")
        status = 422
    return render(
        request, "notifications/organization_settings.html", {"form": form}, status=status
    )


def _hours(minutes: int) -> str:
    return str(minutes // 60) if minutes % 60 == 0 else f"{minutes / 60:g}"


# --- deliveries ----------------------------------------------------------------------------------


@page_requires("delivery.view")
def delivery_list(request):
    status = request.GET.get("status", "")
    channel = request.GET.get("channel", "")
    qs = selectors.deliveries_list(
        status=status if status in DeliveryStatus.values else None,
        channel=channel if channel in Channel.values else None,
    )
    page = Paginator(qs, PAGE_SIZE).get_page(request.GET.get("page"))
    context = {
        "page": page,
        "status": status,
        "channel": channel,
        "statuses": DeliveryStatus.choices,
        "channels": Channel.choices,
        "counts": selectors.delivery_status_counts(),
    }
    return render(request, "notifications/deliveries.html", context)


def _delivery_or_404(delivery_id):
    return Delivery.objects.filter(pk=delivery_id).first()


@page_requires("delivery.view")
def delivery_detail(request, delivery_id):
    delivery = _delivery_or_404(delivery_id)
    if delivery is None:
        return render(request, "web/not_found.html", status=404)
    return render(request, "notifications/delivery_detail.html", _detail_context(request, delivery))


def _detail_context(request, delivery) -> dict:
    return {
        "d": delivery,
        "can_retry": request.membership.has("delivery.retry")
        and delivery.status in (DeliveryStatus.FAILED, DeliveryStatus.BOUNCED),
    }


@require_POST
@page_requires("delivery.retry")
def delivery_retry(request, delivery_id):
    delivery = _delivery_or_404(delivery_id)
    if delivery is None:
        return render(request, "web/not_found.html", status=404)
    try:
        services.delivery_retry(delivery=delivery)
    except DomainError as exc:
        flash.error(request, exc.message)
        return render(
            request,
            "notifications/delivery_detail.html",
            _detail_context(request, delivery),
            status=exc.status,
        )
    flash.success(request, _("The message will be sent again."))
    return redirect("notifications:delivery_detail", delivery_id=delivery.pk)


# --- a patient's contact preferences -------------------------------------------------------------


@require_http_methods(["GET", "POST"])
@page_requires("contact_preference.view")
def patient_preferences(request, patient_id):
    from clinic.directory.selectors import patient_for_actor

    try:
        patient = patient_for_actor(request.membership, patient_id)
    except NotFound:
        return render(request, "web/not_found.html", status=404)
    pref = selectors.contact_preference_get(patient=patient)
    form = ContactPreferenceForm(
        request.POST or None,
        initial={
            "email_enabled": pref.email_enabled,
            "sms_enabled": pref.sms_enabled,
            "reminders_enabled": pref.reminders_enabled,
            "language": pref.language,
            "quiet_hours_start": pref.quiet_hours_start,
            "quiet_hours_end": pref.quiet_hours_end,
        },
    )
    can_edit = request.membership.has("contact_preference.update")
    status = 200
    if request.method == "POST":
        if not can_edit:
            return render(
                request,
                "web/forbidden.html",
                {"message": _("Your role does not allow this page.")},
                status=403,
            )
        if form.is_valid():
            try:
                services.contact_preference_update(patient=patient, **form.cleaned_data)
            except DomainError as exc:
                _form_errors(form, exc)
            else:
                flash.success(request, _("Contact preferences saved."))
                return redirect("notifications:patient_preferences", patient_id=patient.pk)
        status = 422
    recipients = selectors.patient_recipients(
        patient, default_language=request.membership.organization.default_locale
    )
    return render(
        request,
        "notifications/patient_preferences.html",
        {
            "patient": patient,
            "form": form,
            "pref": pref,
            "can_edit": can_edit,
            "recipients": recipients,
            "deliveries": list(selectors.deliveries_list(patient_id=patient.pk)[:20]),
        },
        status=status,
    )


# --- unsubscribe (public: the signed link is the authorisation) ----------------------------------


@csrf_exempt  # RFC 8058 one-click unsubscribe posts without a session; the token authorises
@require_http_methods(["GET", "POST"])
def unsubscribe(request, token):
    try:
        data = services.unsubscribe_token_read(token)
    except NotFound:
        return render(request, "notifications/unsubscribe.html", {"invalid": True}, status=404)
    from clinic.accounts.models import Organization

    tenant_activate(data["o"])
    org = Organization.objects.filter(pk=data["o"]).first()
    if request.method == "POST":
        try:
            services.unsubscribe_apply(data)
        except NotFound:
            return render(request, "notifications/unsubscribe.html", {"invalid": True}, status=404)
        return render(request, "notifications/unsubscribe.html", {"done": True, "org": org})
    return render(request, "notifications/unsubscribe.html", {"org": org, "token": token})
