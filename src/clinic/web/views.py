from __future__ import annotations

from datetime import date, time, timedelta

from django.conf import settings
from django.contrib.auth import logout
from django.core.paginator import Paginator
from django.http import JsonResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from clinic.accounts import selectors as account_selectors
from clinic.accounts import two_factor
from clinic.accounts.middleware import SESSION_ORG_KEY
from clinic.accounts.models import User
from clinic.accounts.roles import roles_grantable, staff_roles_grantable
from clinic.accounts.services import login_verify, membership_for_org
from clinic.accounts.sign_in import session_start, sign_in
from clinic.audit import selectors as audit_selectors
from clinic.audit import sentences as audit_sentences
from clinic.core import timefmt
from clinic.core.errors import DomainError, TooManyRequests
from clinic.web.access import page_requires
from clinic.web.forms import (
    InvitationForm,
    LoginForm,
    SessionPolicyForm,
    TwoFactorLoginForm,
    TwoFactorPolicyForm,
)

# how long the password step stays valid while the second factor is awaited
TWO_FACTOR_PENDING_SECONDS = 300


@require_http_methods(["GET", "POST"])
def login_view(request):
    form = LoginForm(request.POST or None)
    status = 200
    retry_after = None
    if request.method == "POST" and form.is_valid():
        request.keep_writes_on_error = True  # failed attempts are counted and audited
        try:
            membership = login_verify(
                request=request,
                email=form.cleaned_data["email"],
                password=form.cleaned_data["password"],
                organization_slug=form.cleaned_data["organization"] or None,
            )
        except TooManyRequests as exc:
            form.add_error(None, exc.message)
            status = 429
            retry_after = exc.retry_after
        except DomainError as exc:
            form.add_error("password", exc.message)
            status = 401
        else:
            target = request.GET.get("next") or ""
            if not url_has_allowed_host_and_scheme(target, {request.get_host()}):
                target = "web:home"
            return sign_in(request, membership, target)
    elif request.method == "POST":
        status = 400
    response = render(request, "web/login.html", {"form": form}, status=status)
    if retry_after:
        response["Retry-After"] = str(retry_after)
    return response


def _pending_membership(request):
    """The membership whose password was verified and whose second factor is awaited."""
    pending = request.session.get(two_factor.SESSION_PENDING) or {}
    at = parse_datetime(pending.get("at") or "")
    if at is None or timezone.now() - at > timedelta(seconds=TWO_FACTOR_PENDING_SECONDS):
        return None, pending
    user = User.objects.filter(id=pending.get("user_id"), is_active=True).first()
    if user is None:
        return None, pending
    membership = next(
        (
            m
            for m in account_selectors.memberships_of_user(user)
            if str(m.organization_id) == pending.get("org_id")
        ),
        None,
    )
    return membership, pending


@require_http_methods(["GET", "POST"])
def login_two_factor(request):
    """The second step of signing in: a code from the authenticator app, or a recovery code."""
    membership, pending = _pending_membership(request)
    if membership is None:
        request.session.pop(two_factor.SESSION_PENDING, None)
        return redirect("web:login")
    form = TwoFactorLoginForm(request.POST or None)
    status = 200
    retry_after = None
    if request.method == "POST" and form.is_valid():
        request.keep_writes_on_error = True  # wrong codes are counted and audited
        try:
            two_factor.verify(
                request=request, membership=membership, code=form.cleaned_data["code"]
            )
        except TooManyRequests as exc:
            form.add_error(None, exc.message)
            status = 429
            retry_after = exc.retry_after
        except DomainError as exc:
            form.add_error("code", exc.message)
            status = 401
        else:
            request.session.pop(two_factor.SESSION_PENDING, None)
            response = session_start(request, membership, pending.get("next"), verified=True)
            if form.cleaned_data["remember"] and settings.TWO_FACTOR_REMEMBER_DAYS > 0:
                device = two_factor.authenticator_of(membership.user)
                response.set_cookie(
                    two_factor.REMEMBER_COOKIE,
                    two_factor.remember_value(device),
                    max_age=two_factor.remember_max_age(),
                    secure=settings.SESSION_COOKIE_SECURE,
                    httponly=True,
                    samesite="Lax",
                )
            return response
    elif request.method == "POST":
        status = 400
    response = render(
        request,
        "web/login_two_factor.html",
        {"form": form, "remember_days": settings.TWO_FACTOR_REMEMBER_DAYS},
        status=status,
    )
    if retry_after:
        response["Retry-After"] = str(retry_after)
    return response


