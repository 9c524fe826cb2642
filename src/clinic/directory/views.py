"""Directory pages (htmx): patients (search as you type, detail, forms, contacts), contacts,
practitioners, services, locations and rooms, CSV import with progress, exports.

Thin: reads go through `selectors` (the same scoping as the API), writes through `services`; a
`DomainError` comes back next to the fields it names. Pages check permissions with
`page_requires` and hide what the role cannot do."""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib import messages
from django.core.paginator import Page, Paginator
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from clinic.accounts.user_sessions import page_reauth_required
from clinic.api.pagination import MAX_PAGE
from clinic.core.errors import Conflict, DomainError, NotFound
from clinic.directory import importing, selectors, services
from clinic.directory.forms import (
    COMMON_SPECIES,
    ContactForm,
    ImportForm,
    LinkForm,
    LocationForm,
    PatientForm,
    PractitionerForm,
    RoomForm,
    ServiceForm,
)
from clinic.directory.models import ImportStatus, Location, Practitioner, Service
from clinic.directory.validation import phone_display, region_for_time_zone
from clinic.web.access import page_requires

PAGE_SIZE = 50


def _not_found(request):
    return render(request, "web/not_found.html", status=404)


def _can(request, resource: str, *actions: str) -> dict[str, bool]:
    return {action: request.membership.has(f"{resource}.{action}") for action in actions}


def _status_filter(request) -> str:
    status = request.GET.get("status") or "active"
    return status if status in selectors.STATUSES else "active"


def _query_without_page(request) -> str:
    params = [(k, v) for k, v in request.GET.items() if k != "page" and v]
    return urlencode(params)


def _page(request, qs):
    """A Django Page for the templates, counted with the page itself for ranked searches."""
    try:
        number = min(max(1, int(request.GET.get("page") or 1)), MAX_PAGE)
    except ValueError:
        number = 1
    items, total = selectors.page_with_total(qs, offset=(number - 1) * PAGE_SIZE, limit=PAGE_SIZE)
    paginator = Paginator(qs, PAGE_SIZE)
    paginator.__dict__["count"] = total  # already known: no second COUNT query
    if total and not items:  # past the end: show the last page
        number = paginator.num_pages
        items, _total = selectors.page_with_total(
            qs, offset=(number - 1) * PAGE_SIZE, limit=PAGE_SIZE
        )
    return Page(items, number, paginator)


def _fragment(request, target: str) -> bool:
    return bool(getattr(request, "htmx", False)) and request.htmx.target == target


def _error_status(request, exc: DomainError) -> int:
    """htmx swaps only 2xx fragments by default: a refused change is shown with 200 there (the
    service wrote nothing); full-page posts get the error status."""
    return 200 if getattr(request, "htmx", False) else exc.status


# --- patients ----------------------------------------------------------------------------------


@page_requires("patient.view")
def patients(request):
    search = (request.GET.get("search") or "").strip()[:200]
    kind = request.GET.get("kind") if request.GET.get("kind") in ("human", "animal") else None
    status = _status_filter(request)
    qs = selectors.patients_list(
        actor=request.membership, search=search or None, status=status, kind=kind
    )
    context = {
        "page": _page(request, qs),
        "search": search,
        "kind": kind or "",
        "status": status,
        "query": _query_without_page(request),
        "can": _can(request, "patient", "create", "import", "export"),
    }
    template = "directory/patients.html"
    if _fragment(request, "patient-results"):
        template += "#results"
    return render(request, template, context)


def _patient_form_context(request, form, **extra):
    return {"form": form, "species": COMMON_SPECIES, **extra}


