"""Session pages: one's own sessions (list, revoke one or all others), re-authentication before
sensitive actions, and the organization's session limits (on the members page)."""

from __future__ import annotations

from django.contrib import messages
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from clinic.accounts import user_sessions
from clinic.accounts.forms import ReauthenticateForm
from clinic.core.errors import DomainError, NotFound, TooManyRequests
from clinic.web.access import page_requires
from clinic.web.forms import SessionPolicyForm


@page_requires()
def sessions_page(request):
    m = request.membership
    rows = user_sessions.sessions_of_user(m.user, organization=m.organization)
    for row in rows:
        row.current = user_sessions.is_current(request, row)
        row.summary = user_sessions.user_agent_summary(row.user_agent)
    rows.sort(key=lambda r: not r.current)
    return render(request, "accounts/sessions.html", {"sessions": rows})


@require_POST
@page_requires()
def sessions_revoke(request):
    """`session_id`: end that session; `others`: end every session but this one."""
    m = request.membership
    if request.POST.get("others"):
        count = user_sessions.sessions_revoke_others(request=request, membership=m)
        messages.success(request, _("Other sessions ended: %(count)d.") % {"count": count})
        return redirect("accounts:sessions")
    try:
        user_sessions.session_revoke(
            request=request, membership=m, session_id=request.POST.get("session_id") or ""
        )
    except NotFound:
        raise
    except DomainError as exc:
        messages.error(request, exc.message)
    except Exception as exc:  # a malformed id is no session of this user
        raise NotFound(_("Session not found.")) from exc
    else:
        messages.success(request, _("The session was ended."))
    return redirect("accounts:sessions")


@require_http_methods(["GET", "POST"])
@page_requires()
def reauthenticate(request):
    m = request.membership
    target = request.GET.get("next") or ""
    if not url_has_allowed_host_and_scheme(target, {request.get_host()}):
        target = "web:home"
    form = ReauthenticateForm(request.POST or None)
    needs_code = user_sessions.needs_code(m.user)
    status = 200
    retry_after = None
    if request.method == "POST" and form.is_valid():
        request.keep_writes_on_error = True  # failures are audited and counted
        try:
            user_sessions.reauthenticate(
                request=request,
                membership=m,
                password=form.cleaned_data["password"],
                code=form.cleaned_data["code"],
            )
        except TooManyRequests as exc:
            form.add_error(None, exc.message)
            status = 429
            retry_after = exc.retry_after
        except DomainError as exc:
            details = exc.details if isinstance(exc.details, dict) else {}
            field = next((f for f in details if f in form.fields), None)
            form.add_error(field, exc.message)
            status = 400
        else:
            return redirect(target)
    elif request.method == "POST":
        status = 400
    response = render(
        request,
        "accounts/reauthenticate.html",
        {"form": form, "needs_code": needs_code},
        status=status,
    )
    if retry_after:
        response["Retry-After"] = str(retry_after)
    return response


@require_POST
@page_requires("organization.update")
@user_sessions.page_reauth_required
def session_policy(request):
    form = SessionPolicyForm(request.POST)
    if form.is_valid():
        try:
            user_sessions.session_policy_set(
                actor=request.membership,
                idle_minutes=form.cleaned_data["session_idle_minutes"],
                absolute_hours=form.cleaned_data["session_absolute_hours"],
            )
        except DomainError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, _("The session limits were saved."))
    else:
        for errors in form.errors.values():
            messages.error(request, errors[0])
    return redirect("web:members")
