"""Browser sessions of a user: lifetime limits, the list of one's own sessions, revoking them,
and re-authentication before sensitive actions (issue 18, hardening → sessions).

- **Lifetime.** A session ends after `Organization.session_idle_minutes` without a request
  (ASVS 3.3.2) and `Organization.session_absolute_hours` after signing in, whatever its use. The
  instants live in the session's own data, so checking them costs no query; the last-seen
  instant is written back at most once every `SESSION_TOUCH_SECONDS` (one session save and one
  `accounts_usersession` update, never a write per request).
- **Own sessions.** Each sign-in adds an `accounts_usersession` row (key digest, created, last
  seen, address, user agent), readable only by its user (row-level security on `app.user_id`).
  Revoking deletes the Django session through `app_user_sessions_end`, which checks in the
  database that the rows belong to the user in context.
- **Re-authentication.** Role changes, exports and API token creation need the password (and a
  code when the user has an authenticator) given within `REAUTH_MINUTES`: pages redirect to
  `/account/reauthenticate/` and come back; the API answers 403 `reauthentication_required` to a
  browser session. Bearer-token calls are exempt: the token was itself issued for the password
  (and second factor) to a non-browser client, is not sent by a browser on its own (no session
  riding or CSRF), and an integration cannot answer an interactive prompt; revoking the token
  is the control there.
"""

from __future__ import annotations

import functools
import time
from datetime import datetime, timedelta
from urllib.parse import urlencode

import ua_parser
from django.conf import settings
from django.contrib.auth import logout
from django.db import connection
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from clinic.accounts import throttle, two_factor
from clinic.accounts.models import Membership, Organization, User, UserSession
from clinic.accounts.selectors import token_hash
from clinic.audit.services import audit_record
from clinic.core.errors import NotAuthenticated, NotFound, PermissionDenied, ValidationFailed
from clinic.core.http import page_path, page_redirect
from clinic.core.tenancy import current_org_id, current_user_id, tenant_activate

# keys in the session's data
SESSION_ROW = "_us_row"  # the accounts_usersession id
SESSION_DIGEST = "_us_digest"  # the first 16 hex digits of the key's digest (a rotated key)
SESSION_STARTED = "_us_started"  # epoch seconds of signing in
SESSION_SEEN = "_us_seen"  # epoch seconds of the last request written back
SESSION_REAUTH = "_us_reauth"  # epoch seconds of the last re-authentication

DEFAULT_IDLE_MINUTES = 30
DEFAULT_ABSOLUTE_HOURS = 12


# A session key is stored as API tokens are: its SHA-256 (core.security's SQL uses the same).
key_digest = token_hash


def _epoch_instant(value: float) -> datetime:
    return datetime.fromtimestamp(value, tz=timezone.get_current_timezone())


def limits_of(organization: Organization | None) -> tuple[int, int]:
    """(idle seconds, absolute seconds) for a session in this organization."""
    if organization is None:
        return DEFAULT_IDLE_MINUTES * 60, DEFAULT_ABSOLUTE_HOURS * 3600
    return organization.session_idle_minutes * 60, organization.session_absolute_hours * 3600


# --- sign-in, sign-out, the rotated key ------------------------------------------------------


def session_register(request, user: User) -> None:
    """Record a new signed-in session (Django's `user_logged_in`: every way of signing in goes
    through `login()`, the test client's included)."""
    session = request.session
    if session.session_key is None:
        session.save()
    now = time.time()
    digest = key_digest(session.session_key)
    with connection.cursor() as cur:
        cur.execute(
            "SELECT app_user_session_start(%s, %s, %s, %s, %s)",
            [
                user.pk,
                digest,
                _epoch_instant(now),
                throttle.client_ip(request),
                request.META.get("HTTP_USER_AGENT", "")[:300],
            ],
        )
        (row_id,) = cur.fetchone()
    session[SESSION_ROW] = str(row_id) if row_id else None
    session[SESSION_DIGEST] = digest[:16]
    session[SESSION_STARTED] = now
    session[SESSION_SEEN] = now
    session.pop(SESSION_REAUTH, None)


def session_unregister(request, user: User | None) -> None:
    """Mark the session ended as it signs out (Django's `user_logged_out`, before the flush)."""
    session = getattr(request, "session", None)
    row = session.get(SESSION_ROW) if session is not None else None
    if row and user is not None:
        UserSession.objects.filter(id=row, user=user).update(ended_at=timezone.now())


def _key_rotated(request) -> None:
    """The key changed within the request (`cycle_key`: a password change keeps the session
    under a new key): the row follows."""
    session = request.session
    row = session.get(SESSION_ROW)
    if not row or session.session_key is None:
        return
    digest = key_digest(session.session_key)
    if session.get(SESSION_DIGEST) != digest[:16]:
        UserSession.objects.filter(id=row).update(key_hash=digest)
        session[SESSION_DIGEST] = digest[:16]


