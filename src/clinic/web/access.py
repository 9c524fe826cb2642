"""Page access: one decorator for every page, the counterpart of the API's `require`."""

from __future__ import annotations

import functools

from django.contrib.auth.views import redirect_to_login
from django.http import HttpResponseForbidden
from django.shortcuts import render
from django.template.loader import render_to_string
from django.utils.translation import gettext as _

from clinic.core.errors import NotFound
from clinic.core.http import page_path, page_redirect


def page_requires(permission: str | None = None):
    """Logged in, with a membership in the active organization, whose role grants `permission`;
    a `NotFound` from the view's access helpers is the 404 page."""

    def decorator(view):
        @functools.wraps(view)
        def wrapper(request, *args, **kwargs):
            if not request.user.is_authenticated or request.membership is None:
                return page_redirect(request, redirect_to_login(page_path(request))["Location"])
            if permission and not request.membership.has(permission):
                body = render_to_string(
                    "web/forbidden.html",
                    {"message": _("Your role does not allow this page.")},
                    request=request,
                )
                return HttpResponseForbidden(body)
            try:
                return view(request, *args, **kwargs)
            except NotFound:
                # an access helper found no such record for this member (another clinic's, or
                # none at all): the 404 page, never a 500
                return render(request, "web/not_found.html", status=404)

        wrapper.required_permission = permission
        return wrapper

    return decorator
