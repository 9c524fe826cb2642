"""Two-factor pages: set-up with a QR code, recovery codes, turning it off, an owner/admin
resetting a member's, and the organization's requirement. The sign-in step itself is
`clinic.web.views.login_two_factor`."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from clinic.accounts import two_factor
from clinic.accounts.forms import TwoFactorCodeForm, TwoFactorDisableForm
from clinic.accounts.models import Membership
from clinic.core.errors import DomainError, NotFound, TooManyRequests
from clinic.web.access import page_requires
from clinic.web.forms import TwoFactorPolicyForm

ENROL_PATH = "/account/two-factor/"


def _status_of(exc: DomainError) -> int:
    return exc.status if 400 <= exc.status < 500 else 400


def _form_error(form, exc: DomainError, field: str = "code") -> None:
    details = exc.details if isinstance(exc.details, dict) else {}
    if isinstance(exc, TooManyRequests) or not details:
        form.add_error(None, exc.message)
        return
    for name in details:
        form.add_error(name if name in form.fields else field, exc.message)


def _recovery_codes_page(request, codes: list[str], *, enrolled: bool):
    response = render(
        request,
        "accounts/two_factor_codes.html",
        {"codes": codes, "enrolled": enrolled},
    )
    response["Cache-Control"] = "no-store"
    return response


@require_http_methods(["GET", "POST"])
@page_requires()
def two_factor_home(request):
    """Set up (QR code and secret, confirmed with a code) or, once on, its state and actions."""
    m = request.membership
    user = m.user
    device = two_factor.authenticator_of(user)
    if device is not None:
        return render(
            request,
            "accounts/two_factor.html",
            {
                "codes_left": two_factor.recovery_codes_left(user),
                "code_form": TwoFactorCodeForm(prefix="codes"),
                "disable_form": TwoFactorDisableForm(prefix="off"),
                "required": two_factor.is_required(m),
            },
        )
    key_hex = two_factor.enrolment_key_from_cookie(
        request.COOKIES.get(two_factor.ENROL_COOKIE), user
    )
    fresh = key_hex is None
    if fresh:
        key_hex = two_factor.enrolment_key_new()
    form = TwoFactorCodeForm(request.POST or None)
    status = 200
    if request.method == "POST" and form.is_valid():
        request.keep_writes_on_error = True  # wrong codes are counted and audited
        try:
            codes = two_factor.enrolment_confirm(
                request=request, membership=m, key_hex=key_hex, code=form.cleaned_data["code"]
            )
        except DomainError as exc:
            _form_error(form, exc)
            status = _status_of(exc)
        else:
            request.session[two_factor.SESSION_VERIFIED] = True
            response = _recovery_codes_page(request, codes, enrolled=True)
            response.delete_cookie(two_factor.ENROL_COOKIE, path=ENROL_PATH)
            return response
    elif request.method == "POST":
        status = 400
    response = render(
        request,
        "accounts/two_factor_enrol.html",
        {
            "form": form,
            "enrolment": two_factor.enrolment_show(membership=m, key_hex=key_hex),
            "required": two_factor.is_required(m),
        },
        status=status,
    )
    response["Cache-Control"] = "no-store"
    if fresh:
        response.set_cookie(
            two_factor.ENROL_COOKIE,
            two_factor.enrolment_cookie_value(key_hex, user),
            max_age=two_factor.ENROL_COOKIE_MAX_AGE,
            path=ENROL_PATH,
            secure=settings.SESSION_COOKIE_SECURE,
            httponly=True,
            samesite="Strict",
        )
    return response


@require_POST
@page_requires()
def two_factor_recovery_codes(request):
    m = request.membership
    form = TwoFactorCodeForm(request.POST, prefix="codes")
    if form.is_valid():
        request.keep_writes_on_error = True
        try:
            codes = two_factor.recovery_codes_regenerate(
                request=request, membership=m, code=form.cleaned_data["code"]
            )
        except DomainError as exc:
            _form_error(form, exc)
            status = _status_of(exc)
        else:
            return _recovery_codes_page(request, codes, enrolled=False)
    else:
        status = 400
    return render(
        request,
        "accounts/two_factor.html",
        {
            "codes_left": two_factor.recovery_codes_left(m.user),
            "code_form": form,
            "disable_form": TwoFactorDisableForm(prefix="off"),
            "required": two_factor.is_required(m),
        },
        status=status,
    )


@require_POST
@page_requires()
def two_factor_disable(request):
    m = request.membership
    form = TwoFactorDisableForm(request.POST, prefix="off")
    if form.is_valid():
        request.keep_writes_on_error = True
        try:
            two_factor.disable(
                request=request,
                membership=m,
                password=form.cleaned_data["password"],
                code=form.cleaned_data["code"],
            )
        except DomainError as exc:
            _form_error(form, exc)
            status = _status_of(exc)
        else:
            request.session[two_factor.SESSION_VERIFIED] = False
            messages.success(request, _("Two-factor sign-in is off."))
            response = redirect("accounts:two_factor")
            response.delete_cookie(two_factor.REMEMBER_COOKIE)
            return response
    else:
        status = 400
    return render(
        request,
        "accounts/two_factor.html",
        {
            "codes_left": two_factor.recovery_codes_left(m.user),
            "code_form": TwoFactorCodeForm(prefix="codes"),
            "disable_form": form,
            "required": two_factor.is_required(m),
        },
        status=status,
    )


@require_POST
@page_requires("membership.reset_two_factor")
def member_two_factor_reset(request, membership_id):
    target = (
        Membership.objects.select_related("user")
        .filter(id=membership_id, organization_id=request.membership.organization_id)
        .first()
    )
    if target is None:
        raise NotFound(_("Member not found."))
    try:
        two_factor.reset(actor=request.membership, target=target)
    except DomainError as exc:
        if isinstance(exc, NotFound):
            raise
        messages.error(request, exc.message)
    else:
        messages.success(
            request,
            _("Two-factor sign-in of %(email)s was reset.") % {"email": target.user.email},
        )
    return redirect("web:members")


@require_POST
@page_requires("organization.update")
def two_factor_policy(request):
    form = TwoFactorPolicyForm(request.POST)
    if form.is_valid():
        try:
            two_factor.policy_set(
                actor=request.membership, policy=form.cleaned_data["two_factor_required"]
            )
        except DomainError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, _("The two-factor requirement was saved."))
    else:
        messages.error(request, _("Unknown choice."))
    return redirect("web:members")
