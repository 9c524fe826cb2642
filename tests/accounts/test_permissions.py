"""Permission scenarios across the six roles, through the API and the pages."""

from __future__ import annotations

import pytest

from clinic.accounts.roles import PERMISSIONS, Role, permission_table_markdown

ROLES = [r.value for r in Role]
ADMINS = {"owner", "admin"}
# managers invite and manage the staff below admin (issue 11, section 6)
MEMBER_MANAGERS = {"owner", "admin", "manager"}


@pytest.mark.parametrize("role", ROLES)
def test_audit_api_by_role(role, api, persona_factory):
    persona = persona_factory(role)
    status = api.get("audit-events", persona).status_code
    assert status == (200 if role in ADMINS else 403)


@pytest.mark.parametrize("role", ROLES)
def test_me_reports_the_roles_permissions(role, api, persona_factory):
    persona = persona_factory(role)
    me = api.get("me", persona).json()
    assert me["role"] == role
    assert set(me["permissions"]) == set(PERMISSIONS[Role(role)])


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(
    ("path", "allowed"),
    [("/members/", MEMBER_MANAGERS), ("/audit/", ADMINS), ("/", set(ROLES))],
)
def test_pages_by_role(role, path, allowed, client, persona_factory):
    persona = persona_factory(role)
    client.force_login(persona.user)
    response = client.get(path)
    assert response.status_code == (200 if role in allowed else 403), response.content[:300]


@pytest.mark.parametrize("role", ROLES)
def test_navigation_shows_only_what_the_role_may_open(role, client, persona_factory):
    persona = persona_factory(role)
    client.force_login(persona.user)
    html = client.get("/").content.decode()
    assert ('href="/audit/"' in html) == (role in ADMINS)
    assert ('href="/members/"' in html) == (role in MEMBER_MANAGERS)


def test_pages_need_login(client, db):
    response = client.get("/members/")
    assert response.status_code == 302 and response["Location"].startswith("/login/")


def test_the_permission_table_is_documented():
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[2] / "docs" / "permissions.md").read_text()
    assert permission_table_markdown() in doc, "run: .venv/bin/clinic permissions > docs/…"
