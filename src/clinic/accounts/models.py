from __future__ import annotations

import uuid
import zoneinfo

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils.crypto import salted_hmac
from django.utils.translation import gettext_lazy as _

from clinic.accounts.roles import Role, role_permissions
from clinic.core.models import TenantModel
from clinic.core.security import CURRENT_ORG, CURRENT_USER

LOCALES = [("en", "English"), ("fr", "Français"), ("ar", "العربية")]


def validate_time_zone(value: str) -> None:
    if value not in zoneinfo.available_timezones():
        raise ValidationError(_("%(tz)s is not an IANA time zone."), params={"tz": value})


class TwoFactorPolicy(models.TextChoices):
    """Who in an organization must sign in with a second factor."""

    NOBODY = "nobody", _("Nobody (optional for everyone)")
    ADMINS = "admins", _("Owners and admins")
    EVERYONE = "everyone", _("Everyone")


class Organization(models.Model):
    """The tenant itself: a global table (it is not owned by a tenant, it is one)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    slug = models.SlugField(max_length=63, unique=True)
    name = models.CharField(max_length=200)
    time_zone = models.CharField(max_length=64, default="UTC", validators=[validate_time_zone])
    currency = models.CharField(max_length=3, default="EUR")
    default_locale = models.CharField(max_length=5, choices=LOCALES, default="en")
    two_factor_required = models.CharField(
        _("two-factor sign-in required for"),
        max_length=10,
        choices=TwoFactorPolicy.choices,
        default=TwoFactorPolicy.NOBODY,
    )
    # Sessions (clinic.accounts.user_sessions): a browser session ends after this long without a
    # request (ASVS 3.3.2), and in any case this long after signing in.
    session_idle_minutes = models.PositiveIntegerField(
        _("sign out after inactivity (minutes)"), default=30
    )
    session_absolute_hours = models.PositiveIntegerField(
        _("sign out in any case after (hours)"), default=12
    )
    # Legal and contact details printed on invoices (billing.pdf) and edited on the organization
    # settings page (clinic.accounts.services.organization_settings_update).
    address = models.TextField(_("address"), max_length=500, blank=True)
    phone = models.CharField(_("phone"), max_length=40, blank=True)
    email = models.EmailField(_("email"), blank=True)
    registration_number = models.CharField(_("registration number"), max_length=50, blank=True)
    tax_number = models.CharField(_("VAT number"), max_length=50, blank=True)
    bank_iban = models.CharField(_("IBAN"), max_length=34, blank=True)
    bank_bic = models.CharField(_("BIC"), max_length=11, blank=True)
    # the storage name of the uploaded logo (served only by an authorised view)
    logo = models.CharField(_("logo"), max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(session_idle_minutes__gte=5, session_idle_minutes__lte=480),
                name="organization_session_idle_range",
            ),
            models.CheckConstraint(
                condition=Q(session_absolute_hours__gte=1, session_absolute_hours__lte=72),
                name="organization_session_absolute_range",
            ),
            models.CheckConstraint(
                condition=Q(two_factor_required__in=["nobody", "admins", "everyone"]),
                name="organization_two_factor_required",
            ),
            models.CheckConstraint(
                condition=Q(currency__regex=r"^[A-Z]{3}$"), name="organization_currency_iso"
            ),
            models.CheckConstraint(
                condition=Q(default_locale__in=["en", "fr", "ar"]), name="organization_locale"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class UserManager(BaseUserManager):
    use_in_migrations = True

    def create_user(self, email: str, password: str | None = None, **extra):
        user = self.model(email=self.normalize_email(email).lower(), **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user


class PasswordField(models.CharField):
    """A column the application writes but never reads: every SELECT puts NULL in its place
    (the application role has no SELECT privilege on it; see `clinic.accounts.passwords`)."""

    def select_format(self, compiler, sql, params):
        return "NULL", []


class User(AbstractBaseUser):
    """A login. Global: one person may belong to several organizations.

    `password` is None on a user read from the database (its hash stays there); it is set only
    by `set_password` before a save. Saving a read user leaves the stored hash alone.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    password = PasswordField(_("password"), max_length=128)
    email = models.EmailField(unique=True)
    full_name = models.CharField(max_length=200, blank=True)
    preferred_locale = models.CharField(max_length=5, choices=LOCALES, blank=True)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    objects = UserManager()

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(email=models.functions.Lower("email")), name="user_email_lowercase"
            ),
        ]

    def __str__(self) -> str:
        return self.full_name or self.email

    def set_password(self, raw_password):
        super().set_password(raw_password)
        self.__dict__.pop("password_fingerprint", None)

    def check_password(self, raw_password) -> bool:
        from clinic.accounts.passwords import password_verify

        return password_verify(self, raw_password)

    def has_usable_password(self) -> bool:
        if self.password is not None:
            return super().has_usable_password()
        from clinic.accounts.passwords import password_params

        return self.pk is not None and password_params(self.pk) is not None

    def save(self, *args, **kwargs):
        if self.password is None and not self._state.adding:
            fields = kwargs.get("update_fields")
            if fields is None:
                deferred = self.get_deferred_fields()
                fields = [
                    f.name
                    for f in self._meta.concrete_fields
                    if not f.primary_key and f.attname not in deferred
                ]
            kwargs["update_fields"] = [f for f in fields if f != "password"]
            if not kwargs["update_fields"]:
                return
        super().save(*args, **kwargs)

    def _session_fingerprint(self) -> str:
        value = self.__dict__.get("password_fingerprint")
        if value is None:
            from clinic.accounts.passwords import password_fingerprint

            value = password_fingerprint(self.pk)
        return value

    def get_session_auth_hash(self) -> str:
        """Bound to the stored password (a keyed digest of it, read from the database), so a
        password change ends the other sessions, as with Django's default."""
        return salted_hmac(
            "clinic.accounts.User.session_auth", self._session_fingerprint(), algorithm="sha256"
        ).hexdigest()

    def get_session_auth_fallback_hash(self):
        for secret in settings.SECRET_KEY_FALLBACKS:
            yield salted_hmac(
                "clinic.accounts.User.session_auth",
                self._session_fingerprint(),
                secret=secret,
                algorithm="sha256",
            ).hexdigest()


