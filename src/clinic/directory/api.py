"""Directory API: /locations, /rooms, /practitioners, /services, /patients (and their contacts),
/contacts. Thin: parse, check the permission, call a selector or a service."""

from uuid import UUID

from django.http import HttpResponse
from django.utils import timezone
from django.utils.translation import gettext as _
from ninja import File, Form, Query, Router, Schema, Status
from ninja.files import UploadedFile
from ninja.pagination import paginate

from clinic.accounts.user_sessions import reauth_require
from clinic.api.auth import require
from clinic.api.pagination import PagePagination
from clinic.core.errors import ValidationFailed
from clinic.directory import importing, presenters, selectors, services
from clinic.directory.pagination import DirectoryPagination
from clinic.directory.schemas import (
    ContactCreate,
    ContactFilters,
    ContactOut,
    ContactUpdate,
    ImportReportOut,
    LocationCreate,
    LocationFilters,
    LocationOut,
    LocationUpdate,
    PatientContactCreate,
    PatientContactOut,
    PatientContactUpdate,
    PatientCreate,
    PatientFilters,
    PatientOut,
    PatientUpdate,
    PractitionerCreate,
    PractitionerFilters,
    PractitionerOut,
    PractitionerUpdate,
    RoomCreate,
    RoomFilters,
    RoomOut,
    RoomUpdate,
    ServiceCreate,
    ServiceFilters,
    ServiceOut,
    ServiceUpdate,
)
from clinic.directory.validation import region_for_time_zone

MAX_IMPORT_BYTES = 20 * 1024 * 1024


def _data(payload: Schema) -> dict:
    return payload.dict(exclude_unset=True)


def _csv_response(body: str, stem: str) -> HttpResponse:
    response = HttpResponse(body, content_type="text/csv; charset=utf-8")
    stamp = timezone.now().strftime("%Y%m%d-%H%M")
    response["Content-Disposition"] = f'attachment; filename="{stem}-{stamp}.csv"'
    return response


# --- locations ---------------------------------------------------------------------------------

locations = Router(tags=["locations"])


@locations.get("", response=list[LocationOut])
@require("location.view")
@paginate(PagePagination)
def locations_list(request, filters: Query[LocationFilters]):
    return selectors.locations_list(**filters.dict())


@locations.post("", response={201: LocationOut})
@require("location.create")
def location_create(request, payload: LocationCreate):
    location = services.location_create(actor=request.auth, data=_data(payload))
    return Status(201, selectors.location_get(location.id))


@locations.get("/{location_id}", response=LocationOut)
@require("location.view")
def location_get(request, location_id: UUID):
    return selectors.location_get(location_id)


@locations.patch("/{location_id}", response=LocationOut)
@require("location.update")
def location_update(request, location_id: UUID, payload: LocationUpdate):
    location = selectors.location_get(location_id)
    services.location_update(actor=request.auth, location=location, data=_data(payload))
    return selectors.location_get(location_id)


@locations.post("/{location_id}/archive", response=LocationOut)
@require("location.archive")
def location_archive(request, location_id: UUID):
    """Archive (never delete): the location and its rooms leave lists and pickers."""
    services.location_archive(actor=request.auth, location=selectors.location_get(location_id))
    return selectors.location_get(location_id)


@locations.post("/{location_id}/restore", response=LocationOut)
@require("location.archive")
def location_restore(request, location_id: UUID):
    services.location_restore(actor=request.auth, location=selectors.location_get(location_id))
    return selectors.location_get(location_id)


# --- rooms -------------------------------------------------------------------------------------

rooms = Router(tags=["rooms"])


@rooms.get("", response=list[RoomOut])
@require("room.view")
@paginate(PagePagination)
def rooms_list(request, filters: Query[RoomFilters]):
    return selectors.rooms_list(**filters.dict())


@rooms.post("", response={201: RoomOut})
@require("room.create")
def room_create(request, payload: RoomCreate):
    room = services.room_create(actor=request.auth, data=_data(payload))
    return Status(201, selectors.room_get(room.id))


@rooms.get("/{room_id}", response=RoomOut)
@require("room.view")
def room_get(request, room_id: UUID):
    return selectors.room_get(room_id)


@rooms.patch("/{room_id}", response=RoomOut)
@require("room.update")
def room_update(request, room_id: UUID, payload: RoomUpdate):
    services.room_update(actor=request.auth, room=selectors.room_get(room_id), data=_data(payload))
    return selectors.room_get(room_id)


