from __future__ import annotations

from datetime import datetime
from uuid import UUID

from ninja import Field, Schema


class TokenRequest(Schema):
    email: str = Field(..., max_length=254)
    password: str = Field(..., max_length=1024)
    organization: str = Field(..., max_length=63, description="the organization's slug")
    name: str = Field("", max_length=100)
    code: str | None = Field(
        None,
        max_length=64,
        description="the second factor, when the user has turned two-factor sign-in on: the "
        "6-digit code from the authenticator app or a recovery code",
    )


class TokenName(Schema):
    name: str = Field("", max_length=100)


class TokenCreated(Schema):
    token: str
    expires_at: datetime


class TokenOut(Schema):
    id: UUID
    prefix: str
    name: str
    created_at: datetime
    expires_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class UserOut(Schema):
    id: UUID
    email: str
    full_name: str


class OrganizationOut(Schema):
    id: UUID
    slug: str
    name: str
    time_zone: str
    currency: str
    default_locale: str


class MeOut(Schema):
    user: UserOut
    organization: OrganizationOut
    role: str
    permissions: list[str]


class PasswordChange(Schema):
    current_password: str = Field(..., max_length=1024)
    new_password: str = Field(
        ...,
        max_length=1024,
        description="at least 12 characters, not like your email or name, not a common "
        "password, not only digits",
    )
