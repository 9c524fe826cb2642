"""Browser security headers on every response (issue 18, hardening): a strict
Content-Security-Policy (no inline script or style, nothing from another origin), HSTS over HTTPS,
Referrer-Policy, Permissions-Policy, X-Content-Type-Options; templates that such a policy would
break; the API docs page from packaged assets, for signed-in staff only."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.test import override_settings
from django.urls import URLPattern, URLResolver, get_resolver

from clinic.api.main import api as ninja_api

SRC = Path(__file__).resolve().parents[2] / "src" / "clinic"


def csp_directives(response) -> dict[str, list[str]]:
    header = response["Content-Security-Policy"]
    directives = {}
    for part in header.split(";"):
        name, *values = part.split()
        directives[name] = values
    return directives


def assert_secure_headers(response) -> None:
    where = f"{response.request['PATH_INFO']} ({response.status_code})"
    assert "Content-Security-Policy" in response, where
    csp = csp_directives(response)
    for directive in ("default-src", "script-src", "style-src"):
        assert csp[directive] == ["'self'"], (where, directive, csp[directive])
    assert not any("unsafe" in v for values in csp.values() for v in values), (where, csp)
    assert not any(v.startswith(("http", "*")) for values in csp.values() for v in values), where
    assert csp["object-src"] == ["'none'"] and csp["base-uri"] == ["'none'"], where
    assert csp["frame-ancestors"] == ["'none'"] and csp["form-action"] == ["'self'"], where
    assert response["X-Content-Type-Options"] == "nosniff", where
    assert response["Referrer-Policy"] in ("same-origin", "strict-origin-when-cross-origin"), where
    policy = response["Permissions-Policy"]
    for feature in ("camera", "microphone", "geolocation", "payment", "usb"):
        assert f"{feature}=()" in policy, (where, feature)


def _routes(patterns, prefix=""):
    for p in patterns:
        if isinstance(p, URLResolver):
            yield from _routes(p.url_patterns, prefix + str(p.pattern))
        elif isinstance(p, URLPattern):
            yield prefix + str(p.pattern)


def _plain_page_paths() -> list[str]:
    """Every page without a path parameter (the API is walked through its schema)."""
    paths = []
    for route in _routes(get_resolver().url_patterns):
        if route.startswith("api/") or "<" in route or "(" in route or "^" in route:
            continue
        paths.append("/" + route)
    return sorted(set(paths))


def _plain_api_paths() -> list[str]:
    schema = ninja_api.get_openapi_schema()
    return sorted(path for path, ops in schema["paths"].items() if "{" not in path and "get" in ops)


def test_every_page_and_api_response_carries_the_headers(client, owner_a):
    pages = _plain_page_paths()
    api_paths = _plain_api_paths()
    assert "/login/" in pages and "/calendar/" in pages and "/patients/" in pages
    assert "/api/v1/me" in api_paths
    # signed out: pages redirect or answer, the API says 401
    for path in [*pages, *api_paths]:
        assert_secure_headers(client.get(path))
    client.force_login(owner_a.user)
    for path in [*pages, *api_paths]:
        response = client.get(path)
        assert response.status_code < 500, path
        assert_secure_headers(response)
    # bearer-token API calls
    for path in api_paths:
        assert_secure_headers(client.get(path, **owner_a.headers))


def test_errors_probes_static_files_and_refusals_carry_the_headers(client, owner_a):
    client.force_login(owner_a.user)
    responses = [
        client.get("/no-such-page/"),  # the 404 page
        client.get("/api/v1/no-such-thing"),  # the API's 404 envelope
        client.get("/patients/00000000-0000-0000-0000-000000000000/"),
        client.get("/healthz"),
        client.get("/readyz"),
        client.get("/static/clinic/app.css"),
        client.get("/static/clinic/app.js"),
        client.get("/api/v1/patients?search=%00"),  # refused before any view (422)
        client.post("/api/v1/patients", data="{}", content_type="application/json"),
    ]
    assert [r.status_code for r in responses][:3] == [404, 404, 404]
    assert responses[7].status_code == 422
    for response in responses:
        assert_secure_headers(response)


def test_hsts_over_https_only(client, db):
    from django.conf import settings

    assert settings.SECURE_HSTS_SECONDS >= 31536000  # tests run with SECURE_COOKIES on (no DEBUG)
    secure = client.get("/login/", secure=True)
    assert secure["Strict-Transport-Security"].startswith("max-age=31536000")
    assert "Strict-Transport-Security" not in client.get("/login/")
    # behind a TLS-terminating proxy whose X-Forwarded-Proto is trusted
    with override_settings(SECURE_PROXY_SSL_HEADER=("HTTP_X_FORWARDED_PROTO", "https")):
        proxied = client.get("/login/", HTTP_X_FORWARDED_PROTO="https")
        assert "Strict-Transport-Security" in proxied


@pytest.mark.parametrize(
    ("env", "seconds", "proxy"),
    [
        ({"SECURE_COOKIES": "1"}, 31536000, None),
        ({"SECURE_COOKIES": "0"}, 0, None),
        ({"DEBUG": "1"}, 0, None),
        (
            {"SECURE_COOKIES": "1", "TRUST_X_FORWARDED_PROTO": "1"},
            31536000,
            ("HTTP_X_FORWARDED_PROTO", "https"),
        ),
    ],
)
def test_hsts_follows_the_https_setting(env, seconds, proxy):
    """The settings read from the environment: HSTS only when the site is served over HTTPS."""
    clean = {k: v for k, v in os.environ.items() if k not in ("DEBUG", "SECURE_COOKIES")}
    code = (
        "import clinic.settings as s;"
        "print(s.SECURE_HSTS_SECONDS, getattr(s, 'SECURE_PROXY_SSL_HEADER', None))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], env={**clean, **env}, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split(" ", 1) == [str(seconds), f"{proxy}\n"]


# -- templates: nothing that a policy without 'unsafe-inline' would block -------------------------

INLINE = [
    (
        re.compile(r"<script(?![^>]*\bsrc=)(?![^>]*type=\"application/json\")", re.I),
        "inline <script>",
    ),
    (re.compile(r"\son[a-z]+\s*=", re.I), "event-handler attribute"),
    (re.compile(r"\sstyle\s*=", re.I), "style attribute"),
    (re.compile(r"<style\b", re.I), "<style> element"),
    (re.compile(r"javascript:", re.I), "javascript: URL"),
    (re.compile(r"\shx-on", re.I), "hx-on attribute (evaluated code)"),
]


COMMENT = re.compile(r"\{#.*?#\}|\{% comment %\}.*?\{% endcomment %\}", re.S)


def _page_templates() -> list[Path]:
    # e-mail bodies are not pages: a mail client shows them, under no CSP of ours
    return [
        p
        for p in SRC.glob("*/templates/**/*.html")
        if "/email/" not in p.as_posix() and "/templates/" in p.as_posix()
    ]


def test_templates_have_no_inline_script_handler_or_style():
    templates = _page_templates()
    assert len(templates) > 30
    found = []
    for path in templates:
        text = COMMENT.sub(lambda m: "\n" * m.group().count("\n"), path.read_text())
        for pattern, what in INLINE:
            for match in pattern.finditer(text):
                line = text.count("\n", 0, match.start()) + 1
                found.append(f"{path.relative_to(SRC)}:{line}: {what}")
    assert not found, "\n".join(found)


def test_htmx_is_told_not_to_inject_styles_nor_evaluate(client, owner_a):
    client.force_login(owner_a.user)
    html = client.get("/").content.decode()
    config = re.search(r'<meta name="htmx-config" content=\'([^\']*)\'', html).group(1)
    assert '"includeIndicatorStyles":false' in config
    assert '"allowEval":false' in config and '"allowScriptTags":false' in config
    assert "/static/clinic/app.js" in html


# -- the API docs page -------------------------------------------------------------------------


def test_api_docs_are_for_signed_in_staff(client, owner_a, persona_factory):
    anonymous = client.get("/api/v1/docs")
    assert anonymous.status_code == 302 and anonymous["Location"].startswith("/login/")
    assert_secure_headers(anonymous)

    patient = persona_factory("patient")
    client.force_login(patient.user)
    refused = client.get("/api/v1/docs")
    assert refused.status_code == 403
    assert_secure_headers(refused)

    for role in ("owner", "assistant"):
        staff = owner_a if role == "owner" else persona_factory(role)
        client.force_login(staff.user)
        page = client.get("/api/v1/docs")
        assert page.status_code == 200, role
        assert_secure_headers(page)


def test_api_docs_are_served_from_packaged_assets(client, owner_a):
    client.force_login(owner_a.user)
    html = client.get("/api/v1/docs").content.decode()
    sources = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert "/static/ninja/swagger-ui-bundle.js" in sources
    assert "/static/ninja/swagger-ui-init.js" in sources
    assert "/static/ninja/swagger-ui.css" in sources
    assert all(s.startswith("/") for s in sources), sources  # no CDN, no other origin
    assert "cdn" not in html.lower()
    assert not re.search(r"<script(?![^>]*\bsrc=)(?![^>]*application/json)", html)
    for asset in ("swagger-ui-bundle.js", "swagger-ui-init.js", "swagger-ui.css"):
        response = client.get(f"/static/ninja/{asset}")
        assert response.status_code == 200, asset
        b"".join(response.streaming_content if response.streaming else [response.content])
    assert client.get("/api/v1/openapi.json").status_code == 200


def test_api_docs_can_be_made_public(client, db):
    with override_settings(API_DOCS_PUBLIC=True):
        page = client.get("/api/v1/docs")
    assert page.status_code == 200
    assert_secure_headers(page)
