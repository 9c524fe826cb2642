"""The clinical record's API: one router per capability, gathered into the one router that
`clinic.api.main` registers. Handlers stay thin; rules live in clinical.services and
clinical.selectors."""

from ninja import Router

from clinic.clinical.api import consents, documents, fhir, notes, record

router = Router(tags=["clinical"])
router.add_router("", notes.router)
router.add_router("", record.router)
router.add_router("", fhir.router)
router.add_router("", documents.router)
router.add_router("", consents.router)
