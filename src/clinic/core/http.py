"""Redirects that also work for htmx requests.

A fragment request (htmx sends `HX-Request`: the notification bell's poll, a drawer, a filter)
that is answered with a 302 to a full page has that page swapped into the fragment's place: the
set-up, login or re-authentication page appeared inside the header. htmx requests get
`HX-Redirect` instead, and the browser goes to the page itself — unless it is on that page
already (the bell polls on the set-up page too): then 204, nothing to swap, no reload loop.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from django.http import HttpResponse
from django.shortcuts import redirect
from django_htmx.http import HttpResponseClientRedirect


def is_htmx(request) -> bool:
    return request.headers.get("HX-Request") == "true"


def page_path(request) -> str:
    """The page the person is on: for an htmx fragment, the page that asked for it (so a
    sign-in comes back there, not to the bell's fragment)."""
    if is_htmx(request):
        current = urlsplit(request.headers.get("HX-Current-URL", ""))
        if current.path:
            return current.path + (f"?{current.query}" if current.query else "")
    return request.get_full_path()


def page_redirect(request, to: str, *args, **kwargs):
    """`django.shortcuts.redirect`, or a whole-page redirect for an htmx request."""
    response = redirect(to, *args, **kwargs)
    if not is_htmx(request):
        return response
    target = urlsplit(response["Location"]).path
    if urlsplit(request.headers.get("HX-Current-URL", "")).path == target:
        return HttpResponse(status=204)
    return HttpResponseClientRedirect(response["Location"])
