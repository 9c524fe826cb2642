"""Staff administration over the API: invitations (send, list, resend, revoke, accept) and
members (list, change role, deactivate/reactivate). Rules live in accounts.services."""

from uuid import UUID

from ninja import Router, Status
from ninja.pagination import paginate

from clinic.accounts import selectors, services, user_sessions
from clinic.accounts.roles import REAUTH_TO_GRANT
from clinic.accounts.schemas import (
    InvitationAccept,
    InvitationAccepted,
    InvitationIn,
    InvitationOut,
    MemberOut,
    MemberPatch,
)
from clinic.api.auth import require
from clinic.api.pagination import PagePagination

router = Router(tags=["members"])


@router.post("/invitations", response={201: InvitationOut})
@require("membership.manage")
def invitation_send(request, payload: InvitationIn):
    """Invite someone by email with a role your role may grant (403 otherwise). The email holds
    a single-use link valid 7 days. 409 `already_member` or `invitation_pending`."""
    if payload.role in REAUTH_TO_GRANT:
        user_sessions.reauth_require(request)
    issued = services.invitation_send(actor=request.auth, email=payload.email, role=payload.role)
    issued.invitation.invited_by = request.auth
    return Status(201, issued.invitation)


@router.get("/invitations", response=list[InvitationOut])
@require("membership.manage")
@paginate(PagePagination)
def invitations_list(request):
    """Invitations not yet accepted or revoked (pending or expired), newest first."""
    return selectors.invitations_open()


@router.post("/invitations/accept", auth=None, response={201: InvitationAccepted})
def invitation_accept(request, payload: InvitationAccept):
    """Accept an invitation (public; throttled). 400 `invitation_invalid` for an unknown link;
    410 `invitation_expired`, `invitation_used` or `invitation_revoked`; 422 naming the broken
    password rule."""
    membership = services.invitation_accept(
        request=request, token=payload.token, password=payload.password, name=payload.name
    )
    return Status(
        201,
        {
            "id": membership.id,
            "user": membership.user,
            "organization": membership.organization,
            "role": membership.role,
        },
    )


@router.post("/invitations/{invitation_id}/resend", response=InvitationOut)
@require("membership.manage")
def invitation_resend(request, invitation_id: UUID):
    """Send again with a new link (the previous one stops working), valid 7 more days."""
    invitation = services.invitation_for_actor(request.auth, invitation_id)
    issued = services.invitation_resend(actor=request.auth, invitation=invitation)
    return issued.invitation


@router.post("/invitations/{invitation_id}/revoke", response=InvitationOut)
@require("membership.manage")
def invitation_revoke(request, invitation_id: UUID):
    invitation = services.invitation_for_actor(request.auth, invitation_id)
    return services.invitation_revoke(actor=request.auth, invitation=invitation)


@router.get("/members", response=list[MemberOut])
@require("membership.view")
@paginate(PagePagination)
def members_list(request):
    return selectors.memberships_list()


@router.patch("/members/{membership_id}", response=MemberOut)
@require("membership.manage")
def member_update(request, membership_id: UUID, payload: MemberPatch):
    """Change a member's role and/or set `active`. 403 for your own membership or a role above
    yours; 409 `last_owner`. Deactivation ends the member's tokens and sessions at once. From a
    browser session, re-authenticate first."""
    target = services.member_for_actor(request.auth, membership_id)
    user_sessions.reauth_require(request)
    return services.member_update(
        actor=request.auth, target=target, role=payload.role, active=payload.active
    )
