"""API schemas. Date-times are `AwareDatetime`: a value without a UTC offset is refused (422)."""

from __future__ import annotations

from datetime import date, datetime, time
from uuid import UUID

from ninja import Field, Schema
from pydantic import AwareDatetime

from clinic.api.types import WallTime


class AppointmentIn(Schema):
    practitioner_id: UUID
    patient_id: UUID | None = None
    service_id: UUID | None = None
    start: AwareDatetime
    end: AwareDatetime | None = None
    room_id: UUID | None = None
    location_id: UUID | None = None
    notes: str = Field("", max_length=5000)
    kind: str = Field("individual", description="individual, group or block")
    override_availability: bool | None = Field(
        None,
        description="true: book outside working hours or in the past (needs the override"
        " permission); unset or false: the working hours and the clock hold",
    )


class AppointmentPatch(Schema):
    start: AwareDatetime | None = None
    end: AwareDatetime | None = None
    practitioner_id: UUID | None = None
    room_id: UUID | None = None
    notes: str | None = Field(None, max_length=5000)
    override_availability: bool | None = Field(
        None,
        description="true: move outside working hours or into the past (needs the override"
        " permission); unset or false: the working hours and the clock hold",
    )
    notify: bool = Field(True, description="tell the patient about the new time")


class StatusIn(Schema):
    status: str | None = Field(None, description="the target status")
    reason: str = Field("", max_length=500)


class Ref(Schema):
    id: UUID
    name: str


class PractitionerRef(Schema):
    id: UUID
    name: str
    colour: str


class ServiceRef(Schema):
    id: UUID
    name: str
    colour: str
    duration_minutes: int


class LocationRef(Schema):
    id: UUID
    name: str
    time_zone: str


class AppointmentOut(Schema):
    id: UUID
    kind: str
    status: str
    practitioner: PractitionerRef
    patient: Ref | None
    service: ServiceRef | None
    location: LocationRef
    room: Ref | None
    start: datetime
    end: datetime
    occupied_start: datetime
    occupied_end: datetime
    modality: str
    notes: str | None
    series_id: UUID | None
    recurrence_date: date | None
    series_exception: bool
    hold_id: UUID | None
    hold_expires_at: datetime | None
    cancelled_at: datetime | None
    cancel_reason: str
    late_cancel: bool
    outside_availability: bool = False
    allowed_transitions: list[str]
    # the treatment plan and the invoice the appointment belongs to, when the caller may see them
    plan_id: UUID | None = None
    invoice_id: UUID | None = None


class AppointmentRange(Schema):
    items: list[AppointmentOut]
    count: int
    truncated: bool


class CheckOut(Schema):
    ok: bool
    conflicts: list[dict]
    availability: str | None
    availability_message: str | None
    may_override: bool
    alternatives: list[dict]
    end: datetime
    location_id: UUID


class SeriesIn(Schema):
    practitioner_id: UUID
    patient_id: UUID
    service_id: UUID
    start: AwareDatetime
    end: AwareDatetime | None = None
    rrule: str = Field(..., max_length=500, examples=["FREQ=WEEKLY;BYDAY=TU;COUNT=10"])
    exdates: list[date] = Field(default_factory=list, max_length=500)
    location_id: UUID | None = None
    room_id: UUID | None = None
    notes: str = Field("", max_length=5000)
    on_conflict: str = Field("fail", description="fail (all or nothing) or skip")


class SeriesOut(Schema):
    id: UUID
    rrule: str
    time_zone: str
    wall_date: date
    wall_time: time
    duration_minutes: int
    exdates: list[date]
    ended_on: date | None
    split_from_id: UUID | None
    practitioner_id: UUID
    patient_id: UUID | None
    service_id: UUID
    location_id: UUID
    room_id: UUID | None


class SkippedOut(Schema):
    date: date
    start: datetime
    reason: str


class SeriesCreated(Schema):
    series: SeriesOut
    occurrences: list[AppointmentOut]
    skipped: list[SkippedOut]
    truncated: bool


class SeriesDetail(Schema):
    series: SeriesOut
    occurrences: list[AppointmentOut]


class OccurrenceIn(Schema):
    start: AwareDatetime
    end: AwareDatetime | None = None


