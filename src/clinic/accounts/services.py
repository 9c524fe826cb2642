from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth import authenticate
from django.contrib.auth.password_validation import validate_password
from django.contrib.auth.tokens import PasswordResetTokenGenerator
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.mail import EmailMessage
from django.core.validators import EmailValidator
from django.db import IntegrityError, transaction
from django.http import JsonResponse
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from clinic.accounts import throttle, user_sessions
from clinic.accounts.models import (
    ApiToken,
    Invitation,
    Membership,
    Organization,
    User,
    validate_time_zone,
)
from clinic.accounts.roles import STAFF_ROLES, Role, roles_grantable
from clinic.accounts.selectors import memberships_of_user, organization_by_slug, token_hash
from clinic.audit.services import audit_record
from clinic.core import timefmt
from clinic.core.errors import (
    Conflict,
    DomainError,
    Gone,
    NotAuthenticated,
    NotFound,
    PermissionDenied,
    TooManyRequests,
    ValidationFailed,
)
from clinic.core.tenancy import tenant_activate, token_hash_activate


def lockout_response(request, credentials, *args, **kwargs):
    """django-axes lockout: one clear message, 429, for pages and the API alike."""
    hours = settings.AXES_COOLOFF_TIME
    message = _("Too many failed login attempts. Try again in %(minutes)d minutes.") % {
        "minutes": round(hours * 60)
    }
    body = {"error": {"code": "too_many_attempts", "message": message, "details": None}}
    response = JsonResponse(body, status=429)
    response["Retry-After"] = str(int(hours * 3600))
    return response


def organization_create(
    *,
    slug: str,
    name: str,
    time_zone: str = "UTC",
    currency: str = "EUR",
    default_locale: str = "en",
) -> Organization:
    errors: dict[str, list[str]] = {}
    try:
        validate_time_zone(time_zone)
    except ValidationError as exc:
        errors["time_zone"] = exc.messages
    org = Organization(
        slug=slug,
        name=name,
        time_zone=time_zone,
        currency=currency.upper(),
        default_locale=default_locale,
    )
    try:
        org.full_clean(validate_unique=False)
    except ValidationError as exc:
        for field, msgs in exc.message_dict.items():
            errors.setdefault(field, []).extend(msgs)
    if errors:
        raise ValidationFailed(_("The organization is not valid."), details=errors)
    with transaction.atomic():
        # The audit trigger writes the organization's own id: act for it before inserting.
        tenant_activate(org.id)
        try:
            with transaction.atomic():
                org.save(force_insert=True)
        except IntegrityError as exc:
            raise Conflict(
                _("An organization with the slug %(slug)s already exists.") % {"slug": slug},
                details={"slug": [_("already taken")]},
            ) from exc
    return org


def password_validate(password: str, *, user: User, field: str = "password") -> None:
    """The password policy (settings.AUTH_PASSWORD_VALIDATORS: at least 12 characters, not like
    the user's email or name, not a common password, not only digits), checked wherever a
    password is set. A refusal is a 422 naming the field, each broken rule in its own words."""
    try:
        validate_password(password, user=user)
    except ValidationError as exc:
        raise ValidationFailed(exc.messages[0], details={field: exc.messages}) from exc


def user_get_or_create(
    *, email: str, password: str | None, full_name: str = ""
) -> tuple[User, bool]:
    """The user with this email, or a new one with this password (None: no usable password)."""
    email = User.objects.normalize_email(email).strip().lower()
    user = User.objects.filter(email=email).first()
    if user:
        return user, False
    if password is not None:
        password_validate(password, user=User(email=email, full_name=full_name))
    try:
        User(email=email).clean_fields(exclude=["password"])
    except ValidationError as exc:
        raise ValidationFailed(
            _("The email address is not valid."), details=exc.message_dict
        ) from exc
    return User.objects.create_user(email, password, full_name=full_name), True


