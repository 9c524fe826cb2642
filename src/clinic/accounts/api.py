from uuid import UUID

from django.contrib.auth import update_session_auth_hash
from django.utils.translation import gettext as _
from ninja import Router, Status
from ninja.pagination import paginate

from clinic.accounts import selectors, services, two_factor, user_sessions
from clinic.accounts.schemas import (
    MeOut,
    PasswordChange,
    TokenCreated,
    TokenName,
    TokenOut,
    TokenRequest,
)
from clinic.api.auth import require
from clinic.api.pagination import PagePagination
from clinic.core.errors import NotFound, ValidationFailed

router = Router(tags=["auth"])


@router.post("/auth/token", auth=None, response={201: TokenCreated})
def token_create(request, payload: TokenRequest):
    """Exchange email, password and organization slug — and, for a user with two-factor sign-in
    on, a code (`code`) — for a bearer token. Without the code such a user gets 401
    `two_factor_required`; a member whose organization requires two-factor sign-in and who has
    not set it up gets 403 `two_factor_enrolment_required`."""
    request.keep_writes_on_error = True  # failed attempts are counted and audited
    membership = services.login_verify(
        request=request,
        email=payload.email,
        password=payload.password,
        organization_slug=payload.organization,
    )
    two_factor.token_gate(request=request, membership=membership, code=payload.code)
    issued = services.token_create(membership=membership, name=payload.name)
    return Status(201, {"token": issued.raw, "expires_at": issued.token.expires_at})


@router.delete("/auth/token", response={204: None})
@require("token.manage_own")
def token_revoke_current(request):
    """Revoke the token this request is authenticated with."""
    if request.api_token is None:
        raise ValidationFailed(
            _("This request is not authenticated with a token."),
            details={"Authorization": [_("bearer token required")]},
        )
    services.token_revoke(token=request.api_token)
    return Status(204, None)


@router.post("/auth/tokens", response={201: TokenCreated})
@require("token.manage_own")
def token_create_another(request, payload: TokenName):
    """A further token for yourself (e.g. one per integration), shown once."""
    user_sessions.reauth_require(request)  # a browser session: the password again first
    two_factor.token_gate(request=request, membership=request.auth, code=None, signed_in=True)
    issued = services.token_create(membership=request.auth, name=payload.name)
    return Status(201, {"token": issued.raw, "expires_at": issued.token.expires_at})


@router.get("/auth/tokens", response=list[TokenOut])
@require("token.manage_own")
@paginate(PagePagination)
def tokens_list(request):
    """Your tokens in this organization (never their secrets)."""
    return selectors.tokens_of_membership(request.auth)


@router.delete("/auth/tokens/{token_id}", response={204: None})
@require("token.manage_own")
def token_revoke(request, token_id: UUID):
    token = selectors.tokens_of_membership(request.auth).filter(id=token_id).first()
    if token is None:
        raise NotFound(_("Token not found."))
    services.token_revoke(token=token)
    return Status(204, None)


@router.get("/me", response=MeOut, tags=["me"])
def me(request):
    m = request.auth
    return {
        "user": m.user,
        "organization": m.organization,
        "role": m.role,
        "permissions": sorted(m.permissions),
    }


@router.post("/me/password", response={204: None}, tags=["me"])
def password_change(request, payload: PasswordChange):
    """Change your password: the current one, then a new one that meets the password policy
    (422 naming `current_password` or `new_password` otherwise). Your other sessions end."""
    request.keep_writes_on_error = True  # a wrong current password counts as a failed login
    services.user_password_change(
        request=request,
        user=request.auth.user,
        current_password=payload.current_password,
        new_password=payload.new_password,
    )
    if request.user.is_authenticated and request.user.pk == request.auth.user_id:
        update_session_auth_hash(request, request.auth.user)
    return Status(204, None)
