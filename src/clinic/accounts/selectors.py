from __future__ import annotations

import hashlib
import json

from django.db import connection
from django.utils import timezone
from psycopg.types.json import Jsonb

from clinic.accounts.models import ApiToken, Invitation, Membership, Organization, User
from clinic.core.tenancy import settings_activate, tenant_activate, tenant_state_set


def token_hash(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def unscoped_token_resolve(raw: str, *, settings: dict | None = None) -> ApiToken | None:
    """The live token for a raw secret, with its membership (user and organization loaded),
    and the tenant set from it — one round trip (`app_token_authenticate`, which also applies
    `settings`, the request's audit metadata).

    Unscoped by necessity: the tenant is what we are finding out. RLS reveals only the row whose
    hash the caller proved knowledge of.
    """
    if not raw:
        if settings:
            settings_activate(settings)
        return None
    with connection.cursor() as cur:
        cur.execute(
            "SELECT * FROM app_token_authenticate(%s, %s, %s)",
            [
                token_hash(raw),
                Jsonb({k: v or "" for k, v in (settings or {}).items()}),
                timezone.now(),
            ],
        )
        row = cur.fetchone()
    if row is None:
        return None
    token_id, expires_at, last_used_at, membership, user, organization = row
    membership = _instance(Membership, membership)
    membership.user = _instance(User, user)
    membership.organization = _instance(Organization, organization)
    tenant_state_set(membership.organization_id, membership.user_id)
    token = ApiToken.from_db(
        "default",
        ["id", "organization_id", "membership_id", "expires_at", "last_used_at"],
        [token_id, membership.organization_id, membership.id, expires_at, last_used_at],
    )
    token.membership = membership
    return token


def _instance(model, image: str | dict):
    """A model instance from its jsonb image; Django's connection hands jsonb over as text.
    A column missing from the image (a user's password, never read) is left deferred."""
    row = json.loads(image) if isinstance(image, str) else image
    fields = [f for f in model._meta.concrete_fields if f.column in row]
    return model.from_db(
        "default", [f.attname for f in fields], [f.to_python(row[f.column]) for f in fields]
    )


def memberships_of_user(user: User) -> list[Membership]:
    """All active memberships of a user, across organizations (RLS lets a user see their own)."""
    tenant_activate(None, user.id)
    return list(
        Membership.unscoped_objects.select_related("organization")
        .filter(user=user, is_active=True)
        .order_by("organization__name")
    )


def organization_by_slug(slug: str) -> Organization | None:
    return Organization.objects.filter(slug=slug).first()


def tokens_of_membership(membership: Membership):
    return ApiToken.objects.filter(membership=membership).order_by("-created_at")


def memberships_list():
    return Membership.objects.select_related("user").order_by("user__email")


def invitations_open():
    """Invitations not accepted nor revoked (pending or expired), newest first, with the inviter."""
    return (
        Invitation.objects.filter(accepted_at__isnull=True, revoked_at__isnull=True)
        .select_related("invited_by__user")
        .order_by("-created_at")
    )
