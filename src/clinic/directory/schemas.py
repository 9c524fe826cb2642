"""API shapes of the directory. Inputs forbid unknown fields (a typo is a 422 naming it, not a
silently ignored value); amounts are strings with two decimals."""

from datetime import date, datetime
from decimal import Decimal
from typing import Literal
from uuid import UUID

from ninja import Field, Schema
from pydantic import ConfigDict

from clinic.api.types import decimal_column

Status = Literal["active", "archived", "all"]


class In(Schema):
    model_config = ConfigDict(extra="forbid")


class AddressIn(In):
    address_line1: str | None = Field(None, max_length=200)
    address_line2: str | None = Field(None, max_length=200)
    city: str | None = Field(None, max_length=100)
    postal_code: str | None = Field(None, max_length=20)
    region: str | None = Field(None, max_length=100)
    country: str | None = Field(None, max_length=2, description="ISO 3166 alpha-2, e.g. FR")


class AddressOut(Schema):
    address_line1: str
    address_line2: str
    city: str
    postal_code: str
    region: str
    country: str


def _money(value: Decimal | None) -> str | None:
    return None if value is None else f"{value:.2f}"


# --- locations ---------------------------------------------------------------------------------


class LocationCreate(AddressIn):
    name: str = Field(..., max_length=200)
    time_zone: str | None = Field(
        None, max_length=64, description="IANA zone; the organization's by default"
    )
    phone: str | None = Field(None, max_length=40)


class LocationUpdate(AddressIn):
    name: str | None = Field(None, max_length=200)
    time_zone: str | None = Field(None, max_length=64)
    phone: str | None = Field(None, max_length=40)


class LocationOut(AddressOut):
    id: UUID
    name: str
    time_zone: str
    phone: str
    active: bool = Field(..., alias="is_active")
    room_count: int = 0
    created_at: datetime
    updated_at: datetime


class LocationFilters(Schema):
    search: str | None = Field(None, max_length=200)
    status: Status = "active"
    sort: str | None = Field(None, description="name, -name, created_at, -created_at")


# --- rooms -------------------------------------------------------------------------------------

RoomKindIn = Literal["treatment", "consultation", "group", "surgery", "imaging", "kennel", "other"]


class RoomCreate(In):
    location_id: UUID
    name: str = Field(..., max_length=100)
    kind: RoomKindIn = "treatment"
    capacity: int = Field(1, ge=1, le=1000)


class RoomUpdate(In):
    location_id: UUID | None = None
    name: str | None = Field(None, max_length=100)
    kind: RoomKindIn | None = None
    capacity: int | None = Field(None, ge=1, le=1000)


class RoomOut(Schema):
    id: UUID
    location_id: UUID
    location_name: str = Field(..., alias="location.name")
    name: str
    kind: str
    capacity: int
    active: bool = Field(..., alias="is_active")
    created_at: datetime
    updated_at: datetime


class RoomFilters(Schema):
    search: str | None = Field(None, max_length=200)
    status: Status = "active"
    location_id: UUID | None = None
    kind: RoomKindIn | None = None
    min_capacity: int | None = Field(None, ge=1)
    sort: str | None = Field(None, description="name, -name, capacity, -capacity, created_at")


# --- services ----------------------------------------------------------------------------------

ModalityIn = Literal["in_person", "telehealth", "home_visit"]
# the sizes of their numeric columns (directory.models): 1e308 is a 422, not a database error
Price = decimal_column(10, 2)
Percent = decimal_column(5, 2)


class ServiceCreate(In):
    name: str = Field(..., max_length=200)
    code: str | None = Field(None, max_length=32)
    description: str | None = Field(None, max_length=5000)
    duration_minutes: int = Field(..., ge=1, le=1440)
    buffer_before_minutes: int | None = Field(None, ge=0, le=240)
    buffer_after_minutes: int | None = Field(None, ge=0, le=240)
    price: Price = Field(..., ge=0, description='e.g. "45.00"')
    tax_rate: Percent | None = Field(None, ge=0, le=100, description="percent, e.g. 20.00")
    modality: ModalityIn = "in_person"
    colour: str | None = Field(None, max_length=7, description="#rrggbb")
    practitioner_ids: list[UUID] | None = None


class ServiceUpdate(In):
    name: str | None = Field(None, max_length=200)
    code: str | None = Field(None, max_length=32)
    description: str | None = Field(None, max_length=5000)
    duration_minutes: int | None = Field(None, ge=1, le=1440)
    buffer_before_minutes: int | None = Field(None, ge=0, le=240)
    buffer_after_minutes: int | None = Field(None, ge=0, le=240)
    price: Price | None = Field(None, ge=0)
    tax_rate: Percent | None = Field(None, ge=0, le=100)
    modality: ModalityIn | None = None
    colour: str | None = Field(None, max_length=7)
    practitioner_ids: list[UUID] | None = None