def user_password_change(*, request, user: User, current_password: str, new_password: str) -> None:
    """Change one's own password: the current one first (a wrong one counts as a failed login,
    throttled alike), then the policy. The stored hash changes, so every other session of the
    user ends (their session hash is bound to it); the caller keeps its own
    (`update_session_auth_hash`)."""
    throttle.login_throttle_check(request, user.email)
    if not current_password or not user.check_password(current_password):
        throttle.login_failure_record(request, user.email)
        _raise_if_locked(request)
        raise ValidationFailed(
            _("The current password is not right."),
            details={"current_password": [_("The current password is not right.")]},
        )
    if new_password == current_password:
        raise ValidationFailed(
            _("The new password must differ from the current one."),
            details={"new_password": [_("The new password must differ from the current one.")]},
        )
    password_validate(new_password, user=user, field="new_password")
    user.set_password(new_password)
    user.save(update_fields=["password"])
    audit_record(
        action="auth.password_change",
        organization_id=getattr(getattr(request, "membership", None), "organization_id", None),
        actor_id=user.id,
        object_type="accounts_user",
        object_id=str(user.id),
    )
    # every other session ends now (not merely at its next request); the caller's own is kept
    # and then rotated (`update_session_auth_hash`)
    session = getattr(request, "session", None)
    current = getattr(request, "user", None)
    keep = (
        session.session_key
        if session is not None and getattr(current, "pk", None) == user.pk
        else None
    )
    user_sessions.sessions_end_for_user(user, keep_key=keep, reason="password changed")


def membership_create(*, organization: Organization, user: User, role: str) -> Membership:
    if role not in Role.values:
        raise ValidationFailed(
            _("Unknown role %(role)s.") % {"role": role},
            details={"role": [_("one of: %s") % ", ".join(Role.values)]},
        )
    existing = Membership.objects.filter(user=user).first()
    if existing:
        raise Conflict(
            _("%(email)s already belongs to this organization.") % {"email": user.email},
            details={"id": str(existing.id), "role": existing.role},
        )
    return Membership.objects.create(organization=organization, user=user, role=role)


@dataclass
class IssuedToken:
    token: ApiToken
    raw: str


def token_create(
    *, membership: Membership, name: str = "", ttl: timedelta | None = None
) -> IssuedToken:
    raw = "clk_" + secrets.token_urlsafe(32)
    now = timezone.now()
    token = ApiToken.objects.create(
        organization_id=membership.organization_id,
        membership=membership,
        key_hash=token_hash(raw),
        prefix=raw[:12],
        name=name[:100],
        created_at=now,
        expires_at=now + (ttl or timedelta(days=settings.API_TOKEN_TTL_DAYS)),
    )
    audit_record(
        action="token.create",
        organization_id=membership.organization_id,
        actor_id=membership.user_id,
        object_type="accounts_apitoken",
        object_id=str(token.id),
        details={"prefix": token.prefix, "expires_at": token.expires_at.isoformat()},
    )
    return IssuedToken(token=token, raw=raw)


def token_revoke(*, token: ApiToken) -> ApiToken:
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
    return token


def token_touch(token: ApiToken) -> None:
    """Record use at most once a minute (cheap; excluded from the audit image)."""
    now = timezone.now()
    if token.last_used_at is None or now - token.last_used_at > timedelta(minutes=1):
        ApiToken.objects.filter(id=token.id).update(last_used_at=now)


def login_verify(
    *, request, email: str, password: str, organization_slug: str | None
) -> Membership:
    """Check credentials (throttled: see `throttle`) and pick the membership.

    Every failure — wrong password, unknown organization, an organization the person does not
    belong to — counts towards the same limits, and refusals are 429 with Retry-After before
    the password is looked at.

    Failed logins are audit events; the caller must keep the writes even when it answers with
    an error (request.keep_writes_on_error). A failed attempt naming an organization goes to
    that organization's log and holds the slug and reason, plus the email and user id only when
    that email belongs to a member of *that* organization: an attempt naming clinic B with a
    user of clinic A writes nothing about A's user into B's log (and does not tell B whether the
    password was right). An attempt naming no organization, or one that does not exist, belongs
    to no clinic: its event has no organization (operators only; no clinic can read it).
    """
    email = (email or "").strip().lower()
    throttle.login_throttle_check(request, email)
    org = organization_by_slug(organization_slug) if organization_slug else None
    if organization_slug and org is None:
        throttle.login_failure_record(request, email)
        audit_record(
            action="auth.login_failed",
            details={
                "email": email,
                "organization": organization_slug,
                "reason": "unknown organization",
            },
        )
        _raise_if_locked(request)
        raise NotAuthenticated(_("Invalid email, password or organization."))
    user = authenticate(request, username=email, password=password)
    membership = None
    if user is not None:
        memberships = memberships_of_user(user)
        if org is not None:
            membership = next((m for m in memberships if m.organization_id == org.id), None)
        elif memberships:
            membership = memberships[0]
        if membership is None:
            # the right password, but not for this organization: a failure like any other
            throttle.login_failure_record(request, email)
    if membership is None:
        if org is not None:
            tenant_activate(org.id)
            member_user_id = (
                Membership.objects.filter(user__email=email)
                .values_list("user_id", flat=True)
                .first()
            )
            audit_record(
                action="auth.login_failed",
                organization_id=org.id,
                actor_id=member_user_id,
                details={
                    "email": email if member_user_id else "",
                    "organization": organization_slug,
                    "reason": "invalid credentials",
                },
            )
        else:
            audit_record(
                action="auth.login_failed",
                actor_id=user.id if user else None,
                details={"email": email, "organization": "", "reason": "invalid credentials"},
            )
        _raise_if_locked(request)
        raise NotAuthenticated(_("Invalid email, password or organization."))
    tenant_activate(membership.organization_id, user.id)
    audit_record(
        action="auth.login",
        organization_id=membership.organization_id,
        actor_id=user.id,
        object_type="accounts_user",
        object_id=str(user.id),
    )
    return membership