class SessionLifetimeMiddleware:
    """Ends a browser session that has been idle or open too long for its organization, and
    writes back its last request at most once every SESSION_TOUCH_SECONDS. Runs after
    ActiveMembershipMiddleware (the organization's limits come with the membership, no query).
    Bearer-token requests are not sessions and pass untouched."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if getattr(request, "api_token", None) is not None or not request.user.is_authenticated:
            return self.get_response(request)
        session = request.session
        now = time.time()
        if session.get(SESSION_STARTED) is None:
            session_register(request, request.user)  # signed in before sessions were recorded
        membership = getattr(request, "membership", None)
        idle, absolute = limits_of(membership.organization if membership else None)
        started = session[SESSION_STARTED]
        seen = session.get(SESSION_SEEN, started)
        if now - started > absolute or now - seen > idle:
            self._expire(request, "absolute" if now - started > absolute else "idle")
        elif now - seen >= settings.SESSION_TOUCH_SECONDS:
            session[SESSION_SEEN] = now
            row = session.get(SESSION_ROW)
            if row:
                UserSession.objects.filter(id=row).update(last_seen_at=_epoch_instant(now))
        response = self.get_response(request)
        if request.user.is_authenticated:
            _key_rotated(request)
        return response

    @staticmethod
    def _expire(request, reason: str) -> None:
        membership = getattr(request, "membership", None)
        audit_record(
            action="auth.session_expired",
            organization_id=membership.organization_id if membership else None,
            actor_id=request.user.pk,
            object_type="accounts_usersession",
            object_id=str(request.session.get(SESSION_ROW) or ""),
            details={"reason": reason},
        )
        logout(request)  # user_logged_out marks the row ended; the session is flushed
        request.membership = None
        request.memberships = []
        request.keep_writes_on_error = True  # the API then answers 401: keep the ending


# --- one's own sessions ----------------------------------------------------------------------


def user_agent_summary(agent: str) -> str:
    """'Firefox on Linux'-like words for a User-Agent header (ua-parser's regexes)."""
    parsed = ua_parser.parse(agent or "")
    browser = parsed.user_agent.family if parsed.user_agent else None
    system = parsed.os.family if parsed.os else None
    browser = None if browser == "Other" else browser
    system = None if system == "Other" else system
    if browser and system:
        return _("%(browser)s on %(system)s") % {"browser": browser, "system": system}
    return browser or system or _("Unknown browser")


def sessions_of_user(user: User, *, organization: Organization | None = None) -> list[UserSession]:
    """The user's open sessions, most recently used first (the user must be in context).
    Sessions past their limits are left out even before anything ended them."""
    idle, absolute = limits_of(organization)
    now = timezone.now()
    slack = timedelta(seconds=settings.SESSION_TOUCH_SECONDS)
    return list(
        UserSession.objects.filter(
            user=user,
            ended_at__isnull=True,
            created_at__gt=now - timedelta(seconds=absolute),
            last_seen_at__gt=now - timedelta(seconds=idle) - slack,
        ).order_by("-last_seen_at", "-created_at")
    )


def is_current(request, row: UserSession) -> bool:
    key = request.session.session_key if getattr(request, "api_token", None) is None else None
    return bool(key) and row.key_hash == key_digest(key)


def _as_user(user: User):
    """Put `user` in context for the rows of their sessions; returns the previous user id."""
    previous = current_user_id()
    if previous != user.pk:
        tenant_activate(current_org_id(), user.pk)
    return previous


def _end(user: User, ids: list) -> int:
    if not ids:
        return 0
    with connection.cursor() as cur:
        cur.execute("SELECT app_user_sessions_end(%s::uuid[], %s)", [ids, timezone.now()])
        (count,) = cur.fetchone()
    return count


def sessions_end_for_user(user: User, *, keep_key: str | None = None, reason: str = "") -> int:
    """End every open session of `user` but the one whose key is `keep_key` (the caller's own,
    which a password change then rotates). Returns how many ended; audited."""
    previous = _as_user(user)
    try:
        keep = key_digest(keep_key) if keep_key else None
        rows = UserSession.objects.filter(user=user, ended_at__isnull=True)
        if keep:
            rows = rows.exclude(key_hash=keep)
        count = _end(user, list(rows.values_list("id", flat=True)))
    finally:
        if previous != user.pk:
            tenant_activate(current_org_id(), previous)
    audit_record(
        action="auth.sessions_ended",
        organization_id=current_org_id(),
        actor_id=previous or user.pk,
        object_type="accounts_user",
        object_id=str(user.pk),
        details={"count": count, "reason": reason, "kept_current": bool(keep_key)},
    )
    return count


def session_revoke(*, request, membership: Membership, session_id) -> None:
    """End one of one's own other sessions. Another user's, an ended one or an unknown id:
    404 (the row is not visible to the caller at all)."""
    row = UserSession.objects.filter(
        id=session_id, user=membership.user, ended_at__isnull=True
    ).first()
    if row is None:
        raise NotFound(_("Session not found."))
    if is_current(request, row):
        raise ValidationFailed(
            _("This is the session you are using: sign out instead."),
            details={"session_id": [_("current session")]},
        )
    _end(membership.user, [row.id])
    audit_record(
        action="auth.session_revoked",
        organization_id=membership.organization_id,
        actor_id=membership.user_id,
        object_type="accounts_usersession",
        object_id=str(row.id),
        details={"ip": row.ip, "user_agent": user_agent_summary(row.user_agent)},
    )


def sessions_revoke_others(*, request, membership: Membership) -> int:
    """End all one's sessions but the current one (a bearer call keeps none)."""
    keep = request.session.session_key if getattr(request, "api_token", None) is None else None
    return sessions_end_for_user(membership.user, keep_key=keep, reason="revoked by the user")


# --- re-authentication -----------------------------------------------------------------------


def reauth_fresh(request) -> bool:
    at = request.session.get(SESSION_REAUTH)
    return at is not None and 0 <= time.time() - at <= settings.REAUTH_MINUTES * 60


def reauth_require(request) -> None:
    """For API handlers of sensitive actions: a browser session must have re-authenticated
    within REAUTH_MINUTES (403 `reauthentication_required`); bearer tokens are exempt (see the
    module's docstring)."""
    if getattr(request, "api_token", None) is not None or reauth_fresh(request):
        return
    raise PermissionDenied(
        _("Confirm your password to continue (POST /api/v1/me/reauthenticate)."),
        code="reauthentication_required",
        details={"reauthenticate": "/api/v1/me/reauthenticate"},
    )


def reauth_redirect(request):
    """To `/account/reauthenticate/`, then back: to this page for a GET, to the referring page
    for a POST (whose form is then sent again)."""
    back = page_path(request)
    if request.method != "GET":
        referer = request.headers.get("Referer", "")
        host = request.get_host()
        back = referer.split(host, 1)[1] if host in referer else reverse("web:home")
    return page_redirect(
        request, reverse("accounts:reauthenticate") + "?" + urlencode({"next": back})
    )


def page_reauth_required(view):
    """For pages of sensitive actions (inside `page_requires`): without a recent
    re-authentication, to the re-authentication page and back."""

    @functools.wraps(view)
    def wrapper(request, *args, **kwargs):
        if reauth_fresh(request):
            return view(request, *args, **kwargs)
        return reauth_redirect(request)

    return wrapper


def needs_code(user: User) -> bool:
    return two_factor.authenticator_of(user) is not None


def reauthenticate(*, request, membership: Membership, password: str, code: str = "") -> None:
    """Check the password (and a code from the authenticator, or a recovery code, when the user
    has one) and mark the session re-authenticated. A failure is audited and counted by the
    login throttle like a failed sign-in (the caller keeps the writes of a refusal)."""
    user = membership.user
    tenant_activate(membership.organization_id, membership.user_id)
    throttle.login_throttle_check(request, user.email)

    def failed(step: str, field: str, message: str):
        audit_record(
            action="auth.reauthentication_failed",
            organization_id=membership.organization_id,
            actor_id=user.pk,
            object_type="accounts_user",
            object_id=str(user.pk),
            details={"step": step},
        )
        return ValidationFailed(message, details={field: [message]})

    if not password or not user.check_password(password):
        exc = failed("password", "password", _("Your password is not right."))
        throttle.login_failure_record(request, user.email)
        refusal = throttle.login_locked_now(request)
        raise refusal or exc
    if needs_code(user):
        if not code:
            raise failed("code", "code", _("A code from your authenticator app is required."))
        try:
            two_factor.verify(request=request, membership=membership, code=code)
        except NotAuthenticated as exc:
            raise failed("code", "code", exc.message) from exc
    request.session[SESSION_REAUTH] = time.time()
    audit_record(
        action="auth.reauthenticated",
        organization_id=membership.organization_id,
        actor_id=user.pk,
        object_type="accounts_user",
        object_id=str(user.pk),
    )


# --- the organization's limits ---------------------------------------------------------------


def session_policy_set(*, actor: Membership, idle_minutes: int, absolute_hours: int) -> None:
    if not actor.has("organization.update"):
        raise PermissionDenied(_("Your role does not allow this (organization.update)."))
    errors = {}
    if not 5 <= idle_minutes <= 480:
        errors["session_idle_minutes"] = [_("Between 5 and 480 minutes.")]
    if not 1 <= absolute_hours <= 72:
        errors["session_absolute_hours"] = [_("Between 1 and 72 hours.")]
    if errors:
        raise ValidationFailed(next(iter(errors.values()))[0], details=errors)
    org = actor.organization
    before = {
        "idle_minutes": org.session_idle_minutes,
        "absolute_hours": org.session_absolute_hours,
    }
    org.session_idle_minutes = idle_minutes
    org.session_absolute_hours = absolute_hours
    org.save(update_fields=["session_idle_minutes", "session_absolute_hours"])
    audit_record(
        action="organization.session_policy_changed",
        organization_id=org.id,
        actor_id=actor.user_id,
        object_type="accounts_organization",
        object_id=str(org.id),
        details={
            "before": before,
            "after": {"idle_minutes": idle_minutes, "absolute_hours": absolute_hours},
        },
    )