class ServiceOut(Schema):
    id: UUID
    name: str
    code: str
    description: str
    duration_minutes: int
    buffer_before_minutes: int
    buffer_after_minutes: int
    price: str
    tax_rate: str
    modality: str
    colour: str
    active: bool = Field(..., alias="is_active")
    practitioner_ids: list[UUID]
    created_at: datetime
    updated_at: datetime

    @staticmethod
    def resolve_price(obj) -> str:
        return _money(obj.price)

    @staticmethod
    def resolve_tax_rate(obj) -> str:
        return _money(obj.tax_rate)

    @staticmethod
    def resolve_practitioner_ids(obj) -> list[UUID]:
        return [p.id for p in obj.practitioners.all()]


class ServiceFilters(Schema):
    search: str | None = Field(None, max_length=200)
    status: Status = "active"
    modality: ModalityIn | None = None
    practitioner_id: UUID | None = None
    sort: str | None = Field(None, description="name, -name, price, -price, duration, code")


# --- practitioners -----------------------------------------------------------------------------


class Credential(Schema):
    kind: str = Field(..., max_length=50, description="licence, registration, NPI, ...")
    number: str = Field(..., max_length=64)
    issuer: str = Field("", max_length=200)


class PractitionerCreate(In):
    display_name: str = Field(..., max_length=200)
    membership_id: UUID | None = Field(None, description="the staff member's membership")
    discipline: str | None = Field(None, max_length=100)
    credentials: list[Credential] | None = None
    specialties: list[str] | None = None
    colour: str | None = Field(None, max_length=7)
    default_location_id: UUID | None = None
    service_ids: list[UUID] | None = None


class PractitionerUpdate(PractitionerCreate):
    display_name: str | None = Field(None, max_length=200)


class PractitionerOut(Schema):
    id: UUID
    display_name: str
    membership_id: UUID | None
    email: str | None = None
    discipline: str
    credentials: list[Credential]
    specialties: list[str]
    colour: str
    default_location_id: UUID | None
    active: bool = Field(..., alias="is_active")
    service_ids: list[UUID]
    created_at: datetime
    updated_at: datetime

    @staticmethod
    def resolve_email(obj) -> str | None:
        return obj.membership.user.email if obj.membership_id else None

    @staticmethod
    def resolve_service_ids(obj) -> list[UUID]:
        return [s.id for s in obj.services.all()]


class PractitionerFilters(Schema):
    search: str | None = Field(None, max_length=200)
    status: Status = "active"
    service_id: UUID | None = None
    location_id: UUID | None = None
    specialty: str | None = Field(None, max_length=100)
    discipline: str | None = Field(None, max_length=100)
    sort: str | None = Field(None, description="name, -name, created_at, -created_at")


# --- contacts ----------------------------------------------------------------------------------

Language = Literal["en", "fr", "ar", ""]
RelationshipIn = Literal["parent", "legal_guardian", "owner", "emergency_contact", "payer", "other"]


class ContactCreate(AddressIn):
    given_name: str | None = Field(None, max_length=100)
    family_name: str | None = Field(None, max_length=100)
    phone: str | None = Field(None, max_length=40)
    email: str | None = Field(None, max_length=254)
    preferred_language: Language | None = None
    notes: str | None = Field(None, max_length=5000)
    membership_id: UUID | None = Field(None, description="the contact's own login, if any")


class ContactUpdate(ContactCreate):
    pass


class ContactPatientOut(Schema):
    link_id: UUID = Field(..., alias="id")
    patient_id: UUID
    display_name: str = Field(..., alias="patient.display_name")
    mrn: str = Field(..., alias="patient.mrn")
    relationship: str
    is_primary: bool


class ContactOut(AddressOut):
    id: UUID
    given_name: str
    family_name: str
    display_name: str
    phone: str
    email: str
    preferred_language: str
    notes: str
    membership_id: UUID | None
    archived: bool
    archived_at: datetime | None
    patients: list[ContactPatientOut]
    created_at: datetime
    updated_at: datetime

    @staticmethod
    def resolve_patients(obj):
        return list(obj.patient_links.all())


class ContactFilters(Schema):
    search: str | None = Field(None, max_length=200)
    status: Status = "active"
    patient_id: UUID | None = None
    sort: str | None = Field(None, description="name, -name, created_at, -created_at")


class ContactBrief(Schema):
    id: UUID
    given_name: str
    family_name: str
    display_name: str
    phone: str
    email: str
    archived: bool