def _raise_if_locked(request) -> None:
    refusal = throttle.login_locked_now(request)
    if refusal is not None:
        raise refusal


def membership_for_org(user: User, org_id) -> Membership:
    for m in memberships_of_user(user):
        if str(m.organization_id) == str(org_id):
            return m
    raise NotFound(_("Organization not found."))


def token_expiry_iso(expires_at: datetime) -> str:
    return expires_at.isoformat()


# --- members: roles and deactivation -----------------------------------------------------------


def _manage_permission_check(actor: Membership) -> None:
    if not actor.has("membership.manage"):
        raise PermissionDenied(
            _("Your role does not allow this (%(perm)s).") % {"perm": "membership.manage"},
            details={"permission": "membership.manage"},
        )


def _manage_check(actor: Membership, target_role: str) -> None:
    _manage_permission_check(actor)
    if target_role not in roles_grantable(actor.role):
        raise PermissionDenied(
            _("Your role cannot manage a member with the role %(role)s.")
            % {"role": Role(target_role).label},
            code="role_not_grantable",
            details={"role": [target_role]},
        )


def _role_clean(actor: Membership, role, field: str = "role") -> str:
    """A staff role the actor may give (422 for an unknown one, 403 for one above theirs)."""
    if role not in {r.value for r in STAFF_ROLES}:
        raise ValidationFailed(
            _("Unknown role %(role)s.") % {"role": role},
            details={field: [_("one of: %s") % ", ".join(sorted(r.value for r in STAFF_ROLES))]},
        )
    _manage_check(actor, role)
    return role


def _active_owners_locked(organization_id) -> list:
    """The active owners' membership ids, locked until the transaction ends: two owners demoting
    each other at once cannot leave the clinic without one (the second waits, then counts)."""
    return list(
        Membership.objects.select_for_update()
        .filter(organization_id=organization_id, role=Role.OWNER, is_active=True)
        .order_by("id")
        .values_list("id", flat=True)
    )


def member_for_actor(actor: Membership, membership_id) -> Membership:
    """A membership of the actor's organization (404 for any other, or none)."""
    target = (
        Membership.objects.select_related("user")
        .filter(id=membership_id, organization_id=actor.organization_id)
        .first()
    )
    if target is None:
        raise NotFound(_("Member not found."))
    return target


