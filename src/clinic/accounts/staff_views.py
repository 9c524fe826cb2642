"""Staff administration pages: invitations and member controls (on the members page), the
public invitation acceptance page, and the organization settings page with its logo. Rules
live in accounts.services; these views parse forms and show the outcome."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from clinic.accounts import services, user_sessions
from clinic.accounts.forms import InvitationAcceptForm, OrganizationSettingsForm
from clinic.accounts.models import Organization, User
from clinic.accounts.roles import REAUTH_TO_GRANT, staff_roles_grantable
from clinic.accounts.sign_in import sign_in
from clinic.billing import services as billing_services
from clinic.core.errors import DomainError, NotFound, TooManyRequests
from clinic.web.access import page_requires
from clinic.web.forms import InvitationForm


def _domain_message(request, exc: DomainError) -> None:
    details = exc.details if isinstance(exc.details, dict) else {}
    extra = [str(m) for v in details.values() if isinstance(v, list) for m in v]
    messages.error(request, exc.message if not extra else f"{exc.message} ({', '.join(extra)})")


@require_POST
@page_requires("membership.manage")
def invitation_send(request):
    form = InvitationForm(request.POST, roles=staff_roles_grantable(request.membership.role))
    if not form.is_valid():
        for field, errors in form.errors.items():
            for error in errors:
                messages.error(request, f"{form.fields[field].label}: {error}")
        return redirect("web:members")
    if form.cleaned_data["role"] in REAUTH_TO_GRANT and not user_sessions.reauth_fresh(request):
        return user_sessions.reauth_redirect(request)
    try:
        services.invitation_send(
            actor=request.membership,
            email=form.cleaned_data["email"],
            role=form.cleaned_data["role"],
        )
    except DomainError as exc:
        if isinstance(exc, NotFound):
            raise
        _domain_message(request, exc)
    else:
        messages.success(
            request,
            _("Invitation sent to %(email)s.") % {"email": form.cleaned_data["email"].lower()},
        )
    return redirect("web:members")


@require_POST
@page_requires("membership.manage")
def invitation_action(request, invitation_id, action: str):
    invitation = services.invitation_for_actor(request.membership, invitation_id)
    try:
        if action == "resend":
            services.invitation_resend(actor=request.membership, invitation=invitation)
            messages.success(
                request, _("Invitation sent again to %(email)s.") % {"email": invitation.email}
            )
        else:
            services.invitation_revoke(actor=request.membership, invitation=invitation)
            messages.success(
                request, _("Invitation to %(email)s revoked.") % {"email": invitation.email}
            )
    except DomainError as exc:
        _domain_message(request, exc)
    return redirect("web:members")


@require_POST
@page_requires("membership.manage")
@user_sessions.page_reauth_required
def member_update(request, membership_id):
    """`role`: change the member's role; `active` ("0"/"1"): deactivate or reactivate."""
    target = services.member_for_actor(request.membership, membership_id)
    role = request.POST.get("role") or None
    active = {"0": False, "1": True}.get(request.POST.get("active", ""))
    try:
        services.member_update(actor=request.membership, target=target, role=role, active=active)
    except DomainError as exc:
        _domain_message(request, exc)
    else:
        messages.success(request, _("%(email)s was updated.") % {"email": target.user.email})
    return redirect("web:members")