@rooms.post("/{room_id}/archive", response=RoomOut)
@require("room.archive")
def room_archive(request, room_id: UUID):
    services.room_archive(actor=request.auth, room=selectors.room_get(room_id))
    return selectors.room_get(room_id)


@rooms.post("/{room_id}/restore", response=RoomOut)
@require("room.archive")
def room_restore(request, room_id: UUID):
    services.room_restore(actor=request.auth, room=selectors.room_get(room_id))
    return selectors.room_get(room_id)


# --- services ----------------------------------------------------------------------------------

service_routes = Router(tags=["services"])


@service_routes.get("", response=list[ServiceOut])
@require("service.view")
@paginate(PagePagination)
def services_list(request, filters: Query[ServiceFilters]):
    return selectors.services_list(**filters.dict())


@service_routes.get("/export.csv", response={200: None})
@require("service.export")
def services_export(request, filters: Query[ServiceFilters]):
    """The services (same filters as the list) as CSV (a browser session must have
    re-authenticated recently: 403 `reauthentication_required` otherwise)."""
    reauth_require(request)
    return _csv_response(
        importing.services_export_csv(selectors.services_list(**filters.dict())), "services"
    )


@service_routes.post("", response={201: ServiceOut})
@require("service.create")
def service_create(request, payload: ServiceCreate):
    service = services.service_create(actor=request.auth, data=_data(payload))
    return Status(201, selectors.service_get(service.id))


@service_routes.get("/{service_id}", response=ServiceOut)
@require("service.view")
def service_get(request, service_id: UUID):
    return selectors.service_get(service_id)


@service_routes.patch("/{service_id}", response=ServiceOut)
@require("service.update")
def service_update(request, service_id: UUID, payload: ServiceUpdate):
    services.service_update(
        actor=request.auth, service=selectors.service_get(service_id), data=_data(payload)
    )
    return selectors.service_get(service_id)


@service_routes.post("/{service_id}/archive", response=ServiceOut)
@require("service.archive")
def service_archive(request, service_id: UUID):
    services.service_archive(actor=request.auth, service=selectors.service_get(service_id))
    return selectors.service_get(service_id)


@service_routes.post("/{service_id}/restore", response=ServiceOut)
@require("service.archive")
def service_restore(request, service_id: UUID):
    services.service_restore(actor=request.auth, service=selectors.service_get(service_id))
    return selectors.service_get(service_id)


# --- practitioners -----------------------------------------------------------------------------

practitioners = Router(tags=["practitioners"])


@practitioners.get("", response=list[PractitionerOut])
@require("practitioner.view")
@paginate(PagePagination)
def practitioners_list(request, filters: Query[PractitionerFilters]):
    return selectors.practitioners_list(**filters.dict())


@practitioners.post("", response={201: PractitionerOut})
@require("practitioner.create")
def practitioner_create(request, payload: PractitionerCreate):
    practitioner = services.practitioner_create(actor=request.auth, data=_data(payload))
    return Status(201, selectors.practitioner_get(practitioner.id))


@practitioners.get("/{practitioner_id}", response=PractitionerOut)
@require("practitioner.view")
def practitioner_get(request, practitioner_id: UUID):
    return selectors.practitioner_get(practitioner_id)


@practitioners.patch("/{practitioner_id}", response=PractitionerOut)
@require("practitioner.update")
def practitioner_update(request, practitioner_id: UUID, payload: PractitionerUpdate):
    services.practitioner_update(
        actor=request.auth,
        practitioner=selectors.practitioner_get(practitioner_id),
        data=_data(payload),
    )
    return selectors.practitioner_get(practitioner_id)


@practitioners.post("/{practitioner_id}/archive", response=PractitionerOut)
@require("practitioner.archive")
def practitioner_archive(request, practitioner_id: UUID):
    services.practitioner_archive(
        actor=request.auth, practitioner=selectors.practitioner_get(practitioner_id)
    )
    return selectors.practitioner_get(practitioner_id)


@practitioners.post("/{practitioner_id}/restore", response=PractitionerOut)
@require("practitioner.archive")
def practitioner_restore(request, practitioner_id: UUID):
    services.practitioner_restore(
        actor=request.auth, practitioner=selectors.practitioner_get(practitioner_id)
    )
    return selectors.practitioner_get(practitioner_id)


# --- patients ----------------------------------------------------------------------------------

patients = Router(tags=["patients"])


@patients.get("", response=list[PatientOut])
@require("patient.view")
@paginate(DirectoryPagination)
def patients_list(request, filters: Query[PatientFilters]):
    """Active patients by default. With `search`, ranked: identifiers, then names, phones and
    contacts. A Patient login sees only its own record and those it is responsible for."""
    return selectors.patients_list(actor=request.auth, **filters.dict())