def member_update(
    *, actor: Membership, target: Membership, role: str | None = None, active: bool | None = None
) -> Membership:
    """Change a member's role and/or deactivate or reactivate them.

    Rules, in order: the actor needs `membership.manage` and may touch only members whose role
    they could grant (a manager never an owner or admin), and grant only such roles (403); the
    last active owner is never demoted or deactivated (409 `last_owner`); nobody changes their own
    role or deactivates themselves (403 `own_membership`). Deactivation revokes the member's API
    tokens in this organization and ends the person's browser sessions at once (their
    membership no longer authenticates either way: see `unscoped_token_resolve` and
    `memberships_of_user`). Audited.
    """
    _manage_permission_check(actor)
    if role is None and active is None:
        raise ValidationFailed(
            _("Give a role or active."), details={"role": [_("role or active is required")]}
        )
    with transaction.atomic():
        # Locks in one order (the active owners, then the member) and the member re-read under
        # its lock: a concurrent change (a deactivation, a promotion) is seen, not overwritten.
        owners = _active_owners_locked(target.organization_id)
        target = Membership.objects.select_for_update().select_related("user").get(id=target.id)
        _manage_check(actor, target.role)
        if role is not None:
            if target.role == Role.PATIENT:
                raise ValidationFailed(
                    _("A patient's membership keeps its role."), details={"role": [_("patient")]}
                )
            role = _role_clean(actor, role)
        changes: dict[str, dict] = {}
        if role is not None and role != target.role:
            changes["role"] = {"before": target.role, "after": role}
        if active is not None and active != target.is_active:
            changes["active"] = {"before": target.is_active, "after": active}
        if not changes:
            return target
        losing_owner = (
            target.role == Role.OWNER
            and target.is_active
            and ("role" in changes or changes.get("active", {}).get("after") is False)
        )
        if losing_owner and owners == [target.id]:
            raise Conflict(
                _("The organization must keep at least one active owner."),
                code="last_owner",
                details={"member": [str(target.id)]},
            )
        if target.user_id == actor.user_id:
            raise PermissionDenied(
                _("You cannot change your own role or deactivate yourself; ask another manager."),
                code="own_membership",
                details={"member": [str(target.id)]},
            )
        fields = []
        if "role" in changes:
            target.role = role
            fields.append("role")
        if "active" in changes:
            target.is_active = active
            fields.append("is_active")
        target.save(update_fields=fields)
        if changes.get("active", {}).get("after") is False:
            revoked = ApiToken.objects.filter(membership=target, revoked_at__isnull=True).update(
                revoked_at=timezone.now()
            )
            changes["tokens_revoked"] = {"after": revoked}
            user_sessions.sessions_end_for_user(target.user, reason="membership deactivated")
        # the invitations they sent stop with their authority (a demoted or removed member's
        # pending invitations could otherwise still bring someone in with the old role)
        withdrawn = Invitation.objects.filter(
            invited_by=target, accepted_at__isnull=True, revoked_at__isnull=True
        ).update(revoked_at=timezone.now())
        if withdrawn:
            changes["invitations_revoked"] = {"after": withdrawn}
        audit_record(
            action="membership.updated",
            organization_id=actor.organization_id,
            actor_id=actor.user_id,
            object_type="accounts_membership",
            object_id=str(target.id),
            details={"email": target.user.email, **changes},
        )
    return target


# --- invitations -------------------------------------------------------------------------------

INVITATION_TTL = timedelta(days=7)


@dataclass
class IssuedInvitation:
    invitation: Invitation
    raw: str

    @property
    def path(self) -> str:
        return invitation_path(self.raw)


def invitation_path(raw: str) -> str:
    return reverse("accounts:invitation_accept", kwargs={"token": raw})


def _invitation_token() -> tuple[str, str]:
    raw = "inv_" + secrets.token_urlsafe(32)
    return raw, token_hash(raw)


def _invitation_mail(invitation: Invitation, raw: str, inviter: Membership) -> None:
    """The invitation email, in the organization's language, through Django's email backend.
    Plain text built with gettext (never HTML-escaped: issue 18, defect 10)."""
    org = inviter.organization
    with translation.override(org.default_locale or "en"):
        link = settings.SITE_URL + invitation_path(raw)
        subject = _("You are invited to join %(organization)s") % {"organization": org.name}
        body = "\n\n".join(
            [
                _("%(inviter)s invites you to join %(organization)s as %(role)s.")
                % {
                    "inviter": inviter.user.full_name or inviter.user.email,
                    "organization": org.name,
                    "role": Role(invitation.role).label,
                },
                _("Open this link to choose your password and sign in:") + "\n" + link,
                _("The link can be used once and expires on %(when)s.")
                % {
                    "when": timefmt.local_datetime_long(
                        invitation.expires_at, org, organization=org
                    )
                },
                _("If you did not expect this invitation, ignore this message."),
                org.name,
            ]
        )
    EmailMessage(subject, body, to=[invitation.email]).send()


