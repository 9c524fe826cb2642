"""Two-factor sign-in (issue 18): TOTP authenticators and recovery codes, on django-otp.

- **Enrolment**: a new secret is kept in a signed cookie (nothing is stored yet) and shown as a QR
  code (SVG, rendered here) and as text; entering a code from it creates the confirmed
  `TOTPDevice` and ten single-use recovery codes (a django-otp `StaticDevice`), shown once.
- **Recovery codes are stored hashed**: django-otp's `StaticToken` keeps its token in clear text,
  so what we store in that column is the first 16 hex digits of the code's SHA-256 (codes carry
  80 random bits; a stolen table gives nothing to type in). Verification hashes what was typed
  and lets django-otp look it up, delete it and throttle as usual.
- **Sign-in**: after the password, a user with a confirmed authenticator gives a code (or a
  recovery code) before the session is created or a token is issued. Attempts are throttled
  twice: by the login throttle (`throttle`: a wrong code counts as a failed login for the
  account + address pair, the account and the address) and by django-otp's own exponential
  delay per device.
- **Remembered devices**: optionally a signed cookie (user, authenticator id; `TWO_FACTOR_REMEMBER_
  DAYS`) lets the browser skip the code; a new or removed authenticator ends it.
- **Organization policy**: `Organization.two_factor_required` (nobody / owners and admins /
  everyone); a member who must have an authenticator and has none is sent to enrolment before
  anything else (`TwoFactorMiddleware`) and gets no API token.

Device rows are visible only to their own user (row-level security on `app.user_id`, see
`clinic.core.security`): every function here sets the user in context before touching them.
Every step is an audit event in the organization the person is acting in.
"""

from __future__ import annotations

import hashlib
import io
import secrets
from base64 import b32encode
from dataclasses import dataclass
from urllib.parse import quote, urlencode

import segno
from django.conf import settings
from django.core import signing
from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django_otp.oath import TOTP
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice
from django_otp.util import random_hex

from clinic.accounts import throttle
from clinic.accounts.models import Membership, TwoFactorPolicy, User
from clinic.accounts.roles import Role, roles_grantable
from clinic.audit.services import audit_record
from clinic.core.errors import (
    Conflict,
    NotAuthenticated,
    NotFound,
    PermissionDenied,
    TooManyRequests,
    ValidationFailed,
)
from clinic.core.tenancy import tenant_activate

RECOVERY_CODE_COUNT = 10
REMEMBER_COOKIE = "clinic_2fa"
_REMEMBER_SALT = "clinic.accounts.two_factor.remember"
ENROL_COOKIE = "clinic_2fa_enrol"
ENROL_COOKIE_MAX_AGE = 3600
_ENROL_SALT = "clinic.accounts.two_factor.enrol"
_RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i

# sessions: the second factor was given (or is not needed) for this user
SESSION_VERIFIED = "two_factor_verified"
# sessions: the password was right, the second factor is awaited
SESSION_PENDING = "two_factor_pending"


def _act_as(membership: Membership) -> None:
    tenant_activate(membership.organization_id, membership.user_id)


def _audit(membership: Membership, action: str, *, target: User | None = None, **details) -> None:
    user_id = target.id if target is not None else membership.user_id
    audit_record(
        action=action,
        organization_id=membership.organization_id,
        actor_id=membership.user_id,
        object_type="accounts_user",
        object_id=str(user_id),
        details=details,
    )


# --- reading ---------------------------------------------------------------------------------


def authenticator_of(user: User) -> TOTPDevice | None:
    """The user's confirmed authenticator (the user must be in context)."""
    return TOTPDevice.objects.filter(user=user, confirmed=True).order_by("id").first()


def recovery_codes_left(user: User) -> int:
    return StaticToken.objects.filter(device__user=user, device__confirmed=True).count()


def is_required(membership: Membership) -> bool:
    """Whether the organization requires a second factor of this member."""
    policy = membership.organization.two_factor_required
    if policy == TwoFactorPolicy.EVERYONE:
        return True
    return policy == TwoFactorPolicy.ADMINS and membership.role in (Role.OWNER, Role.ADMIN)


def members_with_authenticator() -> set:
    """User ids of the members of the organization in context with a confirmed authenticator
    (for its owners and admins: the database checks the caller)."""
    with connection.cursor() as cur:
        cur.execute("SELECT app_two_factor_members()")
        return {row[0] for row in cur.fetchall()}