@page_requires("patient.create")
@require_http_methods(["GET", "POST"])
def patient_new(request):
    form = PatientForm(request.POST or None, creating=True)
    duplicates = []
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                patient = services.patient_create(
                    actor=request.membership,
                    data=form.service_data(),
                    force=form.cleaned_data["force"],
                )
            except Conflict as exc:
                status = exc.status
                if exc.code == "possible_duplicate":
                    duplicates = exc.details["existing"]
                else:
                    form.errors_from(exc)
            except DomainError as exc:
                status = exc.status
                form.errors_from(exc)
            else:
                messages.success(
                    request,
                    _("Patient %(name)s created (%(mrn)s).")
                    % {"name": patient.display_name, "mrn": patient.mrn},
                )
                return redirect("directory:patient", patient_id=patient.id)
        else:
            status = 422
    return render(
        request,
        "directory/patient_form.html",
        _patient_form_context(request, form, duplicates=duplicates, creating=True),
        status=status,
    )


def _patient_or_404(request, patient_id):
    try:
        return selectors.patient_for_actor(request.membership, patient_id)
    except NotFound:
        return None


def _contacts_context(request, patient, form=None):
    return {
        "patient": patient,
        "links": list(patient.contact_links.all()),
        "link_form": form or LinkForm(),
        "can_link": request.membership.has("contact.create"),
        "can_unlink": request.membership.has("contact.update"),
        "can_edit_contacts": request.membership.has("contact.update"),
    }


@page_requires("patient.update")
@require_http_methods(["GET", "POST"])
def patient_edit(request, patient_id):
    patient = _patient_or_404(request, patient_id)
    if patient is None:
        return _not_found(request)
    initial = {name: getattr(patient, name) for name in PatientForm.base_fields if name != "force"}
    initial["neutered"] = "" if patient.neutered is None else str(patient.neutered).lower()
    initial["date_of_birth"] = patient.date_of_birth.isoformat() if patient.date_of_birth else ""
    form = PatientForm(request.POST or None, initial=initial, creating=False)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                services.patient_update(
                    actor=request.membership, patient=patient, data=form.service_data()
                )
            except DomainError as exc:
                status = exc.status
                form.errors_from(exc)
            else:
                messages.success(request, _("Changes saved."))
                return redirect("directory:patient", patient_id=patient.id)
        else:
            status = 422
    return render(
        request,
        "directory/patient_form.html",
        _patient_form_context(request, form, patient=patient, creating=False),
        status=status,
    )


@require_POST
@page_requires("patient.archive")
def patient_archive(request, patient_id):
    patient = _patient_or_404(request, patient_id)
    if patient is None:
        return _not_found(request)
    if request.POST.get("restore"):
        services.patient_restore(actor=request.membership, patient=patient)
        messages.success(request, _("The patient record is active again."))
    else:
        services.patient_archive(actor=request.membership, patient=patient)
        messages.success(
            request, _("Patient archived: hidden from lists and pickers, history kept.")
        )
    return redirect("directory:patient", patient_id=patient.id)


@require_POST
@page_requires("contact.create")
def patient_contact_add(request, patient_id):
    patient = _patient_or_404(request, patient_id)
    if patient is None:
        return _not_found(request)
    form = LinkForm(request.POST)
    status = 200
    if form.is_valid():
        try:
            services.patient_contact_add(
                actor=request.membership, patient=patient, data=form.service_data()
            )
        except DomainError as exc:
            form.errors_from(exc)
            status = _error_status(request, exc)
        else:
            patient = selectors.patient_for_actor(request.membership, patient.id)
            form = None
    else:
        status = 200 if getattr(request, "htmx", False) else 422
    context = _contacts_context(request, patient, form)
    if not getattr(request, "htmx", False):
        if status == 200:
            return redirect("directory:patient", patient_id=patient.id)
        context.update(
            {
                "phone": phone_display(patient.phone),
                "can": _can(request, "patient", "update", "archive"),
            }
        )
        return render(request, "directory/patient_detail.html", context, status=status)
    return render(request, "directory/patient_detail.html#contacts", context, status=status)


@require_POST
@page_requires("contact.update")
def patient_contact_remove(request, patient_id, link_id):
    try:
        link = selectors.patient_contact_for_actor(request.membership, patient_id, link_id)
    except NotFound:
        return _not_found(request)
    services.patient_contact_remove(actor=request.membership, link=link)
    if not getattr(request, "htmx", False):
        return redirect("directory:patient", patient_id=patient_id)
    patient = selectors.patient_for_actor(request.membership, patient_id)
    return render(
        request, "directory/patient_detail.html#contacts", _contacts_context(request, patient)
    )