@require_http_methods(["GET", "POST"])
def invitation_accept(request, token: str):
    """Public: the link from the invitation email. Shows whom the invitation is for; the person
    sets their name and password (or gives their existing password) and is signed in."""
    form = InvitationAcceptForm(request.POST or None)
    status = 200
    invitation = services.unscoped_invitation_by_token(token)
    try:
        services.invitation_usable(invitation)
    except DomainError as exc:
        response = render(
            request,
            "accounts/invitation_accept.html",
            {"problem": exc.message},
            status=exc.status,
        )
        response["Cache-Control"] = "no-store"
        return response
    existing = User.objects.filter(email=invitation.email).exists()
    if request.method == "POST":
        status = 422
        if form.is_valid():
            try:
                membership = services.invitation_accept(
                    request=request,
                    token=token,
                    password=form.cleaned_data["password"],
                    name=form.cleaned_data["name"],
                )
            except TooManyRequests as exc:
                form.add_error(None, exc.message)
                status = 429
            except DomainError as exc:
                details = exc.details if isinstance(exc.details, dict) else {}
                if "password" in details:
                    for error in details["password"]:
                        form.add_error("password", error)
                else:
                    form.add_error(None, exc.message)
                status = exc.status if 400 <= exc.status < 500 else 400
            else:
                messages.success(
                    request,
                    _("Welcome to %(organization)s.")
                    % {"organization": membership.organization.name},
                )
                # an existing account with two-factor sign-in still gives its second factor
                return sign_in(request, membership, "web:home")
    response = render(
        request,
        "accounts/invitation_accept.html",
        {"form": form, "invitation": invitation, "existing": existing},
        status=status,
    )
    # the token is in this page's address: not cached; the site-wide Referrer-Policy
    # (same-origin) keeps it from other sites
    response["Cache-Control"] = "no-store"
    return response


def _settings_initial(org: Organization, terms: int) -> dict:
    fields = (
        "name address phone email registration_number tax_number time_zone default_locale "
        "currency bank_iban bank_bic"
    ).split()
    return {**{f: getattr(org, f) for f in fields}, "payment_terms_days": terms}


@require_http_methods(["GET", "POST"])
@page_requires("organization.update")
def organization_settings(request):
    """Owner/admin: the clinic's details, regional settings, invoice terms, bank details and
    logo. Saving asks for the password again (re-authentication) when it was not given lately."""
    m = request.membership
    org = m.organization
    locales = Organization._meta.get_field("default_locale").choices
    billing = billing_services.billing_settings_get(org.id)
    if request.method == "POST" and not user_sessions.reauth_fresh(request):
        return user_sessions.reauth_redirect(request)
    form = OrganizationSettingsForm(
        request.POST or None,
        request.FILES or None,
        initial=_settings_initial(org, billing.payment_terms_days),
        locales=locales,
    )
    status = 200
    if request.method == "POST":
        status = 422
        if form.is_valid():
            data = dict(form.cleaned_data)
            logo = data.pop("logo")
            remove = data.pop("logo_remove")
            terms = data.pop("payment_terms_days")
            try:
                services.organization_settings_update(actor=m, data=data)
                if terms != billing.payment_terms_days:
                    billing_services.billing_settings_update(
                        actor=m, data={"payment_terms_days": terms}
                    )
                if logo is not None:
                    # at most one byte over the limit is read: enough to refuse a larger file
                    services.organization_logo_set(
                        actor=m, data=logo.read(services.LOGO_MAX_BYTES + 1)
                    )
                elif remove and org.logo:
                    services.organization_logo_set(actor=m, data=None)
            except DomainError as exc:
                details = exc.details if isinstance(exc.details, dict) else {}
                for field, errors in details.items():
                    for error in errors if isinstance(errors, list) else [errors]:
                        form.add_error(field if field in form.fields else None, str(error))
                if not details:
                    form.add_error(None, exc.message)
            else:
                messages.success(request, _("The organization settings were saved."))
                return redirect("accounts:organization_settings")
    return render(
        request,
        "accounts/organization_settings.html",
        {"form": form, "organization": org, "zones": sorted(_zones())},
        status=status,
    )


def _zones():
    import zoneinfo

    return zoneinfo.available_timezones()


@page_requires("organization.view")
def organization_logo(request):
    """The logo, to members of the organization only (never a public URL)."""
    found = services.organization_logo_open(request.membership.organization)
    if found is None:
        raise NotFound(_("No logo."))
    data, content_type = found
    response = HttpResponse(data, content_type=content_type)
    response["Cache-Control"] = "private, max-age=300"
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Disposition"] = "inline"
    return response