# --- enrolment -------------------------------------------------------------------------------


@dataclass
class Enrolment:
    secret: str  # base32, for typing into an app by hand
    uri: str  # otpauth://
    qr_svg: str


def _secret_b32(key_hex: str) -> str:
    return b32encode(bytes.fromhex(key_hex)).decode().rstrip("=")


def _otpauth_uri(key_hex: str, user: User, issuer: str) -> str:
    label = quote(f"{issuer}:{user.email}")
    query = urlencode({"secret": _secret_b32(key_hex), "issuer": issuer, "digits": 6, "period": 30})
    return f"otpauth://totp/{label}?{query}"


def qr_svg(data: str) -> str:
    """An SVG QR code (no XML declaration, no inline style: fit for a strict CSP)."""
    out = io.BytesIO()
    segno.make(data, error="m").save(
        out, kind="svg", xmldecl=False, svgns=True, scale=5, border=2, omitsize=True
    )
    return out.getvalue().decode()


def enrolment_key_new() -> str:
    """A new authenticator secret (20 random bytes, hex), kept by the browser (a signed cookie,
    `enrolment_cookie_value`) until a code from it is entered: nothing is stored before that."""
    return random_hex(20)


def enrolment_cookie_value(key_hex: str, user: User) -> str:
    return signing.dumps({"u": str(user.id), "k": key_hex}, salt=_ENROL_SALT)


def enrolment_key_from_cookie(value: str | None, user: User) -> str | None:
    """The secret being set up, from the cookie, if it is this user's and recent."""
    if not value:
        return None
    try:
        data = signing.loads(value, salt=_ENROL_SALT, max_age=ENROL_COOKIE_MAX_AGE)
    except signing.BadSignature:
        return None
    return data.get("k") if data.get("u") == str(user.id) else None


def enrolment_show(*, membership: Membership, key_hex: str) -> Enrolment:
    """What the set-up page shows for a secret: the QR code and the key as text."""
    _act_as(membership)
    if authenticator_of(membership.user) is not None:
        raise Conflict(_("Two-factor sign-in is already on."))
    uri = _otpauth_uri(key_hex, membership.user, membership.organization.name)
    return Enrolment(secret=_secret_b32(key_hex), uri=uri, qr_svg=qr_svg(uri))


def enrolment_confirm(*, request, membership: Membership, key_hex: str, code: str) -> list[str]:
    """Turn two-factor sign-in on with the secret shown and a code from it; returns the
    recovery codes (shown once). A wrong code is audited and counted by the login throttle."""
    user = membership.user
    _act_as(membership)
    if authenticator_of(user) is not None:
        raise Conflict(_("Two-factor sign-in is already on."))
    throttle.login_throttle_check(request, user.email)
    totp = TOTP(bytes.fromhex(key_hex))
    token = _digits(code)
    if not (token.isdigit() and totp.verify(int(token), tolerance=1)):
        _failure(request, membership, "enrolment")
        raise ValidationFailed(
            _("That code is not right. Check the time on your phone and try again."),
            details={"code": [_("wrong code")]},
        )
    device = TOTPDevice.objects.create(
        user=user, name="authenticator", key=key_hex, confirmed=True, last_t=totp.t()
    )
    codes = _recovery_codes_replace(user)
    _audit(membership, "auth.two_factor_enrolled", device=device.persistent_id)
    return codes


# --- recovery codes --------------------------------------------------------------------------


def recovery_hash(code: str) -> str:
    """What is stored for a recovery code: 16 hex digits of its SHA-256, after normalising what
    a person may type (case, spaces, dashes)."""
    normal = "".join(ch for ch in (code or "").lower() if ch.isalnum())
    return hashlib.sha256(f"clinic-recovery:{normal}".encode()).hexdigest()[:16]


def _recovery_code() -> str:
    raw = "".join(secrets.choice(_RECOVERY_ALPHABET) for _ in range(16))  # ~79 bits
    return "-".join(raw[i : i + 4] for i in range(0, 16, 4))


def _recovery_codes_replace(user: User) -> list[str]:
    StaticToken.objects.filter(device__user=user).delete()
    StaticDevice.objects.filter(user=user).delete()
    device = StaticDevice.objects.create(user=user, name="recovery codes", confirmed=True)
    codes = [_recovery_code() for _ in range(RECOVERY_CODE_COUNT)]
    StaticToken.objects.bulk_create(
        [StaticToken(device=device, token=recovery_hash(c)) for c in codes]
    )
    return codes