@require_POST
def logout_view(request):
    logout(request)
    return redirect("web:login")


@require_POST
@page_requires()
def organization_switch(request):
    try:
        membership = membership_for_org(request.user, request.POST.get("organization_id", ""))
    except DomainError:
        return not_found(request)
    request.session[SESSION_ORG_KEY] = str(membership.organization_id)
    return redirect("web:home")


@page_requires("membership.manage")
def members(request):
    m = request.membership
    roles = staff_roles_grantable(m.role)
    grantable = roles_grantable(m.role)
    memberships = list(account_selectors.memberships_list())
    for row in memberships:
        row.manageable = row.role in grantable and row.user_id != m.user_id
    return render(
        request,
        "web/members.html",
        {
            "memberships": memberships,
            "roles": roles,
            "invite_form": InvitationForm(roles=roles),
            "invitations": list(account_selectors.invitations_open()),
            "now": timezone.now(),
            "two_factor_users": two_factor.members_with_authenticator()
            if m.has("membership.reset_two_factor")
            else None,
            "policy_form": TwoFactorPolicyForm(
                initial={"two_factor_required": m.organization.two_factor_required}
            )
            if m.has("organization.update")
            else None,
            "session_form": SessionPolicyForm(
                initial={
                    "session_idle_minutes": m.organization.session_idle_minutes,
                    "session_absolute_hours": m.organization.session_absolute_hours,
                }
            )
            if m.has("organization.update")
            else None,
        },
    )


AUDIT_PAGE_SIZE = 50


def _audit_day(value: str):
    try:
        return date.fromisoformat(value)
    except ValueError:
        return None


@page_requires("audit.view")
def audit(request):
    """The audit log as sentences, filtered by person, kind of record and date, paged."""
    kinds = audit_sentences.record_kind_choices()
    people = [m.user for m in account_selectors.memberships_list()]
    actor = request.GET.get("actor") or ""
    actor_id = next((u.id for u in people if str(u.id) == actor), None)
    object_type = request.GET.get("kind") or ""
    if object_type not in dict(kinds):
        object_type = ""
    day_from = _audit_day(request.GET.get("from") or "")
    day_to = _audit_day(request.GET.get("to") or "")
    events = audit_selectors.audit_events_list(
        object_type=object_type or None,
        actor_id=actor_id,
        # days of the clinic's calendar, the last one included
        since=timefmt.wall_to_instant(day_from, time.min) if day_from else None,
        until=timefmt.wall_to_instant(day_to + timedelta(days=1), time.min) if day_to else None,
    )
    page = Paginator(events, AUDIT_PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "web/audit.html",
        {
            "entries": audit_sentences.entries_present(page.object_list),
            "page": page,
            "query": query.urlencode(),
            "kinds": kinds,
            "people": people,
            "filters": {
                "actor": str(actor_id or ""),
                "kind": object_type,
                "from": day_from.isoformat() if day_from else "",
                "to": day_to.isoformat() if day_to else "",
            },
        },
    )


def not_found(request, exception=None):
    if request.path.startswith("/api/"):
        return JsonResponse(
            {"error": {"code": "not_found", "message": _("Not found."), "details": None}},
            status=404,
        )
    return render(request, "web/not_found.html", status=404)


def server_error(request):
    if request.path.startswith("/api/"):
        return JsonResponse(
            {
                "error": {
                    "code": "internal_error",
                    "message": _("Something went wrong on our side; it has been logged."),
                    "details": None,
                }
            },
            status=500,
        )
    return render(request, "web/server_error.html", status=500)
