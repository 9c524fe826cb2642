"""Roles and the permission matrix: the one place that says who may do what.

A permission is "resource.action". Object scoping (a practitioner's own patients, a patient's own
record) is applied by each module's access helpers on top of this matrix.
"""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class Role(models.TextChoices):
    OWNER = "owner", _("Owner")
    ADMIN = "admin", _("Admin")
    MANAGER = "manager", _("Manager")
    PRACTITIONER = "practitioner", _("Practitioner")
    ASSISTANT = "assistant", _("Assistant")
    PATIENT = "patient", _("Patient")


STAFF_ROLES = frozenset({Role.OWNER, Role.ADMIN, Role.MANAGER, Role.PRACTITIONER, Role.ASSISTANT})

_ADMINISTRATION = {
    "organization.view",
    "organization.update",
    "membership.view",
    "membership.manage",
    "audit.view",
}
_STAFF_BASICS = {"organization.view", "membership.view", "token.manage_own", "home.view"}

PERMISSIONS: dict[Role, frozenset[str]] = {
    Role.OWNER: frozenset(_STAFF_BASICS | _ADMINISTRATION),
    Role.ADMIN: frozenset(_STAFF_BASICS | _ADMINISTRATION),
    Role.MANAGER: frozenset(_STAFF_BASICS),
    Role.PRACTITIONER: frozenset(_STAFF_BASICS),
    Role.ASSISTANT: frozenset(_STAFF_BASICS),
    Role.PATIENT: frozenset({"organization.view", "token.manage_own", "home.view"}),
}


def role_permissions(role: str) -> frozenset[str]:
    return PERMISSIONS[Role(role)]


def role_has(role: str, permission: str) -> bool:
    return permission in PERMISSIONS[Role(role)]


def all_permissions() -> list[str]:
    return sorted(set().union(*PERMISSIONS.values()))


def permission_table_markdown() -> str:
    """The matrix as a Markdown table (docs/permissions.md is generated from this)."""
    roles = list(Role)
    lines = ["| permission | " + " | ".join(r.value for r in roles) + " |"]
    lines.append("|---" * (len(roles) + 1) + "|")
    for perm in all_permissions():
        marks = " | ".join("✔" if perm in PERMISSIONS[r] else "" for r in roles)
        lines.append(f"| `{perm}` | {marks} |")
    return "\n".join(lines) + "\n"
