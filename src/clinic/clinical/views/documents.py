"""The chart's documents: upload (a plain multipart form, with a progress bar when script runs),
the preview page, the bytes (audited, never a public URL) and "entered in error"; break-glass
access and the record's access log. Thin: rules in clinical.services and clinical.selectors."""

from __future__ import annotations

from csp.decorators import csp_replace
from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.clickjacking import xframe_options_sameorigin
from django.views.decorators.http import require_POST

from clinic.accounts.models import Membership
from clinic.clinical import selectors, services
from clinic.clinical.api.documents import document_response
from clinic.core.errors import DomainError
from clinic.directory.selectors import patient_for_actor
from clinic.web.access import page_requires

ACCESS_LOG_PAGE = 50


def _chart(patient_id, anchor: str = "documents"):
    return redirect(reverse("directory:patient", args=[patient_id]) + f"#{anchor}")


def _wants_text(request) -> bool:
    """The upload script asks for a short text answer instead of a redirect."""
    return request.headers.get("X-Upload") == "1"


DOCUMENTS_PAGE = 50


@page_requires("document.view")
def documents_page(request, patient_id):
    """Every document of the patient, newest first, 50 a page (the chart shows the latest);
    a POST is an upload."""
    if request.method == "POST":
        return document_upload(request, patient_id)
    patient = selectors.record_patient(request.membership, patient_id)
    services.record_read(actor=request.membership, patient_id=patient.id, what="documents")
    page = Paginator(selectors.documents_list(patient.id), DOCUMENTS_PAGE).get_page(
        request.GET.get("page")
    )
    return render(request, "clinical/documents.html", {"patient": patient, "page": page})


@require_POST
@page_requires("document.upload")
def document_upload(request, patient_id):
    upload = request.FILES.get("file")
    try:
        data = upload.read(services.document_max_bytes() + 1) if upload is not None else None
        document = services.document_upload(
            actor=request.membership,
            patient_id=patient_id,
            data=data,
            title=request.POST.get("title", ""),
            category=request.POST.get("category", ""),
            encounter_id=request.POST.get("encounter_id") or None,
            original_name=upload.name if upload is not None else "",
        )
    except DomainError as exc:
        if _wants_text(request):
            return HttpResponse(exc.message, status=exc.status, content_type="text/plain")
        messages.error(request, exc.message)
        return _chart(patient_id)
    message = _("“%(title)s” was added to the record.") % {"title": document.title}
    if _wants_text(request):
        messages.success(request, message)
        return HttpResponse(message, status=201, content_type="text/plain")
    messages.success(request, message)
    return _chart(patient_id)


@page_requires("document.view")
def document_page(request, document_id):
    """The preview: what the document is, and the file shown in the page (one audited read
    when the browser fetches it)."""
    document = selectors.document_for_actor(request.membership, document_id)
    context = {
        "document": document,
        "patient": document.patient,
        "is_image": document.content_type.startswith("image/"),
        "can_upload": request.membership.has("document.upload"),
    }
    return render(request, "clinical/document.html", context)


@xframe_options_sameorigin
@csp_replace({"frame-ancestors": ["'self'"]})
@page_requires("document.view")
def document_file(request, document_id):
    """The bytes, shown inside the preview page (framed by this site only) or downloaded."""
    document, data = services.document_read(actor=request.membership, document_id=document_id)
    return document_response(document, data, download=request.GET.get("download") == "1")


@require_POST
@page_requires("document.upload")
def document_error(request, document_id):
    document = selectors.document_for_actor(request.membership, document_id)
    try:
        services.document_entered_in_error(actor=request.membership, document_id=document.id)
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("The document was marked entered in error."))
    return _chart(document.patient_id)


@require_POST
@page_requires("record.break_glass")
def break_glass(request, patient_id):
    try:
        access = services.break_glass_open(
            actor=request.membership, patient_id=patient_id, reason=request.POST.get("reason")
        )
    except DomainError as exc:
        if exc.status == 404:
            raise
        messages.error(request, exc.message)
        return _chart(patient_id, "break-glass")
    messages.warning(
        request,
        _("Emergency access is open. It is recorded, and the clinic's administrators are told."),
    )
    return _chart(access.patient_id, "clinical-summary")


@require_POST
@page_requires("care_team.manage")
def care_team_add(request, patient_id):
    try:
        member = services.care_team_add(
            actor=request.membership,
            patient_id=patient_id,
            practitioner_id=request.POST.get("practitioner_id"),
        )
    except DomainError as exc:
        if exc.status == 404:
            raise
        messages.error(request, exc.message)
    else:
        messages.success(
            request,
            _("%(name)s is now in the care team.") % {"name": member.practitioner.display_name},
        )
    return _chart(patient_id, "care-team")


@require_POST
@page_requires("care_team.manage")
def care_team_remove(request, patient_id, practitioner_id):
    services.care_team_remove(
        actor=request.membership, patient_id=patient_id, practitioner_id=practitioner_id
    )
    messages.success(request, _("Removed from the care team."))
    return _chart(patient_id, "care-team")


def _actor_names(user_ids) -> dict:
    rows = Membership.objects.filter(user_id__in=set(user_ids)).select_related("user")
    return {m.user_id: m.user.full_name or m.user.email for m in rows}


ACCESS_LABELS = {
    "patient.view": _("Opened the chart"),
    "clinical_note.read": _("Read a note"),
    "clinical_note.versions_read": _("Read a note's versions"),
    "clinical_record.read": _("Read the clinical record"),
    "clinical_record.break_glass": _("Opened emergency access"),
    "clinical_document.read": _("Opened a document"),
}


@page_requires("clinical.access_log")
def access_log(request, patient_id):
    """Who read what of the patient's record, and when: newest first, 50 a page."""
    patient = patient_for_actor(request.membership, patient_id)
    page = Paginator(selectors.patient_access_log(patient.id), ACCESS_LOG_PAGE).get_page(
        request.GET.get("page")
    )
    names = _actor_names(e.actor_id for e in page.object_list)
    rows = [
        {
            "event": e,
            "who": names.get(e.actor_id, _("Former member")),
            "label": ACCESS_LABELS.get(e.action, e.action),
            "what": (e.details or {}).get("what", ""),
            "reason": (e.details or {}).get("reason", ""),
            "emergency": e.action == "clinical_record.break_glass",
        }
        for e in page.object_list
    ]
    context = {"patient": patient, "page": page, "rows": rows}
    return render(request, "clinical/access_log.html", context)
