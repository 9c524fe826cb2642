"""Login throttling (ASVS 2.2.1), on django-axes' records.

Three limits, from tight to loose, so that one person behind a clinic's shared address cannot
lock the others out, and nobody can lock an account out for its owner:

- **account + address** (django-axes, `AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]`):
  `AXES_FAILURE_LIMIT` failures (5) → that pair waits `AXES_COOLOFF_HOURS` (15 min);
- **account, from every address**: after `LOGIN_ACCOUNT_DELAY_AFTER` failures in the last hour
  each further attempt waits 1, 2, 4 … seconds after the previous failure, at most
  `LOGIN_ACCOUNT_DELAY_MAX_SECONDS` — a delay, not a lock: the owner at another address gets in
  once the wait is over; and never more than `LOGIN_ACCOUNT_FAILURES_PER_HOUR` (100) failures an
  hour;
- **address, for every account**: `LOGIN_IP_FAILURES_PER_HOUR` failures an hour (high: a clinic's
  whole staff may share one address).

Every refusal is a 429 with `Retry-After`. The client address is `REMOTE_ADDR`, or the
`X-Forwarded-For` entry added by a proxy listed in `TRUSTED_PROXIES` (never otherwise: anyone can
send that header).
"""

from __future__ import annotations

import math
from datetime import timedelta

from axes.helpers import get_cool_off
from axes.models import AccessAttempt, AccessFailureLog
from django.conf import settings
from django.contrib.auth.signals import user_login_failed
from django.db.models import Count, Max, Min, Sum
from django.http.multipartparser import MultiPartParserError
from django.utils import timezone
from django.utils.translation import gettext as _

from clinic.core.errors import TooManyRequests
from clinic.core.middleware import client_ip


def login_username(request, credentials: dict | None) -> str | None:
    """What django-axes counts failures under (AXES_USERNAME_CALLABLE): the email as the login
    compares it. Without it axes read `credentials["email"]`, found nothing, and counted every
    failure under one empty name — five failures anywhere locked every account."""
    credentials = credentials or {}
    value = credentials.get("username") or credentials.get("email")
    if value is None and request is not None:
        try:
            value = request.POST.get("email")
        except MultiPartParserError:
            value = None  # the view answers 400 for the unreadable body; count nothing here
    return (value or "").strip().lower() or None


def _refuse(seconds: float) -> TooManyRequests:
    seconds = max(1, math.ceil(seconds))
    minutes = max(1, math.ceil(seconds / 60))
    return TooManyRequests(
        _("Too many failed login attempts. Try again in %(minutes)d minutes.")
        % {"minutes": minutes},
        retry_after=seconds,
        code="too_many_attempts",
    )


def login_throttle_check(request, email: str) -> None:
    """Refuse (429 with Retry-After) before looking at the password when any limit is reached.
    Reads only; the failure is recorded by `login_failure_record` (or axes' own signal)."""
    now = timezone.now()
    ip = client_ip(request)
    email = (email or "").strip().lower()
    hour_ago = now - timedelta(hours=1)

    cool_off = get_cool_off(request) or timedelta(0)
    pair = AccessAttempt.objects.filter(
        username=email, ip_address=ip, attempt_time__gte=now - cool_off
    ).aggregate(failures=Sum("failures_since_start"), last=Max("attempt_time"))
    if (pair["failures"] or 0) >= settings.AXES_FAILURE_LIMIT:
        raise _refuse((pair["last"] + cool_off - now).total_seconds())

    if email:
        account = AccessFailureLog.objects.filter(
            username=email, attempt_time__gte=hour_ago
        ).aggregate(n=Count("id"), first=Min("attempt_time"), last=Max("attempt_time"))
        n = account["n"]
        if n >= settings.LOGIN_ACCOUNT_FAILURES_PER_HOUR:
            raise _refuse((account["first"] + timedelta(hours=1) - now).total_seconds())
        if n >= settings.LOGIN_ACCOUNT_DELAY_AFTER:
            wait = min(
                2 ** (n - settings.LOGIN_ACCOUNT_DELAY_AFTER),
                settings.LOGIN_ACCOUNT_DELAY_MAX_SECONDS,
            )
            remaining = (account["last"] + timedelta(seconds=wait) - now).total_seconds()
            if remaining > 0:
                raise _refuse(remaining)

    if ip:
        by_ip = AccessFailureLog.objects.filter(
            ip_address=ip, attempt_time__gte=hour_ago
        ).aggregate(n=Count("id"), first=Min("attempt_time"))
        if by_ip["n"] >= settings.LOGIN_IP_FAILURES_PER_HOUR:
            raise _refuse((by_ip["first"] + timedelta(hours=1) - now).total_seconds())


def login_failure_record(request, email: str) -> None:
    """Count a failure that `authenticate` did not see (unknown organization, right password for
    an organization the person does not belong to) exactly as axes counts a wrong password."""
    user_login_failed.send(
        sender=__name__, credentials={"username": (email or "").strip().lower()}, request=request
    )


def login_locked_now(request) -> TooManyRequests | None:
    """The refusal when the failure just recorded reached the pair's limit (axes marks the
    request); the mark is cleared so the caller answers in its own format (JSON or the page)."""
    if not getattr(request, "axes_locked_out", False):
        return None
    request.axes_locked_out = False
    cool_off = get_cool_off(request) or timedelta(0)
    return _refuse(cool_off.total_seconds())


def rate_limit(scope: str, key: str, *, limit: int, per_seconds: int) -> None:
    """A fixed-window counter for public forms that are not sign-ins (password reset requests,
    invitation acceptance): the `limit`-th + 1 call for `key` within the window gets a 429 with
    Retry-After. Counted in Django's cache (per process with the default local-memory cache;
    configure a shared cache to count across processes)."""
    from django.core.cache import cache

    window = int(timezone.now().timestamp()) // per_seconds
    name = f"rl:{scope}:{key}:{window}"
    cache.add(name, 0, timeout=per_seconds + 1)
    try:
        count = cache.incr(name)
    except ValueError:  # evicted between add and incr
        cache.set(name, 1, timeout=per_seconds + 1)
        count = 1
    if count > limit:
        remaining = (window + 1) * per_seconds - timezone.now().timestamp()
        seconds = max(1, math.ceil(remaining))
        raise TooManyRequests(
            _("Too many attempts. Try again in %(minutes)d minutes.")
            % {"minutes": max(1, math.ceil(seconds / 60))},
            retry_after=seconds,
            code="too_many_attempts",
        )


def request_rate_limit(request, scope: str, *, limit: int, per_seconds: int = 3600) -> None:
    """`rate_limit` per client address."""
    rate_limit(scope, client_ip(request) or "-", limit=limit, per_seconds=per_seconds)
