from __future__ import annotations

from django.contrib.auth import login, logout
from django.http import JsonResponse
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from clinic.accounts import selectors as account_selectors
from clinic.accounts.middleware import SESSION_ORG_KEY
from clinic.accounts.services import login_verify, membership_for_org
from clinic.audit import selectors as audit_selectors
from clinic.core.errors import DomainError, TooManyRequests
from clinic.web.access import page_requires
from clinic.web.forms import LoginForm


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
            login(request, membership.user, backend="clinic.accounts.backends.PasswordBackend")
            request.session[SESSION_ORG_KEY] = str(membership.organization_id)
            target = request.GET.get("next") or ""
            if not url_has_allowed_host_and_scheme(target, {request.get_host()}):
                target = "web:home"
            return redirect(target)
    elif request.method == "POST":
        status = 400
    response = render(request, "web/login.html", {"form": form}, status=status)
    if retry_after:
        response["Retry-After"] = str(retry_after)
    return response


@require_POST
def logout_view(request):
    logout(request)
    return redirect("web:login")


@page_requires("home.view")
def home(request):
    return render(request, "web/home.html", {"membership": request.membership})


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
    return render(
        request, "web/members.html", {"memberships": account_selectors.memberships_list()}
    )


@page_requires("audit.view")
def audit(request):
    events = list(
        audit_selectors.audit_events_list(object_type=request.GET.get("object_type") or None)[:100]
    )
    return render(request, "web/audit.html", {"events": events})


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
