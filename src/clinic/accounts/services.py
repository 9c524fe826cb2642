from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth import authenticate
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.http import JsonResponse
from django.utils import timezone
from django.utils.translation import gettext as _

from clinic.accounts import throttle, user_sessions
from clinic.accounts.models import ApiToken, Membership, Organization, User, validate_time_zone
from clinic.accounts.roles import Role
from clinic.accounts.selectors import memberships_of_user, organization_by_slug, token_hash
from clinic.audit.services import audit_record
from clinic.core.errors import (
    Conflict,
    NotAuthenticated,
    NotFound,
    ValidationFailed,
)
from clinic.core.tenancy import tenant_activate


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