class HoldIn(Schema):
    practitioner_id: UUID
    patient_id: UUID
    service_id: UUID
    start: AwareDatetime | None = None
    end: AwareDatetime | None = None
    occurrences: list[OccurrenceIn] = Field(default_factory=list, max_length=52)
    hold_seconds: int | None = Field(None, ge=30, le=3600)
    room_id: UUID | None = None
    location_id: UUID | None = None


class HoldOut(Schema):
    id: UUID
    state: str
    expires_at: datetime
    created_at: datetime
    appointments: list[AppointmentOut]


class SlotOut(Schema):
    start: datetime
    end: datetime
    practitioner_id: UUID
    location_id: UUID


class SlotsOut(Schema):
    service_id: UUID
    duration_minutes: int
    granularity_minutes: int
    slots: list[SlotOut]


class RuleIn(Schema):
    practitioner_id: UUID
    location_id: UUID
    weekday: int = Field(..., ge=0, le=6, description="0 = Monday … 6 = Sunday")
    start_time: WallTime
    end_time: WallTime
    modality: str = ""
    effective_from: date | None = None
    effective_to: date | None = None
    max_appointments: int | None = Field(None, ge=1, le=200)
    interval_weeks: int = Field(1, ge=1, le=52, description="every N weeks (rotations)")
    anchor_date: date | None = Field(None, description="a day in the rotation's first week")


class RulePatch(Schema):
    location_id: UUID | None = None
    weekday: int | None = Field(None, ge=0, le=6)
    start_time: WallTime | None = None
    end_time: WallTime | None = None
    modality: str | None = None
    effective_from: date | None = None
    effective_to: date | None = None
    max_appointments: int | None = Field(None, ge=1, le=200)
    interval_weeks: int | None = Field(None, ge=1, le=52)
    anchor_date: date | None = None


class RulesCopyIn(Schema):
    practitioner_id: UUID = Field(..., description="whose hours are copied")
    location_id: UUID | None = Field(None, description="only the hours at this location")
    from_weekday: int | None = Field(
        None, ge=0, le=6, description="only this day's hours (required with to_weekdays)"
    )
    to_weekdays: list[int] = Field(
        default_factory=list, max_length=7, description="copy onto these days of their week"
    )
    to_practitioner_ids: list[UUID] = Field(
        default_factory=list, max_length=100, description="copy onto these practitioners"
    )


class RuleOut(Schema):
    id: UUID
    practitioner_id: UUID
    location_id: UUID
    weekday: int
    start_time: time
    end_time: time
    modality: str
    effective_from: date | None
    effective_to: date | None
    max_appointments: int | None
    interval_weeks: int
    anchor_date: date | None


class ExceptionIn(Schema):
    practitioner_id: UUID
    kind: str = Field(..., description="extra or blocked")
    start: AwareDatetime
    end: AwareDatetime
    location_id: UUID | None = None
    reason: str = Field("", max_length=200)
    block_anyway: bool = Field(
        False, description="block the time even though appointments are booked in it"
    )


class ExceptionOut(Schema):
    id: UUID
    practitioner_id: UUID
    kind: str
    start: datetime = Field(..., alias="start_at")
    end: datetime = Field(..., alias="end_at")
    location_id: UUID | None
    reason: str


class SettingsIn(Schema):
    late_cancel_hours: int | None = None
    slot_granularity_minutes: int | None = None
    default_hold_seconds: int | None = None
    double_booking_practitioner_ids: list[UUID] | None = None
    ics_detail: str | None = None


class SettingsOut(Schema):
    late_cancel_hours: int
    slot_granularity_minutes: int
    default_hold_seconds: int
    double_booking_practitioner_ids: list[UUID]
    ics_detail: str


class FeedIn(Schema):
    practitioner_id: UUID
    name: str = Field("", max_length=100)


class FeedOut(Schema):
    id: UUID
    practitioner_id: UUID
    name: str
    prefix: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class FeedCreated(FeedOut):
    url: str
    token: str


class WindowOut(Schema):
    practitioner_id: UUID
    location_id: UUID
    start: datetime
    end: datetime


class BlockedOut(Schema):
    practitioner_id: UUID
    start: datetime
    end: datetime
    label: str


class WorkingTimeOut(Schema):
    windows: list[WindowOut]
    blocked: list[BlockedOut]