def invitation_send(*, actor: Membership, email: str, role: str) -> IssuedInvitation:
    """Invite `email` to the actor's organization with `role` (one the actor may grant). A
    member already (409 `already_member`), or a pending invitation (409 `invitation_pending`:
    resend it instead); an expired one is revoked and replaced. The email is sent last, inside
    the transaction: if the mail server refuses, nothing is kept."""
    _manage_permission_check(actor)
    role = _role_clean(actor, role)
    email = (email or "").strip().lower()
    try:
        EmailValidator()(email)
    except ValidationError as exc:
        raise ValidationFailed(
            _("The email address is not valid."), details={"email": exc.messages}
        ) from exc
    now = timezone.now()
    with transaction.atomic():
        member = Membership.objects.filter(
            organization_id=actor.organization_id, user__email=email
        ).first()
        if member is not None:
            raise Conflict(
                _("%(email)s already belongs to this organization.") % {"email": email},
                code="already_member",
                details={"id": str(member.id), "role": member.role},
            )
        live = (
            Invitation.objects.select_for_update()
            .filter(email=email, accepted_at__isnull=True, revoked_at__isnull=True)
            .first()
        )
        if live is not None and live.expires_at > now:
            raise Conflict(
                _("%(email)s has a pending invitation: send it again instead.") % {"email": email},
                code="invitation_pending",
                details={"id": str(live.id)},
            )
        if live is not None:
            live.revoked_at = now
            live.save(update_fields=["revoked_at"])
        raw, digest = _invitation_token()
        try:
            with transaction.atomic():
                invitation = Invitation.objects.create(
                    organization_id=actor.organization_id,
                    email=email,
                    role=role,
                    token_hash=digest,
                    invited_by=actor,
                    created_at=now,
                    sent_at=now,
                    expires_at=now + INVITATION_TTL,
                )
        except IntegrityError as exc:
            # another invitation to this email was sent at the same moment (one live each)
            raise Conflict(
                _("%(email)s has a pending invitation: send it again instead.") % {"email": email},
                code="invitation_pending",
                details={"email": [email]},
            ) from exc
        audit_record(
            action="invitation.sent",
            organization_id=actor.organization_id,
            actor_id=actor.user_id,
            object_type="accounts_invitation",
            object_id=str(invitation.id),
            details={"email": email, "role": role},
        )
        _invitation_mail(invitation, raw, actor)
    return IssuedInvitation(invitation=invitation, raw=raw)


def invitation_for_actor(actor: Membership, invitation_id) -> Invitation:
    invitation = Invitation.objects.filter(
        id=invitation_id, organization_id=actor.organization_id
    ).first()
    if invitation is None:
        raise NotFound(_("Invitation not found."))
    return invitation


def _invitation_open_check(invitation: Invitation) -> None:
    if invitation.accepted_at or invitation.revoked_at:
        raise Conflict(
            _("This invitation was already accepted or revoked."),
            code="invitation_closed",
            details={"state": invitation.state_at(timezone.now())},
        )


def _invitation_locked(invitation: Invitation) -> Invitation:
    """The invitation re-read under a row lock and still open (409 otherwise): a revocation or a
    resend racing an acceptance waits for it, then sees it used."""
    locked = Invitation.objects.select_for_update().get(id=invitation.id)
    _invitation_open_check(locked)
    return locked


def invitation_resend(*, actor: Membership, invitation: Invitation) -> IssuedInvitation:
    """A new link (the old one stops working) valid for another INVITATION_TTL, sent again."""
    _manage_check(actor, invitation.role)
    now = timezone.now()
    raw, digest = _invitation_token()
    with transaction.atomic():
        invitation = _invitation_locked(invitation)
        invitation.token_hash = digest
        invitation.sent_at = now
        invitation.expires_at = now + INVITATION_TTL
        invitation.invited_by = actor
        invitation.save(update_fields=["token_hash", "sent_at", "expires_at", "invited_by"])
        audit_record(
            action="invitation.resent",
            organization_id=actor.organization_id,
            actor_id=actor.user_id,
            object_type="accounts_invitation",
            object_id=str(invitation.id),
            details={"email": invitation.email},
        )
        _invitation_mail(invitation, raw, actor)
    return IssuedInvitation(invitation=invitation, raw=raw)


def invitation_revoke(*, actor: Membership, invitation: Invitation) -> Invitation:
    _manage_check(actor, invitation.role)
    with transaction.atomic():
        invitation = _invitation_locked(invitation)
        invitation.revoked_at = timezone.now()
        invitation.save(update_fields=["revoked_at"])
    audit_record(
        action="invitation.revoked",
        organization_id=actor.organization_id,
        actor_id=actor.user_id,
        object_type="accounts_invitation",
        object_id=str(invitation.id),
        details={"email": invitation.email},
    )
    return invitation


