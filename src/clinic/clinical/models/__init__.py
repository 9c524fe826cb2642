"""The clinical record's tables, one file per part of the record; imported here so Django
finds them and callers keep importing from `clinic.clinical.models`."""

from clinic.clinical.models.access import BreakGlassAccess, CareTeamMember
from clinic.clinical.models.consents import (
    Consent,
    ConsentRequirement,
    ConsentSigner,
    ConsentStatus,
    ConsentTemplate,
)
from clinic.clinical.models.documents import Document, DocumentCategory, DocumentStatus
from clinic.clinical.models.notes import (
    DEFAULT_LATE_SIGNING_HOURS,
    Addendum,
    ClinicalNote,
    ClinicalSettings,
    Encounter,
    EncounterKind,
    EncounterStatus,
    NoteStatus,
    NoteTemplate,
    NoteVersion,
)
from clinic.clinical.models.record import (
    BANNER_SEVERITIES,
    Alert,
    AlertLevel,
    Allergy,
    AllergyReview,
    AllergySeverity,
    AllergyStatus,
    Condition,
    ConditionStatus,
    Observation,
    ObservationStatus,
)

__all__ = [
    "BANNER_SEVERITIES",
    "DEFAULT_LATE_SIGNING_HOURS",
    "Addendum",
    "Alert",
    "AlertLevel",
    "Allergy",
    "AllergyReview",
    "AllergySeverity",
    "AllergyStatus",
    "BreakGlassAccess",
    "CareTeamMember",
    "ClinicalNote",
    "ClinicalSettings",
    "Condition",
    "ConditionStatus",
    "Consent",
    "ConsentRequirement",
    "ConsentSigner",
    "ConsentStatus",
    "ConsentTemplate",
    "Document",
    "DocumentCategory",
    "DocumentStatus",
    "Encounter",
    "EncounterKind",
    "EncounterStatus",
    "NoteStatus",
    "NoteTemplate",
    "NoteVersion",
    "Observation",
    "ObservationStatus",
]