@page_requires("contact.view")
def contact_picker(request):
    """Existing contacts matching a search, as choices for the link form (htmx)."""
    search = (request.GET.get("contact_search") or "").strip()[:100]
    found = []
    if len(search) >= 2:
        region = region_for_time_zone(request.membership.organization.time_zone)
        found = list(selectors.contacts_list(search=search, region=region)[:8])
    return render(
        request, "directory/patient_detail.html#picker", {"found": found, "contact_search": search}
    )


# --- contacts ----------------------------------------------------------------------------------


@page_requires("contact.view")
def contacts(request):
    search = (request.GET.get("search") or "").strip()[:200]
    status = _status_filter(request)
    region = region_for_time_zone(request.membership.organization.time_zone)
    qs = selectors.contacts_list(search=search or None, status=status, region=region)
    context = {
        "page": _page(request, qs),
        "search": search,
        "status": status,
        "query": _query_without_page(request),
        "can": _can(request, "contact", "update"),
    }
    template = "directory/contacts.html"
    if _fragment(request, "contact-results"):
        template += "#results"
    return render(request, template, context)


@page_requires("contact.update")
@require_http_methods(["GET", "POST"])
def contact_edit(request, contact_id):
    try:
        contact = selectors.contact_for_actor(request.membership, contact_id)
    except NotFound:
        return _not_found(request)
    initial = {name: getattr(contact, name) for name in ContactForm.base_fields}
    form = ContactForm(request.POST or None, initial=initial)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                services.contact_update(
                    actor=request.membership, contact=contact, data=form.service_data()
                )
            except DomainError as exc:
                status = exc.status
                form.errors_from(exc)
            else:
                messages.success(request, _("Changes saved."))
                return redirect("directory:contacts")
        else:
            status = 422
    return render(
        request,
        "directory/form.html",
        {
            "form": form,
            "title": _("Contact: %(name)s") % {"name": contact.display_name},
            "cancel": reverse("directory:contacts"),
            "archive_url": reverse("directory:contact_archive", args=[contact.id])
            if request.membership.has("contact.archive")
            else None,
            "archived": contact.archived_at is not None,
            "linked": list(contact.patient_links.all()),
        },
        status=status,
    )


@require_POST
@page_requires("contact.archive")
def contact_archive(request, contact_id):
    try:
        contact = selectors.contact_for_actor(request.membership, contact_id)
    except NotFound:
        return _not_found(request)
    if request.POST.get("restore"):
        services.contact_restore(actor=request.membership, contact=contact)
    else:
        services.contact_archive(actor=request.membership, contact=contact)
    return redirect("directory:contacts")


# --- places, practitioners, services: one pattern ----------------------------------------------


def _simple_form(
    request,
    *,
    form,
    save,
    title,
    cancel,
    success,
    archive_url=None,
    archived=False,
    template="directory/form.html",
    extra=None,
):
    """GET shows the form; POST calls `save(data)` and redirects to `success`, or shows the
    refusal next to the fields."""
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                save(form.service_data())
            except DomainError as exc:
                status = exc.status
                form.errors_from(exc)
            else:
                messages.success(request, _("Saved."))
                return redirect(success)
        else:
            status = 422
    context = {
        "form": form,
        "title": title,
        "cancel": cancel,
        "archive_url": archive_url,
        "archived": archived,
        **(extra or {}),
    }
    return render(request, template, context, status=status)


def _toggle(request, *, archive, restore, obj, success):
    if request.POST.get("restore"):
        try:
            restore(actor=request.membership, **obj)
        except DomainError as exc:
            messages.error(request, exc.message)
    else:
        archive(actor=request.membership, **obj)
    return redirect(success)


