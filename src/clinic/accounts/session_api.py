"""Your own browser sessions over the API (list, end one, end all others) and re-authentication
before sensitive actions. Every role may manage its own sessions (`token.manage_own`: one's own
credentials)."""

from datetime import datetime
from uuid import UUID

from ninja import Router, Schema, Status

from clinic.accounts import user_sessions
from clinic.api.auth import require

router = Router(tags=["me"])


class SessionOut(Schema):
    id: UUID
    created_at: datetime
    last_seen_at: datetime
    ip: str | None
    user_agent: str
    browser: str
    current: bool


class SessionsEnded(Schema):
    ended: int


class Reauthenticate(Schema):
    password: str
    code: str = ""


@router.get("/me/sessions", response=list[SessionOut])
@require("token.manage_own")
def sessions_list(request):
    """Your signed-in browser sessions, the one making this call marked `current`."""
    m = request.auth
    return [
        {
            "id": s.id,
            "created_at": s.created_at,
            "last_seen_at": s.last_seen_at,
            "ip": s.ip,
            "user_agent": s.user_agent,
            "browser": user_sessions.user_agent_summary(s.user_agent),
            "current": user_sessions.is_current(request, s),
        }
        for s in user_sessions.sessions_of_user(m.user, organization=m.organization)
    ]


@router.delete("/me/sessions/{session_id}", response={204: None})
@require("token.manage_own")
def session_revoke(request, session_id: UUID):
    """End one of your other sessions (404 for any id that is not one of yours)."""
    user_sessions.session_revoke(request=request, membership=request.auth, session_id=session_id)
    return Status(204, None)


@router.delete("/me/sessions", response=SessionsEnded)
@require("token.manage_own")
def sessions_revoke_others(request):
    """End all your sessions but the one making this call."""
    return {"ended": user_sessions.sessions_revoke_others(request=request, membership=request.auth)}


@router.post("/me/reauthenticate", response={204: None})
@require("token.manage_own")
def reauthenticate(request, payload: Reauthenticate):
    """Confirm your password (and a code when you have two-factor sign-in) so this browser
    session may run sensitive actions (exports, API tokens, role changes) for the next
    REAUTH_MINUTES; they answer 403 `reauthentication_required` otherwise."""
    request.keep_writes_on_error = True  # failures are audited and counted
    user_sessions.reauthenticate(
        request=request, membership=request.auth, password=payload.password, code=payload.code
    )
    return Status(204, None)
