from __future__ import annotations

import hashlib

from django.utils import timezone

from clinic.accounts.models import ApiToken, Membership, Organization, User
from clinic.core.tenancy import tenant_activate, token_hash_activate


def token_hash(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def unscoped_token_resolve(raw: str) -> ApiToken | None:
    """The live token for a raw secret, with its membership, and the tenant set from it.

    Unscoped by necessity: the tenant is what we are finding out. RLS reveals only the row whose
    hash the caller proved knowledge of.
    """
    key_hash = token_hash(raw)
    token_hash_activate(key_hash)
    token = (
        ApiToken.unscoped_objects.filter(
            key_hash=key_hash, revoked_at__isnull=True, expires_at__gt=timezone.now()
        )
        .only("id", "organization_id", "membership_id", "expires_at", "last_used_at")
        .first()
    )
    if token is None:
        return None
    tenant_activate(token.organization_id)
    membership = (
        Membership.objects.select_related("user", "organization")
        .filter(id=token.membership_id, is_active=True, user__is_active=True)
        .first()
    )
    if membership is None:
        return None
    tenant_activate(token.organization_id, membership.user_id)
    token.membership = membership
    return token


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