def unscoped_invitation_by_token(raw: str) -> Invitation | None:
    """The invitation whose secret this is, with its organization, and the tenant set to it
    (unscoped by necessity, like API tokens: the policy reveals only the row whose hash the
    caller proved knowledge of)."""
    if not raw or len(raw) > 200:
        return None
    token_hash_activate(token_hash(raw))
    invitation = (
        Invitation.unscoped_objects.select_related("organization")
        .filter(token_hash=token_hash(raw))
        .first()
    )
    tenant_activate(invitation.organization_id if invitation else None)
    return invitation


def invitation_usable(invitation: Invitation | None) -> Invitation:
    """The invitation if it can still be accepted; else 400 `invitation_invalid` (unknown link)
    or 410 `invitation_used`, `invitation_revoked`, `invitation_expired`."""
    if invitation is None:
        raise DomainError(
            _("This invitation link is not valid. Ask for a new invitation."),
            code="invitation_invalid",
            details={"token": [_("unknown invitation")]},
        )
    state = invitation.state_at(timezone.now())
    messages = {
        "accepted": _("This invitation was already used. Sign in instead."),
        "revoked": _("This invitation was withdrawn. Ask for a new invitation."),
        "expired": _("This invitation has expired. Ask for a new invitation."),
    }
    if state in messages:
        code = {"accepted": "invitation_used"}.get(state, f"invitation_{state}")
        raise Gone(messages[state], code=code, details={"token": [state]})
    return invitation


def invitation_accept(*, request, token: str, password: str, name: str = "") -> Membership:
    """Accept an invitation (public; throttled per address). A new person sets their name and a
    password under the password policy (422 naming the rule); a person who already has an
    account proves it with their current password (a wrong one counts as a failed sign-in).
    The membership is created, the invitation used up (single use)."""
    throttle.request_rate_limit(request, "invitation_accept", limit=30, per_seconds=3600)
    invitation = invitation_usable(unscoped_invitation_by_token(token))
    user = User.objects.filter(email=invitation.email).first()
    if user is None:
        name = (name or "").strip()[:200]
        password_validate(
            password, user=User(email=invitation.email, full_name=name), field="password"
        )
    else:
        # checked before the transaction below: a refusal keeps the failure counted
        throttle.login_throttle_check(request, user.email)
        if not user.is_active or not user.check_password(password or ""):
            request.keep_writes_on_error = True
            throttle.login_failure_record(request, user.email)
            _raise_if_locked(request)
            raise ValidationFailed(
                _("You already have an account: enter its password."),
                code="password_incorrect",
                details={"password": [_("the password of your existing account")]},
            )
    with transaction.atomic():
        # single use under concurrency: the second acceptance waits here, then sees it used
        invitation = invitation_usable(
            Invitation.objects.select_for_update(of=("self",))
            .select_related("organization", "invited_by")
            .get(id=invitation.id)
        )
        inviter = invitation.invited_by
        if (
            inviter is None
            or not inviter.is_active
            or invitation.role not in roles_grantable(inviter.role)
        ):
            raise Gone(
                _("This invitation was withdrawn. Ask for a new invitation."),
                code="invitation_revoked",
                details={"token": ["revoked"]},
            )
        if user is None:
            user = User.objects.create_user(invitation.email, password, full_name=name)
        tenant_activate(invitation.organization_id, user.id)
        if Membership.objects.filter(user=user).exists():
            raise Conflict(_("You already belong to this organization."), code="already_member")
        membership = Membership.objects.create(
            organization_id=invitation.organization_id, user=user, role=invitation.role
        )
        invitation.accepted_at = timezone.now()
        invitation.accepted_by = user
        invitation.save(update_fields=["accepted_at", "accepted_by"])
        audit_record(
            action="invitation.accepted",
            organization_id=invitation.organization_id,
            actor_id=user.id,
            object_type="accounts_invitation",
            object_id=str(invitation.id),
            details={"email": invitation.email, "role": invitation.role},
        )
    membership.organization = invitation.organization
    membership.user = user
    return membership


# --- organization settings ---------------------------------------------------------------------

ORGANIZATION_TEXT_FIELDS = {
    "name": 200,
    "address": 500,
    "phone": 40,
    "email": 254,
    "registration_number": 50,
    "tax_number": 50,
    "bank_iban": 34,
    "bank_bic": 11,
}
ORGANIZATION_FIELDS = {*ORGANIZATION_TEXT_FIELDS, "time_zone", "default_locale", "currency"}
LOGO_MAX_BYTES = 512 * 1024
# the image types a logo may be, recognised from the file's first bytes (never its name or the
# browser's word); no SVG (it can carry script)
LOGO_SIGNATURES = (
    (b"\x89PNG\r\n\x1a\n", "png", "image/png"),
    (b"\xff\xd8\xff", "jpg", "image/jpeg"),
)