class PatientContactCreate(In):
    contact_id: UUID | None = Field(None, description="an existing contact...")
    contact: ContactCreate | None = Field(None, description="...or a new one")
    relationship: RelationshipIn | None = Field(None, description="required")
    is_primary: bool = False
    may_receive_clinical_info: bool = False


class PatientContactUpdate(In):
    relationship: RelationshipIn | None = None
    is_primary: bool | None = None
    may_receive_clinical_info: bool | None = None


class PatientContactOut(Schema):
    id: UUID
    patient_id: UUID
    contact: ContactBrief
    relationship: str
    is_primary: bool
    may_receive_clinical_info: bool
    created_at: datetime


# --- patients ----------------------------------------------------------------------------------

SexIn = Literal["female", "male", "other", "unknown"]
WeightKg = decimal_column(7, 3)


class PatientCreate(AddressIn):
    given_name: str = Field(..., max_length=100)
    family_name: str | None = Field(None, max_length=100)
    preferred_name: str | None = Field(None, max_length=100)
    date_of_birth: date | None = Field(None, description="required for human patients")
    sex: SexIn | None = None
    gender_identity: str | None = Field(None, max_length=50)
    phone: str | None = Field(None, max_length=40)
    email: str | None = Field(None, max_length=254)
    preferred_language: Language | None = None
    mrn: str | None = Field(None, max_length=32, description="generated when not given")
    notes: str | None = Field(None, max_length=10000)
    species: str | None = Field(None, max_length=50, description="empty for a human patient")
    breed: str | None = Field(None, max_length=100)
    microchip: str | None = Field(None, max_length=40)
    weight_kg: WeightKg | None = Field(None, gt=0)
    neutered: bool | None = None
    membership_id: UUID | None = Field(None, description="the patient's own login, if any")
    force: bool = Field(False, description="create even if a possible duplicate exists")


class PatientUpdate(AddressIn):
    given_name: str | None = Field(None, max_length=100)
    family_name: str | None = Field(None, max_length=100)
    preferred_name: str | None = Field(None, max_length=100)
    date_of_birth: date | None = None
    sex: SexIn | None = None
    gender_identity: str | None = Field(None, max_length=50)
    phone: str | None = Field(None, max_length=40)
    email: str | None = Field(None, max_length=254)
    preferred_language: Language | None = None
    mrn: str | None = Field(None, max_length=32)
    notes: str | None = Field(None, max_length=10000)
    species: str | None = Field(None, max_length=50)
    breed: str | None = Field(None, max_length=100)
    microchip: str | None = Field(None, max_length=40)
    weight_kg: WeightKg | None = Field(None, gt=0)
    neutered: bool | None = None
    membership_id: UUID | None = None


class PatientContactBrief(Schema):
    link_id: UUID = Field(..., alias="id")
    contact_id: UUID
    display_name: str = Field(..., alias="contact.display_name")
    phone: str = Field(..., alias="contact.phone")
    relationship: str
    is_primary: bool
    may_receive_clinical_info: bool


class PatientOut(AddressOut):
    id: UUID
    mrn: str
    given_name: str
    family_name: str
    preferred_name: str
    display_name: str
    date_of_birth: date | None
    sex: str
    gender_identity: str
    phone: str
    email: str
    preferred_language: str
    notes: str
    species: str
    breed: str
    microchip: str
    weight_kg: str | None
    neutered: bool | None
    membership_id: UUID | None
    archived: bool
    archived_at: datetime | None
    contacts: list[PatientContactBrief]
    created_at: datetime
    updated_at: datetime

    @staticmethod
    def resolve_weight_kg(obj) -> str | None:
        return None if obj.weight_kg is None else f"{obj.weight_kg.normalize():f}"

    @staticmethod
    def resolve_contacts(obj):
        return list(obj.contact_links.all())


class PatientFilters(Schema):
    search: str | None = Field(
        None,
        max_length=200,
        description="name prefixes (accent/case-insensitive), phone digits, MRN, microchip, "
        "contact names",
    )
    status: Status = "active"
    kind: Literal["human", "animal"] | None = None
    species: str | None = Field(None, max_length=50)
    contact_id: UUID | None = None
    sort: str | None = Field(
        None,
        description="relevance (default with search), name, -name, mrn, -mrn, "
        "date_of_birth, -date_of_birth, created_at, -created_at",
    )


class ImportRowError(Schema):
    row: int
    field: str
    message: str


class ImportReportOut(Schema):
    total_rows: int
    valid_rows: int
    created: int
    contacts_created: int
    contacts_reused: int
    errors: list[ImportRowError]
    warnings: list[str]
    skipped_rows: list[int]
    columns: dict[str, str]
    imported: bool
    dry_run: bool
