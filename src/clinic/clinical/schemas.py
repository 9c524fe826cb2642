from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from ninja import Schema


class Ref(Schema):
    id: UUID
    name: str


class EncounterCreate(Schema):
    patient_id: UUID
    appointment_id: UUID | None = None
    practitioner_id: UUID | None = None
    location_id: UUID | None = None
    kind: str = "visit"


class NoteSummaryOut(Schema):
    id: UUID
    encounter_id: UUID
    patient_id: UUID
    template: str
    status: str
    version: int
    author: Ref | None
    created_at: datetime
    signed_at: datetime | None
    late: bool
    requires_cosign: bool
    cosigned_at: datetime | None


class EncounterOut(Schema):
    id: UUID
    patient: Ref
    practitioner: Ref
    appointment_id: UUID | None
    location: Ref | None
    kind: str
    status: str
    started_at: datetime
    ended_at: datetime | None
    notes: list[NoteSummaryOut]


# Required fields of bodies on a note or an encounter are checked by the services (a 422 naming
# them): optional here so that an unknown id is a 404 before the body is judged.
class NoteCreate(Schema):
    template: str = ""
    sections: Any = None
    requires_cosign: bool = False
    cosigner_id: UUID | None = None


class NoteUpdate(Schema):
    sections: Any = None
    version: int | None = None


class AddendumIn(Schema):
    text: str = ""


class AddendumOut(Schema):
    id: UUID
    author: Ref | None
    text: str
    created_at: datetime


class NoteOut(NoteSummaryOut):
    content_visible: bool
    sections: Any | None
    signed_by: Ref | None
    cosigner: Ref | None
    updated_at: datetime
    addenda: list[AddendumOut]


class VersionOut(Schema):
    number: int
    sections: Any
    saved_by: Ref | None
    saved_at: datetime


class AccessOut(Schema):
    id: UUID
    actor_id: UUID | None
    action: str
    what: str
    note_id: UUID | None
    ip: str | None
    occurred_at: datetime


class ClinicalSettingsOut(Schema):
    late_signing_hours: int


class ClinicalSettingsIn(Schema):
    late_signing_hours: int