@page_requires("location.view")
def locations(request):
    status = _status_filter(request)
    qs = selectors.locations_list(search=request.GET.get("search") or None, status=status)
    rooms = selectors.rooms_list(status="all" if status != "active" else "active")
    by_location: dict = {}
    for room in rooms:
        by_location.setdefault(room.location_id, []).append(room)
    rows = [(loc, by_location.get(loc.id, [])) for loc in qs]
    return render(
        request,
        "directory/locations.html",
        {
            "rows": rows,
            "status": status,
            "search": request.GET.get("search", ""),
            "can": _can(request, "location", "create", "update"),
            "can_room": _can(request, "room", "create", "update"),
        },
    )


@page_requires("location.create")
@require_http_methods(["GET", "POST"])
def location_new(request):
    form = LocationForm(
        request.POST or None, initial={"time_zone": request.membership.organization.time_zone}
    )
    return _simple_form(
        request,
        form=form,
        title=_("New location"),
        cancel=reverse("directory:locations"),
        success=reverse("directory:locations"),
        save=lambda data: services.location_create(actor=request.membership, data=data),
    )


@page_requires("location.update")
@require_http_methods(["GET", "POST"])
def location_edit(request, location_id):
    try:
        location = selectors.location_get(location_id)
    except NotFound:
        return _not_found(request)
    initial = {name: getattr(location, name) for name in LocationForm.base_fields}
    form = LocationForm(request.POST or None, initial=initial)
    return _simple_form(
        request,
        form=form,
        title=_("Location: %(name)s") % {"name": location.name},
        cancel=reverse("directory:locations"),
        success=reverse("directory:locations"),
        save=lambda data: services.location_update(
            actor=request.membership, location=location, data=data
        ),
        archive_url=reverse("directory:location_archive", args=[location.id])
        if request.membership.has("location.archive")
        else None,
        archived=not location.is_active,
    )


@require_POST
@page_requires("location.archive")
def location_archive(request, location_id):
    try:
        location = selectors.location_get(location_id)
    except NotFound:
        return _not_found(request)
    return _toggle(
        request,
        archive=services.location_archive,
        restore=services.location_restore,
        obj={"location": location},
        success=reverse("directory:locations"),
    )


def _active_locations():
    return list(Location.objects.filter(is_active=True).order_by("name"))


@page_requires("room.create")
@require_http_methods(["GET", "POST"])
def room_new(request):
    form = RoomForm(
        request.POST or None,
        locations=_active_locations(),
        initial={"location_id": request.GET.get("location")},
    )
    return _simple_form(
        request,
        form=form,
        title=_("New room"),
        cancel=reverse("directory:locations"),
        success=reverse("directory:locations"),
        save=lambda data: services.room_create(actor=request.membership, data=data),
    )


@page_requires("room.update")
@require_http_methods(["GET", "POST"])
def room_edit(request, room_id):
    try:
        room = selectors.room_get(room_id)
    except NotFound:
        return _not_found(request)
    initial = {
        "location_id": str(room.location_id),
        "name": room.name,
        "kind": room.kind,
        "capacity": room.capacity,
    }
    form = RoomForm(request.POST or None, initial=initial, locations=_active_locations())
    return _simple_form(
        request,
        form=form,
        title=_("Room: %(name)s") % {"name": room.name},
        cancel=reverse("directory:locations"),
        success=reverse("directory:locations"),
        save=lambda data: services.room_update(actor=request.membership, room=room, data=data),
        archive_url=reverse("directory:room_archive", args=[room.id])
        if request.membership.has("room.archive")
        else None,
        archived=not room.is_active,
    )


@require_POST
@page_requires("room.archive")
def room_archive(request, room_id):
    try:
        room = selectors.room_get(room_id)
    except NotFound:
        return _not_found(request)
    return _toggle(
        request,
        archive=services.room_archive,
        restore=services.room_restore,
        obj={"room": room},
        success=reverse("directory:locations"),
    )


@page_requires("service.view")
def services_page(request):
    status = _status_filter(request)
    qs = selectors.services_list(search=request.GET.get("search") or None, status=status)
    return render(
        request,
        "directory/services.html",
        {
            "services": list(qs),
            "status": status,
            "search": request.GET.get("search", ""),
            "can": _can(request, "service", "create", "update", "export"),
        },
    )