@patients.get("/export.csv", response={200: None})
@require("patient.export")
def patients_export(request, filters: Query[PatientFilters]):
    """The patients (same filters as the list) as CSV, in the import's format (a browser
    session must have re-authenticated recently: 403 `reauthentication_required` otherwise)."""
    reauth_require(request)
    qs = selectors.patients_list(actor=request.auth, **filters.dict())
    return _csv_response(importing.patients_export_csv(qs), "patients")


@patients.post("/import", response={200: ImportReportOut})
@require("patient.import")
def patients_import(
    request,
    file: File[UploadedFile],
    skip_invalid: Form[bool] = False,
    allow_duplicates: Form[bool] = False,
    date_format: Form[str] = "iso",
    dry_run: Form[bool] = False,
):
    """Import a CSV of patients. Every row is validated first; with any invalid row nothing is
    imported (422 with row-numbered errors) unless `skip_invalid`. `dry_run` only validates."""
    if file.size and file.size > MAX_IMPORT_BYTES:
        raise ValidationFailed(
            _("The file is larger than 20 MB; use `clinic import patients`."),
            details={"file": [_("too large")]},
        )
    report = importing.patients_import(
        actor=request.auth,
        content=file.read(),
        skip_invalid=skip_invalid,
        allow_duplicates=allow_duplicates,
        date_format=date_format,
        dry_run=dry_run,
    )
    file_level = any(e.row <= 1 for e in report.errors)
    if report.errors and (file_level or not skip_invalid):
        message = (
            report.errors[0].message
            if file_level
            else _(
                "%(n)d rows are invalid; nothing was imported. Fix them, or import only the valid "
                "rows with skip_invalid."
            )
            % {"n": len(report.error_rows)}
        )
        raise ValidationFailed(message, code="import_invalid", details=report.as_dict())
    return Status(200, report.as_dict())


@patients.post("", response={201: PatientOut})
@require("patient.create")
def patient_create(request, payload: PatientCreate, force: bool = False):
    """Same name and date of birth as an existing patient → 409 with the existing records,
    unless `force` (in the body or the query). Same microchip or MRN → always 409."""
    data = _data(payload)
    force = data.pop("force", False) or force
    patient = services.patient_create(actor=request.auth, data=data, force=force)
    return Status(201, selectors.patient_for_actor(request.auth, patient.id))


@patients.get("/{patient_id}", response=PatientOut)
@require("patient.view")
def patient_get(request, patient_id: UUID):
    patient = selectors.patient_for_actor(request.auth, patient_id)
    services.patient_access_record(actor=request.auth, patient=patient)
    return patient


@patients.patch("/{patient_id}", response=PatientOut)
@require("patient.update")
def patient_update(request, patient_id: UUID, payload: PatientUpdate):
    patient = selectors.patient_for_actor(request.auth, patient_id)
    services.patient_update(actor=request.auth, patient=patient, data=_data(payload))
    return selectors.patient_for_actor(request.auth, patient_id)


@patients.post("/{patient_id}/archive", response=PatientOut)
@require("patient.archive")
def patient_archive(request, patient_id: UUID):
    """Archive instead of delete: out of default lists and pickers, history kept."""
    services.patient_archive(
        actor=request.auth, patient=selectors.patient_for_actor(request.auth, patient_id)
    )
    return selectors.patient_for_actor(request.auth, patient_id)


@patients.post("/{patient_id}/restore", response=PatientOut)
@require("patient.archive")
def patient_restore(request, patient_id: UUID):
    services.patient_restore(
        actor=request.auth, patient=selectors.patient_for_actor(request.auth, patient_id)
    )
    return selectors.patient_for_actor(request.auth, patient_id)


class PhotoOut(Schema):
    # the authorised page that serves it (a member's session), never a public file URL
    photo_url: str | None


def _photo_out(patient) -> dict:
    return {"photo_url": presenters.patient_photo_url(patient)}


@patients.put("/{patient_id}/photo", response=PhotoOut)
@require("patient.update")
def patient_photo_put(request, patient_id: UUID, photo: File[UploadedFile] = None):
    """Upload the patient's photo (multipart field `photo`): PNG, JPEG or WebP judged from its
    bytes, at most 2 MB; otherwise 422 naming the problem. Replaces the previous one."""
    patient = selectors.patient_for_actor(request.auth, patient_id)
    if photo is None:
        message = _("Choose a photo to upload.")
        raise ValidationFailed(message, details={"photo": [message]})
    # never more than one byte past the limit in memory: the service refuses it by its size
    data = photo.read(services.PHOTO_MAX_BYTES + 1)
    services.patient_photo_set(actor=request.auth, patient=patient, data=data)
    return _photo_out(patient)


