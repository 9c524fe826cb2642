"""API authentication: the membership found by ActiveMembershipMiddleware (bearer token or
browser session), and the permission check used by every route."""

from __future__ import annotations

import functools

from django.utils.translation import gettext as _
from ninja.security import HttpBearer
from ninja.utils import check_csrf

from clinic.core.errors import PermissionDenied
from clinic.core.idempotency import replay_pending


class MembershipAuth(HttpBearer):
    """Documented as bearer auth; a logged-in browser session is accepted too (with CSRF)."""

    def __call__(self, request):
        membership = getattr(request, "membership", None)
        if membership is None:
            return None
        if request.api_token is None and request.method not in ("GET", "HEAD", "OPTIONS"):
            if check_csrf(request) is not None:
                return None
        return membership

    def authenticate(self, request, token):  # pragma: no cover - __call__ does the work
        return None


def require(permission: str):
    """Route decorator: the caller's role must grant `permission` (else 403). An
    Idempotency-Key replay is answered here, after the check, never before it."""

    def decorator(handler):
        @functools.wraps(handler)
        def wrapper(request, *args, **kwargs):
            if not request.auth.has(permission):
                raise PermissionDenied(
                    _("Your role does not allow this (%(perm)s).") % {"perm": permission},
                    details={"permission": permission},
                )
            replay = replay_pending(request)  # an Idempotency-Key replay, after the check
            if replay is not None:
                return replay
            return handler(request, *args, **kwargs)

        wrapper.required_permission = permission
        return wrapper

    return decorator