def iban_valid(value: str) -> bool:
    """ISO 13616: two letters, two check digits, up to 30 letters or digits; mod 97 == 1."""
    if not re.fullmatch(r"[A-Z]{2}\d{2}[A-Z0-9]{11,30}", value):
        return False
    moved = value[4:] + value[:4]
    return int("".join(str(int(c, 36)) for c in moved)) % 97 == 1


def _currencies() -> set[str]:
    from babel.numbers import list_currencies

    return set(list_currencies())


def organization_settings_update(*, actor: Membership, data: dict) -> Organization:
    """Update the organization's details (owner/admin: `organization.update`). Each field is
    checked (a real IANA zone, a known ISO 4217 currency, an IBAN with a right checksum, a BIC's
    shape, an email); any refusal is a 422 naming the fields, nothing written. Audited with the
    changed fields, before and after."""
    if not actor.has("organization.update"):
        raise PermissionDenied(
            _("Your role does not allow this (%(perm)s).") % {"perm": "organization.update"},
            details={"permission": "organization.update"},
        )
    errors: dict[str, list[str]] = {}
    unknown = set(data) - ORGANIZATION_FIELDS
    for name in sorted(unknown):
        errors[name] = [_("unknown field")]
    values: dict[str, str] = {}
    for name, max_length in ORGANIZATION_TEXT_FIELDS.items():
        if name not in data:
            continue
        value = data[name]
        if not isinstance(value, str):
            errors[name] = [_("text expected")]
            continue
        value = value.strip()
        if name == "bank_iban":  # typed in groups of four; stored without spaces
            value = re.sub(r"\s+", "", value).upper()
        if len(value) > max_length:
            errors[name] = [_("at most %(n)d characters") % {"n": max_length}]
            continue
        values[name] = value
    if "name" in values and not values["name"]:
        errors["name"] = [_("The name is required.")]
    if values.get("email"):
        values["email"] = values["email"].lower()
        try:
            EmailValidator()(values["email"])
        except ValidationError:
            errors["email"] = [_("Enter a valid email address.")]
    if values.get("bank_iban"):
        if not iban_valid(values["bank_iban"]):
            errors["bank_iban"] = [_("This IBAN is not valid (check its digits).")]
    if values.get("bank_bic"):
        values["bank_bic"] = values["bank_bic"].replace(" ", "").upper()
        if not re.fullmatch(r"[A-Z]{6}[A-Z0-9]{2}([A-Z0-9]{3})?", values["bank_bic"]):
            errors["bank_bic"] = [_("A BIC has 8 or 11 letters and digits.")]
    if "time_zone" in data:
        zone = data["time_zone"]
        try:
            validate_time_zone(zone if isinstance(zone, str) else "")
        except ValidationError:
            errors["time_zone"] = [_("%(tz)s is not an IANA time zone.") % {"tz": str(zone)[:64]}]
        else:
            values["time_zone"] = zone
    if "currency" in data:
        code = str(data["currency"] or "").strip().upper()
        if code not in _currencies():
            errors["currency"] = [_("Not a known currency code (ISO 4217, e.g. EUR).")]
        else:
            values["currency"] = code
    if "default_locale" in data:
        choices = {c for c, _label in Organization._meta.get_field("default_locale").choices}
        if data["default_locale"] not in choices:
            errors["default_locale"] = [_("one of: %s") % ", ".join(sorted(choices))]
        else:
            values["default_locale"] = data["default_locale"]
    if errors:
        raise ValidationFailed(next(iter(errors.values()))[0], details=errors)
    org = Organization.objects.select_for_update().get(id=actor.organization_id)
    changed = {k: v for k, v in values.items() if getattr(org, k) != v}
    if not changed:
        return org
    before = {k: getattr(org, k) for k in changed}
    for name, value in changed.items():
        setattr(org, name, value)
    org.save(update_fields=list(changed))
    audit_record(
        action="organization.settings_changed",
        organization_id=org.id,
        actor_id=actor.user_id,
        object_type="accounts_organization",
        object_id=str(org.id),
        details={"before": before, "after": changed},
    )
    return org


