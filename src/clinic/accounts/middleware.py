from __future__ import annotations

from clinic.accounts.selectors import memberships_of_user, unscoped_token_resolve
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
        header = request.headers.get("Authorization", "")
        if header[:7].lower() == "bearer ":
            token = unscoped_token_resolve(header[7:].strip()) if header[7:].strip() else None
            if token is not None:
                request.api_token = token
                request.membership = token.membership
        elif request.user.is_authenticated:
            memberships = memberships_of_user(request.user)
            request.memberships = memberships
            wanted = request.session.get(SESSION_ORG_KEY)
            chosen = next((m for m in memberships if str(m.organization_id) == wanted), None)
            request.membership = chosen or (memberships[0] if memberships else None)
        if request.membership is not None:
            m = request.membership
            tenant_activate(m.organization_id, m.user_id)
            request.log_org_id = m.organization_id
            request.log_user_id = m.user_id
        return self.get_response(request)
