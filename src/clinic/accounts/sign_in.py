"""Starting a session once a password was verified, the one way for every entry (the login form,
an accepted invitation): with two-factor sign-in turned on, the session waits for the second
factor unless this browser is remembered."""

from __future__ import annotations

from django.contrib.auth import login
from django.shortcuts import redirect
from django.utils import timezone

from clinic.accounts import two_factor
from clinic.accounts.middleware import SESSION_ORG_KEY
from clinic.accounts.models import Membership


def session_start(request, membership: Membership, target: str, *, verified: bool):
    login(request, membership.user, backend="clinic.accounts.backends.PasswordBackend")
    request.session[SESSION_ORG_KEY] = str(membership.organization_id)
    request.session[two_factor.SESSION_VERIFIED] = verified
    return redirect(target)


def sign_in(request, membership: Membership, target: str):
    """The response after a verified password: the target page, or the second step."""
    if two_factor.authenticator_of(membership.user) is None:
        return session_start(request, membership, target, verified=False)
    if two_factor.is_remembered(request, membership):
        return session_start(request, membership, target, verified=True)
    request.session[two_factor.SESSION_PENDING] = {
        "user_id": str(membership.user_id),
        "org_id": str(membership.organization_id),
        "next": target,
        "at": timezone.now().isoformat(),
    }
    return redirect("web:login_two_factor")
