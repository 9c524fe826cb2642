from datetime import date, datetime
from typing import Any, Literal
from uuid import UUID

from ninja import Field, Schema


class GoalIn(Schema):
    text: str = Field(..., max_length=500)
    target: str = Field("", max_length=200)
    status: str = "open"


class PlanCreate(Schema):
    patient_id: UUID
    practitioner_id: UUID
    title: str = Field(..., max_length=200)
    start_date: date
    end_date: date | None = None
    planned_consultations: int | None = None
    frequency_count: int | None = None
    frequency_unit: str = "week"
    service_id: UUID | None = None
    location_id: UUID | None = None
    modality: str = "in_person"
    reason: str = ""
    diagnosis_codes: list[str] = []
    goals: list[GoalIn] = []
    notes: str = ""


class PlanUpdate(Schema):
    practitioner_id: UUID | None = None
    title: str | None = Field(None, max_length=200)
    start_date: date | None = None
    end_date: date | None = None
    planned_consultations: int | None = None
    frequency_count: int | None = None
    frequency_unit: str | None = None
    service_id: UUID | None = None
    location_id: UUID | None = None
    modality: str | None = None
    reason: str | None = None
    diagnosis_codes: list[str] | None = None
    goals: list[GoalIn] | None = None
    notes: str | None = None


class PlanStatusIn(Schema):
    # Required by the services (422 naming it); optional here so that an unknown id is a 404
    # before the body is judged.
    status: str = ""
    reason: str = Field("", max_length=500)


class CareRef(Schema):
    id: UUID
    name: str


class ProgressOut(Schema):
    planned: int
    scheduled: int
    completed: int
    missed: int
    cancelled: int
    total: int
    target: int | None
    expected_by_now: int | None
    next_start: datetime | None
    on_track: bool | None
    remaining: int | None


class PlanOut(Schema):
    id: UUID
    title: str
    status: str
    patient: CareRef
    practitioner: CareRef
    service: CareRef | None
    location: CareRef | None
    modality: str
    start_date: date
    end_date: date | None
    planned_consultations: int | None
    frequency_count: int | None
    frequency_unit: str
    frequency: str
    reason: str
    diagnosis_codes: list[str]
    goals: list[dict[str, Any]]
    notes: str
    progress: ProgressOut
    created_at: datetime
    updated_at: datetime


class ConsultationCreate(Schema):
    planned_start: datetime | None = None  # required: checked by the service (see PlanStatusIn)
    duration_minutes: int | None = None
    type: str | None = None
    location_id: UUID | None = None
    modality: str | None = None
    practitioner_id: UUID | None = None
    notes: str = ""


class ConsultationUpdate(Schema):
    planned_start: datetime | None = None
    duration_minutes: int | None = None
    type: str | None = None
    location_id: UUID | None = None
    modality: str | None = None
    practitioner_id: UUID | None = None
    notes: str | None = None


class ScheduleIn(Schema):
    start: datetime | None = None


class ConsultationOut(Schema):
    id: UUID
    plan_id: UUID
    sequence: int
    type: str
    status: str
    planned_start: datetime
    planned_end: datetime
    duration_minutes: int
    modality: str
    practitioner: CareRef
    location: CareRef | None
    appointment_id: UUID | None
    notes: str


class BulkOperation(Schema):
    op: Literal["create", "update", "schedule", "set_status", "delete"]
    id: UUID | None = None
    planned_start: datetime | None = None
    duration_minutes: int | None = None
    type: str | None = None
    location_id: UUID | None = None
    modality: str | None = None
    practitioner_id: UUID | None = None
    notes: str | None = None
    start: datetime | None = None
    status: str | None = None
    reason: str | None = None


class BulkIn(Schema):
    # see PlanStatusIn
    operations: list[BulkOperation] = Field(default_factory=list, max_length=200)
    atomic: bool = True


class BulkResult(Schema):
    index: int
    op: str
    ok: bool
    status: int | None
    consultation: ConsultationOut | None = None
    deleted: UUID | None = None
    error: dict[str, Any] | None = None


class BulkOut(Schema):
    atomic: bool
    applied: int
    failed: int
    results: list[BulkResult]