def logo_kind(data: bytes) -> tuple[str, str] | None:
    """(extension, content type) of an accepted image, judged from its bytes."""
    for signature, ext, content_type in LOGO_SIGNATURES:
        if data.startswith(signature):
            return ext, content_type
    return None


def organization_logo_set(*, actor: Membership, data: bytes | None) -> Organization:
    """Store a new logo (PNG or JPEG judged from its bytes, at most LOGO_MAX_BYTES) through
    Django's storage API, or remove it (`data=None`). It is served only to members
    (`organization_logo_open`), never from a public URL."""
    if not actor.has("organization.update"):
        raise PermissionDenied(
            _("Your role does not allow this (%(perm)s).") % {"perm": "organization.update"},
            details={"permission": "organization.update"},
        )
    name = ""
    if data is not None:
        if len(data) > LOGO_MAX_BYTES:
            raise ValidationFailed(
                _("The logo is too large (at most %(kb)d KB).") % {"kb": LOGO_MAX_BYTES // 1024},
                details={"logo": [_("too large")]},
            )
        kind = logo_kind(data)
        if kind is None:
            raise ValidationFailed(
                _("The logo must be a PNG or JPEG image."),
                details={"logo": [_("not a PNG or JPEG image")]},
            )
        name = default_storage.save(
            f"organizations/{actor.organization_id}/logo-{secrets.token_hex(8)}.{kind[0]}",
            ContentFile(data),
        )
    org = Organization.objects.select_for_update().get(id=actor.organization_id)
    previous = org.logo
    org.logo = name
    org.save(update_fields=["logo"])
    audit_record(
        action="organization.logo_changed",
        organization_id=org.id,
        actor_id=actor.user_id,
        object_type="accounts_organization",
        object_id=str(org.id),
        details={"removed": data is None},
    )
    if previous:
        # only once the new name is committed: a rolled-back change keeps the old file
        transaction.on_commit(lambda: default_storage.delete(previous))
    return org


def organization_logo_open(organization: Organization) -> tuple[bytes, str] | None:
    """The logo's bytes and content type, for the authorised view and PDFs."""
    if not organization.logo or not default_storage.exists(organization.logo):
        return None
    with default_storage.open(organization.logo, "rb") as handle:
        data = handle.read()
    kind = logo_kind(data)
    return (data, kind[1]) if kind else None


# --- password reset by email ---------------------------------------------------------------------


class PasswordResetTokens(PasswordResetTokenGenerator):
    """Django's reset tokens, bound to the stored password through its keyed fingerprint: the
    application never reads the hash itself (`User.password` is None once loaded), so Django's
    default — which hashes `user.password` — would not change when the password does and a
    used link would work again."""

    def _make_hash_value(self, user, timestamp):
        login = "" if user.last_login is None else user.last_login.replace(microsecond=0)
        return f"{user.pk}{user._session_fingerprint()}{login}{timestamp}{user.email}"


password_reset_tokens = PasswordResetTokens()


def password_reset_throttle(request, email: str) -> bool:
    """Refuse (429) an address asking too often; say whether this email may get another message
    now (False: quietly not sent, the answer stays the same — no user enumeration)."""
    throttle.request_rate_limit(request, "password_reset", limit=10, per_seconds=3600)
    try:
        throttle.rate_limit("password_reset_email", email.lower(), limit=3, per_seconds=3600)
    except TooManyRequests:
        return False
    return True


def password_reset_requested(user: User) -> None:
    """Audit a reset email sent to `user`, in each organization they belong to."""
    for membership in memberships_of_user(user):
        tenant_activate(membership.organization_id, user.pk)
        audit_record(
            action="auth.password_reset_requested",
            organization_id=membership.organization_id,
            actor_id=user.pk,
            object_type="accounts_user",
            object_id=str(user.pk),
        )


def password_reset_done(user: User) -> None:
    """After a password is set through a reset link: audited in each of the user's
    organizations, and every session of the user ends (the link may have been used by someone
    who should not keep another session open)."""
    memberships = memberships_of_user(user)
    for membership in memberships:
        tenant_activate(membership.organization_id, user.pk)
        audit_record(
            action="auth.password_reset",
            organization_id=membership.organization_id,
            actor_id=user.pk,
            object_type="accounts_user",
            object_id=str(user.pk),
        )
    user_sessions.sessions_end_for_user(user, reason="password reset")
