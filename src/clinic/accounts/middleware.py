from __future__ import annotations

from django.http import JsonResponse
from django.utils.translation import gettext as _

from clinic.accounts import two_factor
from clinic.accounts.selectors import memberships_of_user, unscoped_token_resolve
from clinic.core.errors import error_body
from clinic.core.http import page_redirect
from clinic.core.middleware import bearer_token
from clinic.core.tenancy import tenant_activate

SESSION_ORG_KEY = "active_org_id"


class ActiveMembershipMiddleware:
    """Finds who is acting and for which organization, and sets the tenant for the request.

    - `Authorization: Bearer <token>`: the token's membership (API clients).
    - otherwise the session's user, in the organization chosen in the session (web pages and
      the browser calling the API; CSRF is enforced for those by the API's auth).
    Sets `request.membership` (or None), `request.memberships` (lazily, for the switcher) and
    `request.api_token`.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request.membership = None
        request.api_token = None
        request.memberships = []
        secret = bearer_token(request)
        if secret is not None:
            # Authenticates and sets the tenant (request metadata included) in one round trip.
            token = unscoped_token_resolve(
                secret, settings=request.__dict__.pop("db_settings_pending", None)
            )
            if token is not None:
                request.api_token = token
                request.membership = token.membership
                self._log_as(request, token.membership)
            return self.get_response(request)
        if request.user.is_authenticated:
            memberships = memberships_of_user(request.user)
            request.memberships = memberships
            wanted = request.session.get(SESSION_ORG_KEY)
            chosen = next((m for m in memberships if str(m.organization_id) == wanted), None)
            request.membership = chosen or (memberships[0] if memberships else None)
        if request.membership is not None:
            m = request.membership
            tenant_activate(m.organization_id, m.user_id)
            self._log_as(request, m)
        return self.get_response(request)

    @staticmethod
    def _log_as(request, membership) -> None:
        request.log_org_id = membership.organization_id
        request.log_user_id = membership.user_id


# Paths a member who must set up two-factor sign-in may still reach (the set-up itself, signing
# out, changing the language, static files).
TWO_FACTOR_OPEN_PATHS = ("/account/two-factor/", "/logout/", "/i18n/", "/static/", "/login/")


class TwoFactorMiddleware:
    """A browser session whose organization requires a second factor of this member, and who
    has not given one in this session, reaches only the two-factor set-up: pages redirect there,
    the API answers 403 `two_factor_required`. (A user who has an authenticator gets a session
    only after the code; see `clinic.web.views.login_view`.) Bearer tokens are checked when they
    are issued."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        m = request.membership
        if (
            m is not None
            and request.api_token is None
            and not request.session.get(two_factor.SESSION_VERIFIED)
            and two_factor.is_required(m)
            and not request.path.startswith(TWO_FACTOR_OPEN_PATHS)
        ):
            if request.path.startswith("/api/"):
                return JsonResponse(
                    error_body(
                        "two_factor_required",
                        _("Your organization requires two-factor sign-in: set it up first."),
                    ),
                    status=403,
                )
            return page_redirect(request, "accounts:two_factor")
        return self.get_response(request)
