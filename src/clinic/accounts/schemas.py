from __future__ import annotations

from datetime import datetime
from uuid import UUID

from django.utils import timezone
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


class InvitationIn(Schema):
    email: str = Field(..., max_length=254)
    role: str = Field(
        ...,
        max_length=20,
        description="owner, admin, manager, practitioner or assistant — one your role may grant",
    )


class InvitationOut(Schema):
    id: UUID
    email: str
    role: str
    state: str = Field(description="pending, expired, accepted or revoked")
    invited_by: str | None = Field(None, description="the inviter's email")
    created_at: datetime
    sent_at: datetime
    expires_at: datetime

    @staticmethod
    def resolve_state(obj) -> str:
        return obj.state_at(timezone.now())

    @staticmethod
    def resolve_invited_by(obj) -> str | None:
        return obj.invited_by.user.email if obj.invited_by_id else None


class InvitationAccept(Schema):
    token: str = Field(..., max_length=200)
    password: str = Field(
        ...,
        max_length=1024,
        description="a new password under the password policy; or, for a person who already "
        "has an account, its current password",
    )
    name: str = Field("", max_length=200)


class InvitationAccepted(Schema):
    id: UUID = Field(description="the new membership")
    user: UserOut
    organization: OrganizationOut
    role: str


class MemberPatch(Schema):
    role: str | None = Field(None, max_length=20)
    active: bool | None = None


class MemberOut(Schema):
    id: UUID
    user: UserOut
    role: str
    active: bool
    created_at: datetime

    @staticmethod
    def resolve_active(obj) -> bool:
        return obj.is_active
