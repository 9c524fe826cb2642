from __future__ import annotations

import datetime
import uuid

from ninja import Field, Schema
from pydantic import field_validator

from clinic.api.types import WallTime


class NotificationOut(Schema):
    id: uuid.UUID
    category: str
    event: str
    title: str
    body: str
    link: str
    subject_type: str
    subject_id: uuid.UUID | None
    read_at: datetime.datetime | None
    created_at: datetime.datetime


class UnreadCountOut(Schema):
    unread: int


class MarkedOut(Schema):
    marked: int


class UserSettingsOut(Schema):
    muted_categories: list[str]
    email_copies: bool


class UserSettingsPatch(Schema):
    muted_categories: list[str] | None = None
    email_copies: bool | None = None


class OrganizationSettingsOut(Schema):
    reminder_offsets_minutes: list[int]
    overdue_reminder_days: list[int]
    email_enabled: bool
    sms_enabled: bool
    quiet_hours_start: datetime.time | None
    quiet_hours_end: datetime.time | None
    reply_to: str


class OrganizationSettingsPatch(Schema):
    reminder_offsets_minutes: list[int] | None = Field(None, max_length=5)
    overdue_reminder_days: list[int] | None = Field(None, max_length=5)
    email_enabled: bool | None = None
    sms_enabled: bool | None = None
    quiet_hours_start: WallTime | None = None
    quiet_hours_end: WallTime | None = None
    reply_to: str | None = Field(None, max_length=254)

    @field_validator(
        "reminder_offsets_minutes",
        "overdue_reminder_days",
        "email_enabled",
        "sms_enabled",
        "reply_to",
    )
    @classmethod
    def _not_null(cls, value):
        # leaving a field out keeps it; null would erase a setting that must have a value
        if value is None:
            raise ValueError("may not be null")
        return value


class ContactPreferenceOut(Schema):
    email_enabled: bool
    sms_enabled: bool
    reminders_enabled: bool
    language: str
    quiet_hours_start: datetime.time | None
    quiet_hours_end: datetime.time | None
    unsubscribed_at: datetime.datetime | None


class ContactPreferencePatch(Schema):
    email_enabled: bool | None = None
    sms_enabled: bool | None = None
    reminders_enabled: bool | None = None
    language: str | None = Field(None, pattern=r"^(|en|fr|ar)$")
    quiet_hours_start: WallTime | None = None
    quiet_hours_end: WallTime | None = None

    @field_validator("email_enabled", "sms_enabled", "reminders_enabled", "language")
    @classmethod
    def _not_null(cls, value):
        # leaving a field out keeps it; null would erase a setting that must have a value
        if value is None:
            raise ValueError("may not be null")
        return value


class DeliveryOut(Schema):
    id: uuid.UUID
    event: str
    channel: str
    status: str
    recipient_kind: str
    recipient_name: str
    to_address: str
    language: str
    patient_id: uuid.UUID | None
    contact_id: uuid.UUID | None
    subject_type: str
    subject_id: uuid.UUID | None
    scheduled_for: datetime.datetime
    attempts: int
    last_error: str
    provider_message_id: str
    rendered_subject: str
    sent_at: datetime.datetime | None
    created_at: datetime.datetime


class DeliveryDetailOut(DeliveryOut):
    rendered_body: str
