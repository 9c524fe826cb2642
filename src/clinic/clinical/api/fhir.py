"""The FHIR R4 export of one patient's record: a `collection` Bundle as
`application/fhir+json`. Thin: the bundle is built by clinical.fhir; the access rules are the
record's (another clinic's patient or one outside the caller's caseload: 404)."""

from uuid import UUID

from django.http import HttpResponse
from ninja import Router

from clinic.api.auth import require
from clinic.clinical import selectors, services
from clinic.clinical.fhir import FHIR_CONTENT_TYPE, patient_bundle

router = Router(tags=["clinical"])


@router.get(
    "/patients/{patient_id}/fhir",
    response={200: None},
    summary="The patient's record as a FHIR R4 Bundle (collection)",
    openapi_extra={
        "responses": {
            200: {
                "description": "A FHIR R4 Bundle of type collection.",
                "content": {FHIR_CONTENT_TYPE: {"schema": {"type": "object"}}},
            }
        }
    },
)
@require("record.export")
def patient_fhir(request, patient_id: UUID):
    patient = selectors.record_patient(request.auth, patient_id)
    bundle = patient_bundle(request.auth, patient)
    services.record_read(actor=request.auth, patient_id=patient.id, what="fhir_export")
    return HttpResponse(bundle.model_dump_json(), content_type=FHIR_CONTENT_TYPE)
