"""The clinical record's API: encounters, notes (sign, co-sign, addenda, versions), the
access log of a patient's record, and the clinical settings. Thin: rules live in
clinical.services (writes) and clinical.selectors (who sees what)."""

from uuid import UUID

from django.http import HttpResponse
from django.utils import translation
from ninja import Router, Status
from ninja.pagination import paginate

from clinic.api.auth import require
from clinic.api.pagination import Mapped, PagePagination
from clinic.clinical import selectors, services
from clinic.clinical.pdf import note_pdf
from clinic.clinical.presenters import addendum_out, encounter_out, note_out, version_out
from clinic.clinical.schemas import (
    AccessOut,
    AddendumIn,
    AddendumOut,
    ClinicalSettingsIn,
    ClinicalSettingsOut,
    EncounterCreate,
    EncounterOut,
    NoteCreate,
    NoteOut,
    NoteUpdate,
    VersionOut,
)
from clinic.directory.selectors import patient_for_actor

router = Router(tags=["clinical"])


def _note_full(actor, note_id) -> dict:
    note = selectors.note_for_actor(actor, note_id)
    return note_out(note, addenda=selectors.note_addenda(note))


@router.post("/encounters", response={201: EncounterOut})
@require("encounter.create")
def encounter_create(request, payload: EncounterCreate):
    encounter = services.encounter_create(actor=request.auth, **payload.dict())
    return Status(201, encounter_out(selectors.encounter_detail(request.auth, encounter.id)))


@router.get("/encounters", response=list[EncounterOut])
@require("encounter.view")
@paginate(PagePagination)
def encounters_list(request, patient_id: UUID | None = None):
    if patient_id is not None:
        patient_for_actor(request.auth, patient_id)
    return Mapped(selectors.encounters_list(request.auth, patient_id=patient_id), encounter_out)


@router.get("/encounters/{encounter_id}", response=EncounterOut)
@require("encounter.view")
def encounter_get(request, encounter_id: UUID):
    return encounter_out(selectors.encounter_detail(request.auth, encounter_id))


@router.post("/encounters/{encounter_id}/close", response=EncounterOut)
@require("encounter.create")
def encounter_close(request, encounter_id: UUID):
    encounter = selectors.encounter_for_actor(request.auth, encounter_id)
    services.encounter_close(actor=request.auth, encounter=encounter)
    return encounter_out(selectors.encounter_detail(request.auth, encounter_id))


@router.post("/encounters/{encounter_id}/notes", response={201: NoteOut})
@require("note.write")
def note_create(request, encounter_id: UUID, payload: NoteCreate):
    encounter = selectors.encounter_for_actor(request.auth, encounter_id)
    note = services.note_create(actor=request.auth, encounter=encounter, **payload.dict())
    return Status(201, _note_full(request.auth, note.id))


@router.get("/notes/{note_id}", response=NoteOut)
@require("note.view")
def note_get(request, note_id: UUID):
    """The note with its content and addenda (a read of the patient's record, logged), or only
    that it exists for the staff who may not read clinical content."""
    summary = selectors.note_for_actor(request.auth, note_id, content=False)
    if not selectors.note_content_visible(request.auth, summary):
        return note_out(summary)
    body = _note_full(request.auth, note_id)
    services.note_read_record(actor=request.auth, note=summary)
    return body


@router.patch("/notes/{note_id}", response=NoteOut)
@require("note.write")
def note_update(request, note_id: UUID, payload: NoteUpdate):
    services.note_update(
        actor=request.auth, note_id=note_id, sections=payload.sections, version=payload.version
    )
    return _note_full(request.auth, note_id)


@router.post("/notes/{note_id}/sign", response=NoteOut)
@require("note.write")
def note_sign(request, note_id: UUID):
    services.note_sign(actor=request.auth, note_id=note_id)
    return _note_full(request.auth, note_id)


@router.post("/notes/{note_id}/cosign", response=NoteOut)
@require("note.write")
def note_cosign(request, note_id: UUID):
    services.note_cosign(actor=request.auth, note_id=note_id)
    return _note_full(request.auth, note_id)


@router.post("/notes/{note_id}/addenda", response={201: AddendumOut})
@require("note.write")
def addendum_add(request, note_id: UUID, payload: AddendumIn):
    addendum = services.addendum_add(actor=request.auth, note_id=note_id, text=payload.text)
    return Status(201, addendum_out(addendum))


@router.get("/notes/{note_id}/pdf")
@require("note.view")
def note_pdf_get(request, note_id: UUID, language: str = ""):
    """A signed note as PDF (a draft: 409 `note_draft`); the read is logged."""
    note = selectors.note_for_actor(request.auth, note_id)
    body = note_pdf(
        note,
        organization=request.auth.organization,
        language=language or translation.get_language(),
    )
    services.note_read_record(actor=request.auth, note=note, what="pdf")
    response = HttpResponse(body, content_type="application/pdf")
    response["Content-Disposition"] = f'inline; filename="note-{note.id}.pdf"'
    response["Cache-Control"] = "private, no-store"
    return response


@router.get("/notes/{note_id}/versions", response=list[VersionOut])
@require("note.view")
@paginate(PagePagination)
def note_versions(request, note_id: UUID):
    note = selectors.note_for_actor(request.auth, note_id)
    services.note_read_record(actor=request.auth, note=note, what="versions")
    return Mapped(selectors.note_versions(note), version_out)


def _access_out(event) -> dict:
    details = event.details or {}
    return {
        "id": event.id,
        "actor_id": event.actor_id,
        "action": event.action,
        "what": details.get("what", "record"),
        "note_id": details.get("note_id"),
        "document_id": details.get("document_id"),
        "reason": details.get("reason"),
        "ip": event.ip,
        "occurred_at": event.occurred_at,
    }


@router.get("/patients/{patient_id}/access-log", response=list[AccessOut])
@require("clinical.access_log")
@paginate(PagePagination)
def patient_access_log(request, patient_id: UUID):
    patient = patient_for_actor(request.auth, patient_id)
    return Mapped(selectors.patient_access_log(patient.id), _access_out)


@router.get("/clinical-settings", response=ClinicalSettingsOut)
@require("clinical.settings")
def clinical_settings_get(request):
    found = selectors.settings_get()
    return {
        "late_signing_hours": found.late_signing_hours,
        "desk_reads_notes": found.desk_reads_notes,
    }


@router.patch("/clinical-settings", response=ClinicalSettingsOut)
@require("clinical.settings")
def clinical_settings_update(request, payload: ClinicalSettingsIn):
    found = services.settings_update(actor=request.auth, **payload.dict(exclude_unset=True))
    return {
        "late_signing_hours": found.late_signing_hours,
        "desk_reads_notes": found.desk_reads_notes,
    }
