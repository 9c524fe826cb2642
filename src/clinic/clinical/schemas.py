from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from ninja import Schema
from pydantic import AwareDatetime


class ClinicalRef(Schema):
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
    author: ClinicalRef | None
    created_at: datetime
    signed_at: datetime | None
    late: bool
    requires_cosign: bool
    cosigned_at: datetime | None


class EncounterOut(Schema):
    id: UUID
    patient: ClinicalRef
    practitioner: ClinicalRef
    appointment_id: UUID | None
    location: ClinicalRef | None
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
    author: ClinicalRef | None
    text: str
    created_at: datetime


class NoteOut(NoteSummaryOut):
    content_visible: bool
    sections: Any | None
    signed_by: ClinicalRef | None
    cosigner: ClinicalRef | None
    updated_at: datetime
    addenda: list[AddendumOut]


class VersionOut(Schema):
    number: int
    sections: Any
    saved_by: ClinicalRef | None
    saved_at: datetime


class AccessOut(Schema):
    id: UUID
    actor_id: UUID | None
    action: str
    what: str
    note_id: UUID | None
    document_id: UUID | None = None
    reason: str | None = None
    ip: str | None
    occurred_at: datetime


class ClinicalSettingsOut(Schema):
    late_signing_hours: int
    desk_reads_notes: bool


class ClinicalSettingsIn(Schema):
    late_signing_hours: int | None = None
    desk_reads_notes: bool | None = None


# --- the record's lists (allergies, alerts, conditions, observations) ---------------------------
# Bodies are checked by the services (a 422 naming the field): optional here so that an unknown
# patient is a 404 before the body is judged.


class AllergyIn(Schema):
    substance: str = ""
    severity: str = ""
    reaction: str = ""
    status: str = "active"
    onset: date | None = None
    note: str = ""


class AllergyPatch(Schema):
    substance: str | None = None
    severity: str | None = None
    reaction: str | None = None
    status: str | None = None
    onset: date | None = None
    note: str | None = None


class AllergyOut(Schema):
    id: UUID
    patient_id: UUID
    substance: str
    reaction: str
    severity: str
    status: str
    onset: date | None
    note: str
    recorded_by: ClinicalRef | None
    created_at: datetime
    updated_at: datetime


class AllergyReviewOut(Schema):
    patient_id: UUID
    no_known_allergies: bool
    reviewed_at: datetime


class AlertIn(Schema):
    text: str = ""
    level: str = "warning"


class AlertPatch(Schema):
    text: str | None = None
    level: str | None = None
    active: bool | None = None


class AlertOut(Schema):
    id: UUID
    patient_id: UUID
    text: str
    level: str
    active: bool
    created_by: ClinicalRef | None
    created_at: datetime
    updated_at: datetime


class ConditionIn(Schema):
    code: str = ""
    clinical_status: str = "active"
    onset: date | None = None
    abatement: date | None = None
    note: str = ""


class ConditionPatch(Schema):
    code: str | None = None
    clinical_status: str | None = None
    onset: date | None = None
    abatement: date | None = None
    note: str | None = None


class ConditionOut(Schema):
    id: UUID
    patient_id: UUID
    code: str
    label: str
    clinical_status: str
    onset: date | None
    abatement: date | None
    note: str
    recorded_by: ClinicalRef | None
    created_at: datetime
    updated_at: datetime


class ObservationIn(Schema):
    code: str = ""
    value: Decimal | None = None
    recorded_at: AwareDatetime | None = None
    encounter_id: UUID | None = None
    location_id: UUID | None = None


class ObservationOut(Schema):
    id: UUID
    patient_id: UUID
    encounter_id: UUID | None
    code: str
    loinc: str
    value: Decimal
    unit: str
    status: str
    recorded_at: datetime
    recorded_by: ClinicalRef | None
    # against the patient's reference range: "low", "high", or null (within it, or none known)
    interpretation: str | None


class VitalOut(Schema):
    code: str
    loinc: str
    label: str
    unit: str
    minimum: Decimal
    maximum: Decimal
    decimals: int


class Icd10Out(Schema):
    code: str
    label: str


class DocumentOut(Schema):
    id: UUID
    patient_id: UUID
    encounter_id: UUID | None
    title: str
    category: str
    content_type: str
    size: int
    original_name: str
    status: str
    uploaded_by: ClinicalRef | None
    uploaded_at: datetime
    # the authorised address of the bytes (a member's token or session), never a public URL
    content_url: str


class BreakGlassIn(Schema):
    # checked by the service after the patient (a missing reason: 422 naming it)
    reason: str = ""
    minutes: int | None = None


class BreakGlassOut(Schema):
    id: UUID
    patient_id: UUID
    reason: str
    opened_at: datetime
    expires_at: datetime


class ConsentTemplateIn(Schema):
    name: str = ""
    procedure: str = ""
    text: str = ""
    risks: str = ""
    alternatives: str = ""
    estimated_cost: Decimal | None = None
    validity_days: int | None = None
    is_active: bool = True
    service_ids: list[UUID] = []


class ConsentTemplatePatch(Schema):
    name: str | None = None
    procedure: str | None = None
    text: str | None = None
    risks: str | None = None
    alternatives: str | None = None
    estimated_cost: Decimal | None = None
    validity_days: int | None = None
    is_active: bool | None = None
    service_ids: list[UUID] | None = None


class ConsentTemplateOut(Schema):
    id: UUID
    name: str
    procedure: str
    text: str
    risks: str
    alternatives: str
    estimated_cost: Decimal | None
    validity_days: int | None
    version: int
    is_active: bool
    services: list[ClinicalRef]


class ConsentIn(Schema):
    template_id: UUID | None = None
    signer: str = "patient"
    contact_id: UUID | None = None
    signed_name: str = ""
    # the drawing as a PNG data URL ("data:image/png;base64,…")
    signature: str = ""
    witness_name: str = ""


class ConsentWithdrawIn(Schema):
    reason: str = ""


class ConsentOut(Schema):
    id: UUID
    patient_id: UUID
    template: ClinicalRef
    template_version: int
    text_signed: str
    signer: str
    contact: ClinicalRef | None
    signed_name: str
    witness_name: str
    recorded_by: ClinicalRef | None
    signed_at: datetime
    expires_at: datetime | None
    status: str
    valid: bool
    withdrawn_at: datetime | None
    withdrawn_reason: str


class ConsentDetailOut(ConsentOut):
    signature: str


class CareTeamIn(Schema):
    practitioner_id: UUID | None = None


class CareTeamOut(Schema):
    practitioner: ClinicalRef
    added_by: ClinicalRef | None
    added_at: datetime
