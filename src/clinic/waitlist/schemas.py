from datetime import date
from typing import Any
from uuid import UUID

from ninja import Schema
from pydantic import AwareDatetime, Field


class EntryIn(Schema):
    patient_id: UUID
    contact_id: UUID | None = None
    service_id: UUID
    practitioner_ids: list[UUID] = []
    location_ids: list[UUID] = []
    modality: str = ""
    earliest_date: date
    latest_date: date
    preferred_days: list[int] = []
    preferred_times: list[str] = []
    urgency: str = "medium"
    referral_source: str = ""
    notes: str = ""


class EntryPatch(Schema):
    contact_id: UUID | None = None
    service_id: UUID | None = None
    practitioner_ids: list[UUID] | None = None
    location_ids: list[UUID] | None = None
    modality: str | None = None
    earliest_date: date | None = None
    latest_date: date | None = None
    preferred_days: list[int] | None = None
    preferred_times: list[str] | None = None
    urgency: str | None = None
    referral_source: str | None = None
    notes: str | None = None


class EntryFilters(Schema):
    status: str | None = None
    service_id: UUID | None = None
    practitioner_id: UUID | None = None
    patient_id: UUID | None = None
    urgency: str | None = None


class EntryOut(Schema):
    id: str
    patient: dict[str, Any]
    contact_id: str | None
    service: dict[str, Any]
    practitioner_ids: list[str]
    location_ids: list[str]
    modality: str
    earliest_date: str
    latest_date: str
    preferred_days: list[int]
    preferred_times: list[str]
    urgency: str
    referral_source: str
    notes: str
    status: str
    score: float
    score_breakdown: dict[str, Any]
    declined_count: int
    booked_appointment_id: str | None
    created_at: str


class MatchOut(Schema):
    start: str
    end: str
    practitioner_id: str
    location_id: str
    score: float
    breakdown: dict[str, Any]


class OfferIn(Schema):
    # required, checked after the entry is found (another clinic's entry is a 404 first)
    start: AwareDatetime | None = None
    practitioner_id: UUID | None = None
    location_id: UUID | None = None


class OfferOut(Schema):
    id: str
    entry_id: str
    status: str
    source: str
    start: str
    end: str
    practitioner_id: str
    location_id: str
    service_id: str
    hold_id: str | None
    appointment_id: str | None
    expires_at: str
    match_score: float
    created_at: str
    responded_at: str | None


class OfferCreated(OfferOut):
    # the patient's link (shown once, e.g. to read it out on the phone)
    link: str


class PublicOfferOut(Schema):
    status: str
    start: str
    end: str
    expires_at: str
    practitioner_name: str
    service_name: str
    location_name: str
    time_zone: str


class FiguresOut(Schema):
    slots_offered: int
    slots_filled: int
    fill_rate: float | None
    median_minutes_to_fill: float | None
    offers_per_fill: float | None


class WaitlistSettingsOut(Schema):
    weight_wait: float
    weight_urgency: float
    weight_referral: float
    decline_penalty: float
    wait_full_days: int
    offer_hold_minutes: int
    offer_lead_minutes: int
    match_threshold: float


class WaitlistSettingsIn(Schema):
    weight_wait: float | None = Field(None, ge=0, le=1)
    weight_urgency: float | None = Field(None, ge=0, le=1)
    weight_referral: float | None = Field(None, ge=0, le=1)
    decline_penalty: float | None = Field(None, ge=0, le=1)
    wait_full_days: int | None = Field(None, ge=1, le=3650)
    offer_hold_minutes: int | None = Field(None, ge=5, le=2880)
    offer_lead_minutes: int | None = Field(None, ge=0, le=10080)
    match_threshold: float | None = Field(None, ge=0, le=1)