def recovery_codes_regenerate(*, request, membership: Membership, code: str) -> list[str]:
    """New recovery codes (the old ones stop working), after a code from the authenticator."""
    user = membership.user
    _act_as(membership)
    device = authenticator_of(user)
    if device is None:
        raise Conflict(_("Two-factor sign-in is off."))
    _verify_authenticator(request, membership, device, code, "recovery codes")
    codes = _recovery_codes_replace(user)
    _audit(membership, "auth.recovery_codes_regenerated")
    return codes


# --- verification ----------------------------------------------------------------------------


def _digits(code: str) -> str:
    return "".join(ch for ch in (code or "") if not ch.isspace())


def _looks_like_totp(code: str) -> bool:
    code = _digits(code)
    return code.isdigit() and len(code) in (6, 8)


def _check_not_throttled(request, user: User, device) -> None:
    throttle.login_throttle_check(request, user.email)
    allowed, info = device.verify_is_allowed()
    if not allowed:
        wait = ((info or {}).get("locked_until") or timezone.now()) - timezone.now()
        seconds = max(1, int(wait.total_seconds() + 0.999))
        raise TooManyRequests(
            _("Too many wrong codes. Try again in %(seconds)d seconds.") % {"seconds": seconds},
            retry_after=seconds,
            code="too_many_attempts",
        )


def _failure(request, membership: Membership, step: str) -> None:
    """A wrong code: audited, and counted by the login throttle like a wrong password."""
    _audit(membership, "auth.two_factor_failed", step=step)
    throttle.login_failure_record(request, membership.user.email)
    refusal = throttle.login_locked_now(request)
    if refusal is not None:
        raise refusal


def _verify_authenticator(request, membership, device, code, step) -> None:
    _check_not_throttled(request, membership.user, device)
    if not device.verify_token(_digits(code)):
        _failure(request, membership, step)
        raise NotAuthenticated(_("That code is not right."), code="invalid_two_factor_code")


def verify(*, request, membership: Membership, code: str) -> str:
    """Check a second factor at sign-in: a code from the authenticator or a recovery code
    (used up). Returns "totp" or "recovery"; raises NotAuthenticated (audited and counted) or
    TooManyRequests. The caller keeps the writes of a refusal (request.keep_writes_on_error)."""
    user = membership.user
    _act_as(membership)
    device = authenticator_of(user)
    if device is None:
        raise Conflict(_("Two-factor sign-in is off."))
    if _looks_like_totp(code):
        _verify_authenticator(request, membership, device, code, "sign-in")
        _audit(membership, "auth.two_factor_verified", method="totp")
        return "totp"
    recovery = StaticDevice.objects.filter(user=user, confirmed=True).first()
    if recovery is None:
        _check_not_throttled(request, user, device)
        _failure(request, membership, "recovery code")
        raise NotAuthenticated(_("That code is not right."), code="invalid_two_factor_code")
    _check_not_throttled(request, user, recovery)
    if not recovery.verify_token(recovery_hash(code)):
        _failure(request, membership, "recovery code")
        raise NotAuthenticated(_("That code is not right."), code="invalid_two_factor_code")
    left = recovery_codes_left(user)
    _audit(membership, "auth.recovery_code_used", codes_left=left)
    return "recovery"


# --- turning it off --------------------------------------------------------------------------


def _devices_delete(user: User) -> None:
    StaticToken.objects.filter(device__user=user).delete()
    StaticDevice.objects.filter(user=user).delete()
    TOTPDevice.objects.filter(user=user).delete()


def disable(*, request, membership: Membership, password: str, code: str) -> None:
    """Turn one's own two-factor sign-in off: the password and a current code (or a recovery
    code) are both needed."""
    user = membership.user
    _act_as(membership)
    device = authenticator_of(user)
    if device is None:
        raise Conflict(_("Two-factor sign-in is off."))
    throttle.login_throttle_check(request, user.email)
    if not user.check_password(password or ""):
        _audit(membership, "auth.two_factor_failed", step="disable: password")
        throttle.login_failure_record(request, user.email)
        raise ValidationFailed(
            _("Your password is not right."), details={"password": [_("wrong password")]}
        )
    try:
        verify(request=request, membership=membership, code=code)
    except NotAuthenticated as exc:
        raise ValidationFailed(exc.message, details={"code": [_("wrong code")]}) from exc
    _devices_delete(user)
    _audit(membership, "auth.two_factor_disabled")


