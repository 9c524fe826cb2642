"""Documents of the record (multipart upload, list, the bytes, entered in error), the care
team and break-glass access. Thin: rules live in clinical.services and clinical.selectors;
outside the caller's caseload a patient or document is a 404, as another clinic's."""

from uuid import UUID

from django.http import HttpResponse
from ninja import File, Form, Router, Status
from ninja.files import UploadedFile
from ninja.pagination import paginate

from clinic.api.auth import require
from clinic.api.pagination import Mapped, PagePagination
from clinic.clinical import selectors, services
from clinic.clinical.presenters import break_glass_out, care_team_out, document_out
from clinic.clinical.schemas import (
    BreakGlassIn,
    BreakGlassOut,
    CareTeamIn,
    CareTeamOut,
    DocumentOut,
)
from clinic.directory.selectors import patient_for_actor

router = Router(tags=["clinical"])


@router.get("/patients/{patient_id}/documents", response=list[DocumentOut])
@require("document.view")
@paginate(PagePagination)
def documents_list(request, patient_id: UUID, include_errors: bool = False):
    patient = selectors.record_patient(request.auth, patient_id)
    services.record_read(actor=request.auth, patient_id=patient.id, what="documents")
    return Mapped(selectors.documents_list(patient.id, include_errors=include_errors), document_out)


@router.post("/patients/{patient_id}/documents", response={201: DocumentOut})
@require("document.upload")
def document_upload(
    request,
    patient_id: UUID,
    file: File[UploadedFile] = None,
    title: Form[str] = "",
    category: Form[str] = "other",
    encounter_id: Form[str] = "",
):
    """Attach a file (multipart field `file`): a PDF or a PNG, JPEG or WebP image judged from
    its bytes, at most 20 MB by default; otherwise 422 naming the problem."""
    # never more than one byte past the limit in memory: the service refuses it by its size
    data = file.read(services.document_max_bytes() + 1) if file is not None else None
    document = services.document_upload(
        actor=request.auth,
        patient_id=patient_id,
        data=data,
        title=title,
        category=category,
        encounter_id=encounter_id or None,
        original_name=(file.name or "") if file is not None else "",
    )
    return Status(201, document_out(document))


@router.get("/documents/{document_id}", response=DocumentOut)
@require("document.view")
def document_get(request, document_id: UUID):
    return document_out(selectors.document_for_actor(request.auth, document_id))


@router.get("/documents/{document_id}/content", url_name="document_content")
@require("document.view")
def document_content(request, document_id: UUID, download: bool = False):
    """The document's bytes, with the type judged at upload; the read is audited."""
    document, data = services.document_read(actor=request.auth, document_id=document_id)
    return document_response(document, data, download=download)


def document_response(document, data: bytes, *, download: bool = False) -> HttpResponse:
    response = HttpResponse(data, content_type=document.content_type)
    extension = services.DOCUMENT_TYPES[document.content_type]
    disposition = "attachment" if download else "inline"
    response["Content-Disposition"] = f'{disposition}; filename="document.{extension}"'
    response["Cache-Control"] = "private, no-store"
    response["X-Content-Type-Options"] = "nosniff"
    return response


@router.post("/documents/{document_id}/entered-in-error", response=DocumentOut)
@require("document.upload")
def document_entered_in_error(request, document_id: UUID):
    document = services.document_entered_in_error(actor=request.auth, document_id=document_id)
    return document_out(document)


@router.post("/patients/{patient_id}/break-glass", response={201: BreakGlassOut})
@require("record.break_glass")
def break_glass_open(request, patient_id: UUID, payload: BreakGlassIn):
    """Open a time-limited access (default 60 minutes) to a record outside the caller's
    caseload, with a reason; audited and told to the admins."""
    access = services.break_glass_open(
        actor=request.auth, patient_id=patient_id, reason=payload.reason, minutes=payload.minutes
    )
    return Status(201, break_glass_out(access))


@router.get("/patients/{patient_id}/care-team", response=list[CareTeamOut])
@require("patient.view")
@paginate(PagePagination)
def care_team_list(request, patient_id: UUID):
    """The practitioners assigned to the patient's care by hand (their caseload)."""
    patient = patient_for_actor(request.auth, patient_id)
    return Mapped(selectors.care_team(patient.id), care_team_out)


@router.post("/patients/{patient_id}/care-team", response={201: CareTeamOut})
@require("care_team.manage")
def care_team_add(request, patient_id: UUID, payload: CareTeamIn):
    member = services.care_team_add(
        actor=request.auth, patient_id=patient_id, practitioner_id=payload.practitioner_id
    )
    return Status(201, care_team_out(member))


@router.delete("/patients/{patient_id}/care-team/{practitioner_id}", response={204: None})
@require("care_team.manage")
def care_team_remove(request, patient_id: UUID, practitioner_id: UUID):
    services.care_team_remove(
        actor=request.auth, patient_id=patient_id, practitioner_id=practitioner_id
    )
    return Status(204, None)