def _service_form(request, service=None):
    practitioners = Practitioner.objects.filter(is_active=True).order_by("display_name")
    initial = {}
    if service is not None:
        initial = {
            name: getattr(service, name)
            for name in ServiceForm.base_fields
            if name != "practitioner_ids"
        }
        initial["practitioner_ids"] = [str(p.id) for p in service.practitioners.all()]
    return ServiceForm(request.POST or None, initial=initial, practitioners=practitioners)


@page_requires("service.create")
@require_http_methods(["GET", "POST"])
def service_new(request):
    return _simple_form(
        request,
        form=_service_form(request),
        title=_("New service"),
        cancel=reverse("directory:services"),
        success=reverse("directory:services"),
        save=lambda data: services.service_create(actor=request.membership, data=data),
    )


@page_requires("service.update")
@require_http_methods(["GET", "POST"])
def service_edit(request, service_id):
    try:
        service = selectors.service_get(service_id)
    except NotFound:
        return _not_found(request)
    return _simple_form(
        request,
        form=_service_form(request, service),
        title=_("Service: %(name)s") % {"name": service.name},
        cancel=reverse("directory:services"),
        success=reverse("directory:services"),
        save=lambda data: services.service_update(
            actor=request.membership, service=service, data=data
        ),
        archive_url=reverse("directory:service_archive", args=[service.id])
        if request.membership.has("service.archive")
        else None,
        archived=not service.is_active,
    )


@require_POST
@page_requires("service.archive")
def service_archive(request, service_id):
    try:
        service = selectors.service_get(service_id)
    except NotFound:
        return _not_found(request)
    return _toggle(
        request,
        archive=services.service_archive,
        restore=services.service_restore,
        obj={"service": service},
        success=reverse("directory:services"),
    )


@page_requires("service.export")
@page_reauth_required
def services_export(request):
    body = importing.services_export_csv(selectors.services_list(status="all"))
    return _csv(body, "services")


@page_requires("practitioner.view")
def practitioners(request):
    status = _status_filter(request)
    qs = selectors.practitioners_list(search=request.GET.get("search") or None, status=status)
    return render(
        request,
        "directory/practitioners.html",
        {
            "practitioners": list(qs),
            "status": status,
            "search": request.GET.get("search", ""),
            "can": _can(request, "practitioner", "create", "update"),
        },
    )


def _practitioner_form(request, practitioner=None):
    initial = {}
    if practitioner is not None:
        credential = (practitioner.credentials or [{}])[0]
        initial = {
            "display_name": practitioner.display_name,
            "membership_id": str(practitioner.membership_id or ""),
            "discipline": practitioner.discipline,
            "specialties": ", ".join(practitioner.specialties),
            "credential_kind": credential.get("kind", ""),
            "credential_number": credential.get("number", ""),
            "colour": practitioner.colour,
            "default_location_id": str(practitioner.default_location_id or ""),
            "service_ids": [str(s.id) for s in practitioner.services.all()],
        }
    return PractitionerForm(
        request.POST or None,
        initial=initial,
        memberships=selectors.staff_memberships(),
        locations=_active_locations(),
        services=Service.objects.filter(is_active=True).order_by("name"),
    )


@page_requires("practitioner.create")
@require_http_methods(["GET", "POST"])
def practitioner_new(request):
    return _simple_form(
        request,
        form=_practitioner_form(request),
        title=_("New practitioner"),
        cancel=reverse("directory:practitioners"),
        success=reverse("directory:practitioners"),
        save=lambda data: services.practitioner_create(actor=request.membership, data=data),
    )


@page_requires("practitioner.update")
@require_http_methods(["GET", "POST"])
def practitioner_edit(request, practitioner_id):
    try:
        practitioner = selectors.practitioner_get(practitioner_id)
    except NotFound:
        return _not_found(request)
    return _simple_form(
        request,
        form=_practitioner_form(request, practitioner),
        title=_("Practitioner: %(name)s") % {"name": practitioner.display_name},
        cancel=reverse("directory:practitioners"),
        success=reverse("directory:practitioners"),
        save=lambda data: services.practitioner_update(
            actor=request.membership, practitioner=practitioner, data=data
        ),
        archive_url=reverse("directory:practitioner_archive", args=[practitioner.id])
        if request.membership.has("practitioner.archive")
        else None,
        archived=not practitioner.is_active,
    )