@patients.delete("/{patient_id}/photo", response={204: None})
@require("patient.update")
def patient_photo_delete(request, patient_id: UUID):
    patient = selectors.patient_for_actor(request.auth, patient_id)
    services.patient_photo_set(actor=request.auth, patient=patient, data=None)
    return Status(204, None)


@patients.get("/{patient_id}/contacts", response=list[PatientContactOut])
@require("patient.view")
@paginate(PagePagination)
def patient_contacts_list(request, patient_id: UUID):
    return selectors.patient_contacts(selectors.patient_for_actor(request.auth, patient_id))


@patients.post("/{patient_id}/contacts", response={201: PatientContactOut})
@require("contact.create")
def patient_contact_add(request, patient_id: UUID, payload: PatientContactCreate):
    """Link an existing contact (`contact_id`) or create one (`contact`) with a relationship."""
    patient = selectors.patient_for_actor(request.auth, patient_id)
    link = services.patient_contact_add(actor=request.auth, patient=patient, data=_data(payload))
    return Status(201, selectors.patient_contact_for_actor(request.auth, patient_id, link.id))


@patients.get("/{patient_id}/contacts/{link_id}", response=PatientContactOut)
@require("patient.view")
def patient_contact_get(request, patient_id: UUID, link_id: UUID):
    return selectors.patient_contact_for_actor(request.auth, patient_id, link_id)


@patients.patch("/{patient_id}/contacts/{link_id}", response=PatientContactOut)
@require("contact.update")
def patient_contact_update(request, patient_id: UUID, link_id: UUID, payload: PatientContactUpdate):
    link = selectors.patient_contact_for_actor(request.auth, patient_id, link_id)
    services.patient_contact_update(actor=request.auth, link=link, data=_data(payload))
    return selectors.patient_contact_for_actor(request.auth, patient_id, link_id)


@patients.delete("/{patient_id}/contacts/{link_id}", response={204: None})
@require("contact.update")
def patient_contact_remove(request, patient_id: UUID, link_id: UUID):
    """Unlink the contact from the patient (the contact itself stays)."""
    link = selectors.patient_contact_for_actor(request.auth, patient_id, link_id)
    services.patient_contact_remove(actor=request.auth, link=link)
    return Status(204, None)


# --- contacts ----------------------------------------------------------------------------------

contacts = Router(tags=["contacts"])


@contacts.get("", response=list[ContactOut])
@require("contact.view")
@paginate(PagePagination)
def contacts_list(request, filters: Query[ContactFilters]):
    region = region_for_time_zone(request.auth.organization.time_zone)
    return selectors.contacts_list(**filters.dict(), region=region)


@contacts.post("", response={201: ContactOut})
@require("contact.create")
def contact_create(request, payload: ContactCreate):
    contact = services.contact_create(actor=request.auth, data=_data(payload))
    return Status(201, selectors.contact_for_actor(request.auth, contact.id))


@contacts.get("/{contact_id}", response=ContactOut)
@require("contact.view")
def contact_get(request, contact_id: UUID):
    return selectors.contact_for_actor(request.auth, contact_id)


@contacts.patch("/{contact_id}", response=ContactOut)
@require("contact.update")
def contact_update(request, contact_id: UUID, payload: ContactUpdate):
    contact = selectors.contact_for_actor(request.auth, contact_id)
    services.contact_update(actor=request.auth, contact=contact, data=_data(payload))
    return selectors.contact_for_actor(request.auth, contact_id)


@contacts.post("/{contact_id}/archive", response=ContactOut)
@require("contact.archive")
def contact_archive(request, contact_id: UUID):
    services.contact_archive(
        actor=request.auth, contact=selectors.contact_for_actor(request.auth, contact_id)
    )
    return selectors.contact_for_actor(request.auth, contact_id)


@contacts.post("/{contact_id}/restore", response=ContactOut)
@require("contact.archive")
def contact_restore(request, contact_id: UUID):
    services.contact_restore(
        actor=request.auth, contact=selectors.contact_for_actor(request.auth, contact_id)
    )
    return selectors.contact_for_actor(request.auth, contact_id)


router = Router()
router.add_router("/locations", locations)
router.add_router("/rooms", rooms)
router.add_router("/services", service_routes)
router.add_router("/practitioners", practitioners)
router.add_router("/patients", patients)
router.add_router("/contacts", contacts)
