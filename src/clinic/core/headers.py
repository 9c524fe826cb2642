"""Browser security headers that neither Django nor django-csp sets (issue 18, hardening).

Django's SecurityMiddleware sends HSTS (over HTTPS), `X-Content-Type-Options`, `Referrer-Policy`
and `Cross-Origin-Opener-Policy`; django-csp's middleware the Content-Security-Policy. This one
adds `Permissions-Policy`: every powerful browser feature the application does not use is off
for the page and anything it embeds (settings.PERMISSIONS_POLICY: feature -> allowed origins).
"""

from __future__ import annotations

from django.conf import settings


def permissions_policy_header(policy: dict[str, list[str]]) -> str:
    """{"camera": [], "fullscreen": ["self"]} -> 'camera=(), fullscreen=(self)'."""
    parts = []
    for feature, origins in policy.items():
        allow = " ".join(o if o in ("self", "*") else f'"{o}"' for o in origins)
        parts.append(f"{feature}=({allow})")
    return ", ".join(parts)


class PermissionsPolicyMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response
        self.value = permissions_policy_header(getattr(settings, "PERMISSIONS_POLICY", {}))

    def __call__(self, request):
        response = self.get_response(request)
        if self.value and "Permissions-Policy" not in response:
            response["Permissions-Policy"] = self.value
        return response
