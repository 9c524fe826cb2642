"""Deployment checks (`clinic check --deploy`, `manage.py check --deploy`), beside Django's own.

Registered with ``deploy=True``: they run only when deployment checks are asked for. Every
problem that makes a deployment unsafe is an Error, so the command exits non-zero:

- clinic.E001/E002: the application role could see past row-level security (superuser,
  BYPASSRLS, owns tables — the start-up refusal of `clinic serve`), or the database is unreachable;
- clinic.E010/E011: SECRET_KEY is the per-process random fallback, or weak;
- clinic.E012: FIELD_ENCRYPTION_KEYS is missing or malformed (always checked, not only with
  --deploy: nothing clinical can be written without it);
- clinic.E020/E021: DEBUG on; session/CSRF cookies without Secure;
- clinic.E030: a time zone used by the clinics (or Europe/Paris, UTC, TIME_ZONE) cannot be
  loaded by zoneinfo (no system tz database and no `tzdata` package).
"""

from __future__ import annotations

import os
import zoneinfo
from pathlib import Path

from django.conf import settings
from django.core.checks import Error, Warning, register

from clinic.core.fields import field_key_problems

ALWAYS_ZONES = ("UTC", "Europe/Paris")


def _app_role_problem(using: str = "default") -> str | None:
    from clinic.core.startup import role_refused_reason

    return role_refused_reason(using)


@register("clinic", deploy=True)
def check_database_role(app_configs=None, **kwargs):
    from django.db import DatabaseError

    try:
        problem = _app_role_problem()
    except DatabaseError as exc:
        return [
            Error(
                f"Cannot check the application database role: {exc}".strip(),
                hint="Start the database (clinic db start) or fix DATABASE_URL.",
                id="clinic.E002",
            )
        ]
    if problem:
        return [
            Error(
                f"The application must not serve with this database role: {problem}.",
                hint="See README, 'Database roles': the app role owns nothing and has no "
                "BYPASSRLS; migrations run as DATABASE_OWNER_URL.",
                id="clinic.E001",
            )
        ]
    return []


def _secret_key_source() -> str | None:
    """Where SECRET_KEY came from: 'environment', 'file', or None (the random per-process
    fallback of settings.py, which changes on every start and differs between workers)."""
    key = settings.SECRET_KEY
    if os.environ.get("SECRET_KEY") == key:
        return "environment"
    path = Path(getattr(settings, "VAR_DIR", "var")) / "secret_key"
    try:
        if path.read_text().strip() == key:
            return "file"
    except OSError:
        pass
    return None


@register("clinic", deploy=True)
def check_keys(app_configs=None, **kwargs):
    from django.core.checks.security.base import _check_secret_key

    errors = []
    source = _secret_key_source()
    if source is None:
        errors.append(
            Error(
                "SECRET_KEY is not configured: each process makes up its own, so sessions, "
                "password-reset links and signed values break across restarts and workers.",
                hint="Set SECRET_KEY in the environment (or let `clinic` write var/secret_key).",
                id="clinic.E010",
            )
        )
    elif not _check_secret_key(settings.SECRET_KEY):
        errors.append(
            Error(
                "SECRET_KEY is weak (shorter than 50 characters, fewer than 5 distinct "
                "characters, or a 'django-insecure-' key).",
                hint="python -c 'import secrets; print(secrets.token_urlsafe(50))'",
                id="clinic.E011",
            )
        )
    return errors


@register("clinic")
def check_field_keys(app_configs=None, **kwargs):
    """Always, not only for deployment: without a key nothing clinical can be written."""
    raw = getattr(settings, "FIELD_ENCRYPTION_KEYS", None) or os.environ.get(
        "FIELD_ENCRYPTION_KEYS", ""
    )
    return [
        Error(
            f"Field encryption: {problem}.",
            hint="FIELD_ENCRYPTION_KEYS=kid:<base64 of 32 random bytes> (first key encrypts; "
            "keep old keys listed to read old values; `clinic` writes var/field_encryption_keys "
            "on first run).",
            id="clinic.E012",
        )
        for problem in field_key_problems(raw)
    ]


@register("clinic", deploy=True)
def check_https_settings(app_configs=None, **kwargs):
    errors = []
    if settings.DEBUG:
        errors.append(
            Error(
                "DEBUG is on: error pages show settings, code and data.",
                hint="Unset DEBUG (or DEBUG=0) in production.",
                id="clinic.E020",
            )
        )
        return errors
    insecure = [
        name
        for name in ("SESSION_COOKIE_SECURE", "CSRF_COOKIE_SECURE")
        if not getattr(settings, name, False)
    ]
    if insecure:
        errors.append(
            Error(
                f"{' and '.join(insecure)} off with DEBUG off: the session and CSRF cookies "
                "would be sent over plain HTTP.",
                hint="Serve over HTTPS and leave SECURE_COOKIES unset (it defaults to on).",
                id="clinic.E021",
            )
        )
    if not getattr(settings, "SECURE_CONTENT_TYPE_NOSNIFF", False):
        errors.append(
            Warning("SECURE_CONTENT_TYPE_NOSNIFF is off.", id="clinic.W022"),
        )
    return errors


def _zones_in_use() -> set[str]:
    """The zones of every organization and of each one's locations (read per organization,
    under row-level security, as the app reads them)."""
    from django.apps import apps
    from django.db import DatabaseError

    from clinic.core.tenancy import tenant_context

    zones: set[str] = set()
    try:
        organization = apps.get_model("accounts", "Organization")
        location = apps.get_model("directory", "Location")
    except LookupError:
        return zones
    try:
        orgs = list(organization.objects.values_list("id", "time_zone"))
        zones.update(tz for _id, tz in orgs if tz)
        for org_id, _tz in orgs:
            with tenant_context(org_id):
                zones.update(location.objects.values_list("time_zone", flat=True).distinct())
    except DatabaseError:
        return zones  # reported by check_database_role
    return zones


@register("clinic", deploy=True)
def check_time_zone_data(app_configs=None, **kwargs):
    wanted = {*ALWAYS_ZONES, settings.TIME_ZONE, *_zones_in_use()}
    missing = []
    for name in sorted(z for z in wanted if z):
        try:
            zoneinfo.ZoneInfo(name)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            missing.append(name)
    if missing:
        return [
            Error(
                f"Time zone data missing for: {', '.join(missing)}.",
                hint="Install the system tz database (apt-get install tzdata) or the Python "
                "`tzdata` package; appointments are expanded in these zones.",
                id="clinic.E030",
            )
        ]
    return []
