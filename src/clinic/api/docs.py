"""The interactive API documentation (/api/v1/docs): django-ninja's Swagger UI, served from the
copy packaged in the django-ninja wheel (`ninja` in INSTALLED_APPS: its static files and its
template, whose script is a file — no CDN, no inline script), to signed-in staff only unless
settings.API_DOCS_PUBLIC. The OpenAPI document itself (/api/v1/openapi.json) stays public: it
describes the API, it holds no data."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.http import HttpResponseForbidden
from django.template.loader import render_to_string
from django.utils.translation import gettext as _
from ninja.openapi.docs import Swagger

from clinic.accounts.roles import STAFF_ROLES


class StaffSwagger(Swagger):
    def render_page(self, request, api, **kwargs):
        if not settings.API_DOCS_PUBLIC:
            membership = getattr(request, "membership", None)
            if membership is None:
                return redirect_to_login(request.get_full_path())
            if membership.role not in STAFF_ROLES:
                body = render_to_string(
                    "web/forbidden.html",
                    {"message": _("Your role does not allow this page.")},
                    request=request,
                )
                return HttpResponseForbidden(body)
        return super().render_page(request, api, **kwargs)