@require_POST
@page_requires("practitioner.archive")
def practitioner_archive(request, practitioner_id):
    try:
        practitioner = selectors.practitioner_get(practitioner_id)
    except NotFound:
        return _not_found(request)
    return _toggle(
        request,
        archive=services.practitioner_archive,
        restore=services.practitioner_restore,
        obj={"practitioner": practitioner},
        success=reverse("directory:practitioners"),
    )


# --- import and export -------------------------------------------------------------------------


def _csv(body: str, stem: str) -> HttpResponse:
    response = HttpResponse(body, content_type="text/csv; charset=utf-8")
    stamp = timezone.now().strftime("%Y%m%d-%H%M")
    response["Content-Disposition"] = f'attachment; filename="{stem}-{stamp}.csv"'
    return response


@page_requires("patient.export")
@page_reauth_required
def patients_export(request):
    qs = selectors.patients_list(actor=request.membership, status=_status_filter(request))
    return _csv(importing.patients_export_csv(qs), "patients")


MAX_UPLOAD = 20 * 1024 * 1024


@page_requires("patient.import")
@require_http_methods(["GET", "POST"])
def patients_import(request):
    form = ImportForm(request.POST or None, request.FILES or None)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            upload = form.cleaned_data["file"]
            if upload.size > MAX_UPLOAD:
                form.add_error(
                    "file",
                    _("The file is larger than 20 MB; use the command `clinic import patients`."),
                )
                status = 422
            else:
                try:
                    job = importing.patient_import_start(
                        actor=request.membership,
                        filename=upload.name,
                        content=upload.read(),
                        options=form.cleaned_data,
                    )
                except DomainError as exc:
                    form.add_error("file", exc.message)
                    status = exc.status
                else:
                    return redirect("directory:import_job", import_id=job.id)
        else:
            status = 422
    recent = selectors.patient_imports_recent()
    return render(request, "directory/import.html", {"form": form, "recent": recent}, status=status)


def _job_or_none(import_id):
    try:
        return selectors.patient_import_get(import_id)
    except NotFound:
        return None


def _job_context(job):
    percent = 100 if not job.total_rows else job.processed_rows * 100 // job.total_rows
    error_rows = sorted({e["row"] for e in job.errors if e["row"] > 1})
    file_errors = [e for e in job.errors if e["row"] <= 1]
    can_run = (
        job.status == ImportStatus.VALIDATED
        and not file_errors
        and (not error_rows or job.options.get("skip_invalid"))
    )
    return {
        "job": job,
        "percent": percent,
        "error_rows": error_rows,
        "file_errors": file_errors,
        "can_run": can_run,
        "valid_rows": job.total_rows - len(error_rows),
        "errors_shown": job.errors[:200],
    }


@page_requires("patient.import")
def import_job(request, import_id):
    job = _job_or_none(import_id)
    if job is None:
        return _not_found(request)
    return render(request, "directory/import_job.html", _job_context(job))


@require_POST
@page_requires("patient.import")
def import_step(request, import_id):
    """Validate the next rows; the page calls this until the whole file is checked."""
    job = _job_or_none(import_id)
    if job is None:
        return _not_found(request)
    job = importing.patient_import_step(actor=request.membership, job=job)
    if not getattr(request, "htmx", False):
        return redirect("directory:import_job", import_id=job.id)
    return render(request, "directory/import_job.html#progress", _job_context(job))


@require_POST
@page_requires("patient.import")
def import_run(request, import_id):
    job = _job_or_none(import_id)
    if job is None:
        return _not_found(request)
    try:
        report = importing.patient_import_commit(actor=request.membership, job=job)
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        if report.imported:
            messages.success(request, _("Imported %(n)d patients.") % {"n": report.created})
        else:
            messages.error(request, _("Nothing was imported: the file has invalid rows."))
    return redirect("directory:import_job", import_id=job.id)