def reset(*, actor: Membership, target: Membership) -> None:
    """An owner or admin removes a member's authenticator and recovery codes (a lost phone):
    the member signs in with the password alone, or is sent to enrolment if required. Done in
    the database (`app_two_factor_reset`), which checks the caller again; the actor never sees
    the member's devices."""
    if not actor.has("membership.reset_two_factor"):
        raise PermissionDenied(_("Your role does not allow this."))
    if target.organization_id != actor.organization_id:
        raise NotFound(_("Member not found."))
    if target.role not in roles_grantable(actor.role):
        # the same ceiling as role changes: only an owner touches an owner's sign-in
        raise PermissionDenied(
            _("Your role cannot manage a member with the role %(role)s.")
            % {"role": Role(target.role).label},
            code="role_not_grantable",
            details={"role": [target.role]},
        )
    if target.user_id == actor.user_id:
        raise ValidationFailed(
            _("Turn your own two-factor sign-in off from your account page."),
            details={"member": [_("use your account page")]},
        )
    _act_as(actor)
    with transaction.atomic(), connection.cursor() as cur:
        cur.execute("SELECT app_two_factor_reset(%s)", [target.user_id])
        (removed,) = cur.fetchone()
    _audit(actor, "auth.two_factor_reset", target=target.user, devices_removed=removed)


def policy_set(*, actor: Membership, policy: str) -> None:
    if not actor.has("organization.update"):
        raise PermissionDenied(_("Your role does not allow this."))
    if policy not in TwoFactorPolicy.values:
        raise ValidationFailed(
            _("Unknown choice."), details={"two_factor_required": [_("unknown choice")]}
        )
    org = actor.organization
    before = org.two_factor_required
    if before == policy:
        return
    _act_as(actor)
    org.two_factor_required = policy
    org.save(update_fields=["two_factor_required"])
    audit_record(
        action="organization.two_factor_policy",
        organization_id=org.id,
        actor_id=actor.user_id,
        object_type="accounts_organization",
        object_id=str(org.id),
        details={"before": before, "after": policy},
    )


# --- remembered devices ----------------------------------------------------------------------


def remember_value(device: TOTPDevice) -> str:
    return signing.dumps({"u": str(device.user_id), "d": device.id}, salt=_REMEMBER_SALT)


def remember_max_age() -> int:
    return settings.TWO_FACTOR_REMEMBER_DAYS * 24 * 3600


def is_remembered(request, membership: Membership) -> bool:
    """Whether this browser holds a valid "remember this device" cookie for this user and their
    current authenticator. Audited when it is used."""
    value = request.COOKIES.get(REMEMBER_COOKIE)
    if not value or settings.TWO_FACTOR_REMEMBER_DAYS <= 0:
        return False
    try:
        data = signing.loads(value, salt=_REMEMBER_SALT, max_age=remember_max_age())
    except signing.BadSignature:
        return False
    if data.get("u") != str(membership.user_id):
        return False
    _act_as(membership)
    device = authenticator_of(membership.user)
    if device is None or device.id != data.get("d"):
        return False
    _audit(membership, "auth.two_factor_remembered")
    return True


# --- API tokens ------------------------------------------------------------------------------


def token_gate(*, request, membership: Membership, code: str | None, signed_in: bool = False):
    """May a token be issued to this member now? After the password (`signed_in=False`): a user
    with an authenticator must give a code (checked like the sign-in page's). A member whose
    organization requires a second factor and who has none gets no token (`signed_in=True`:
    a further token asked for by an already authenticated member)."""
    _act_as(membership)
    device = authenticator_of(membership.user)
    if device is None:
        if is_required(membership):
            raise PermissionDenied(
                _("Your organization requires two-factor sign-in: set it up first."),
                code="two_factor_enrolment_required",
            )
        return
    if signed_in:
        return  # the session or token in use was opened with the second factor
    if not code:
        raise NotAuthenticated(
            _("A code from your authenticator app is required."),
            code="two_factor_required",
            details={"code": [_("required")]},
        )
    verify(request=request, membership=membership, code=code)