class Membership(TenantModel):
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=20, choices=Role.choices)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    # A user also sees their own memberships in other organizations (organization switcher).
    rls_using = f"organization_id = {CURRENT_ORG} OR user_id = {CURRENT_USER}"

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["organization", "user"], name="membership_unique"),
            models.CheckConstraint(condition=Q(role__in=Role.values), name="membership_role"),
        ]

    def __str__(self) -> str:
        return f"{self.user} ({self.role})"

    @property
    def permissions(self) -> frozenset[str]:
        return role_permissions(self.role)

    def has(self, permission: str) -> bool:
        return permission in self.permissions


class ApiToken(TenantModel):
    """A bearer token for one membership. Only its SHA-256 is stored."""

    membership = models.ForeignKey(Membership, on_delete=models.CASCADE, related_name="tokens")
    key_hash = models.CharField(max_length=64, unique=True)
    prefix = models.CharField(max_length=12)
    name = models.CharField(max_length=100, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    # Knowing the secret (its hash is put in app.token_hash) reveals that one row, before the
    # tenant is known; nothing else is visible without a tenant.
    rls_using = (
        f"organization_id = {CURRENT_ORG} "
        "OR key_hash = NULLIF(current_setting('app.token_hash', true), '')"
    )
    audit_redact = ("key_hash",)

    class Meta:
        indexes = [models.Index(fields=["organization", "membership"])]
        constraints = [
            models.CheckConstraint(
                condition=Q(expires_at__gt=models.F("created_at")),
                name="apitoken_expiry_after_creation",
            ),
        ]


class UserSession(models.Model):
    """One signed-in browser session of a user, for listing and revoking one's own sessions.

    Not a tenant table (a session spans the user's organizations): under a row-level security
    policy on `app.user_id` (clinic.core.security.USER_SESSION_SQL), so a user sees only their
    own. The session key is never stored, only its SHA-256: the table cannot be used to take a
    session over. Rows are written at sign-in and touched at most once a minute per session;
    revoking deletes the Django session through `app_user_sessions_end`, which checks the owner.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="sessions")
    key_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField()
    last_seen_at = models.DateTimeField()
    ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=300, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["user", "ended_at"], name="usersession_user_open")]
        constraints = [
            models.CheckConstraint(
                condition=Q(last_seen_at__gte=models.F("created_at")),
                name="usersession_seen_after_creation",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user_id} since {self.created_at:%Y-%m-%d %H:%M}"


class Invitation(TenantModel):
    """An invitation to join the organization with a role, sent by email.

    Only the SHA-256 of the link's secret is stored (like API tokens). It is live until accepted,
    revoked or past `expires_at`; at most one live invitation per (organization, email): an
    expired one is revoked when a new one is sent. The public acceptance finds the row by its
    hash before the tenant is known (`app.token_hash`, as for tokens).
    """

    email = models.EmailField()
    role = models.CharField(max_length=20, choices=Role.choices)
    token_hash = models.CharField(max_length=64, unique=True)
    invited_by = models.ForeignKey(
        Membership, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField()
    sent_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)
    accepted_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    revoked_at = models.DateTimeField(null=True, blank=True)

    rls_using = (
        f"organization_id = {CURRENT_ORG} "
        "OR token_hash = NULLIF(current_setting('app.token_hash', true), '')"
    )
    audit_redact = ("token_hash",)

    class Meta:
        indexes = [models.Index(fields=["organization", "-created_at"], name="invitation_recent")]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "email"],
                condition=Q(accepted_at__isnull=True, revoked_at__isnull=True),
                name="invitation_one_live_per_email",
            ),
            models.CheckConstraint(condition=Q(role__in=Role.values), name="invitation_role"),
            models.CheckConstraint(
                condition=Q(email=models.functions.Lower("email")), name="invitation_email_lower"
            ),
            models.CheckConstraint(
                condition=Q(expires_at__gt=models.F("sent_at")), name="invitation_expiry_after"
            ),
            models.CheckConstraint(
                condition=Q(accepted_at__isnull=True) | Q(revoked_at__isnull=True),
                name="invitation_accepted_or_revoked",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.email} ({self.role})"

    def state_at(self, now) -> str:
        if self.accepted_at:
            return "accepted"
        if self.revoked_at:
            return "revoked"
        return "expired" if self.expires_at <= now else "pending"
