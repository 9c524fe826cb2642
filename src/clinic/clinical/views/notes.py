"""The note page (/notes/{id}/): the draft editor with autosave (htmx), signing, addenda and the
version history with its differences; and "New note" from the patient chart. Thin: rules in
clinical.services and clinical.selectors; every display of content is a logged read."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from clinic.clinical import aba, selectors, services
from clinic.clinical.models import NoteStatus, NoteTemplate
from clinic.clinical.pdf import note_pdf
from clinic.core.errors import Conflict, DomainError, NotFound
from clinic.directory.selectors import patient_for_actor
from clinic.web.access import page_requires

STATUS_BADGES = {
    NoteStatus.DRAFT: "text-bg-warning",
    NoteStatus.AWAITING_COSIGN: "text-bg-info",
    NoteStatus.SIGNED: "text-bg-success",
}


def _blank_sections(template: str):
    if template == NoteTemplate.ABA:
        return aba.blank()
    if template == NoteTemplate.FREE:
        return [{"title": _("Note"), "text": ""}]
    return {key: "" for key in selectors.SECTION_KEYS[template]}


def _sections_from_form(template: str, data) -> object:
    """The sections posted by the editor: `s_<key>` for SOAP/DAP, `title_<i>`/`text_<i>` for
    free notes (in order)."""
    if template == NoteTemplate.ABA:
        return aba.aba_from_form(data)
    if template == NoteTemplate.FREE:
        sections, i = [], 0
        while f"title_{i}" in data:
            sections.append(
                {"title": data.get(f"title_{i}", ""), "text": data.get(f"text_{i}", "")}
            )
            i += 1
        return sections
    return {key: data.get(f"s_{key}", "") for key in selectors.SECTION_KEYS[template]}


# empty rows the ABA editor offers below the filled ones (saving adds more)
ABA_BLANK_ROWS = 2


def _aba_rows(note) -> dict:
    """The ABA editor's rows: the targets (with their computed accuracy) and behaviours, each
    followed by empty rows to fill."""
    sections = note.sections or aba.blank()
    targets = [{**t, "accuracy": aba.accuracy(t)} for t in sections.get("targets") or []]
    behaviours = list(sections.get("behaviours") or [])
    return {
        "targets": targets + [{} for _ in range(ABA_BLANK_ROWS)],
        "behaviours": behaviours + [{} for _ in range(ABA_BLANK_ROWS)],
        "summary": sections.get("summary", ""),
        "plan": sections.get("plan", ""),
        "prompts": list(aba.PROMPT_LEVELS.items()),
    }


def _note_context(request, note, *, content: bool) -> dict:
    actor = request.membership
    context = {
        "note": note,
        "encounter": note.encounter,
        "patient": note.encounter.patient,
        "badge": STATUS_BADGES.get(note.status, "text-bg-secondary"),
        "content_visible": content,
        "templates": NoteTemplate.choices,
    }
    if content:
        context.update(
            {
                "sections": selectors.section_items(note.template, note.sections),
                "aba": _aba_rows(note) if note.template == NoteTemplate.ABA else None,
                # the allergies and alerts banner, as on the chart: who writes must see them
                "banner": selectors.banner(note.patient_id) if actor.has("allergy.view") else None,
                "addenda": selectors.note_addenda(note),
                "history": selectors.note_version_diffs(note),
                "can_edit": note.status == NoteStatus.DRAFT
                and note.author_id == actor.id
                and actor.has("note.write"),
                "can_amend": note.status != NoteStatus.DRAFT and actor.has("note.write"),
                "can_cosign": note.status == NoteStatus.AWAITING_COSIGN
                and note.cosigner is not None
                and note.cosigner.membership_id == actor.id,
            }
        )
    return context


@page_requires("note.view")
def note_page(request, note_id):
    actor = request.membership
    summary = selectors.note_for_actor(actor, note_id, content=False)
    if not selectors.note_content_visible(actor, summary):
        return render(request, "clinical/note.html", _note_context(request, summary, content=False))
    note = selectors.note_for_actor(actor, note_id)
    services.note_read_record(actor=actor, note=note)
    return render(request, "clinical/note.html", _note_context(request, note, content=True))


@page_requires("note.view")
def note_print(request, note_id):
    """The signed note as PDF; the read is logged like the page's. A draft: back to the page."""
    actor = request.membership
    note = selectors.note_for_actor(actor, note_id)
    try:
        body = note_pdf(
            note,
            organization=actor.organization,
            language=request.GET.get("language") or translation.get_language(),
        )
    except Conflict as exc:
        messages.error(request, exc.message)
        return redirect("clinical:note", note_id=note.id)
    services.note_read_record(actor=actor, note=note, what="pdf")
    response = HttpResponse(body, content_type="application/pdf")
    response["Content-Disposition"] = f'inline; filename="note-{note.id}.pdf"'
    response["Cache-Control"] = "private, no-store"
    return response


@require_POST
@page_requires("note.write")
def note_save(request, note_id):
    """The editor's autosave (htmx): the save status, or why it was not saved, in place."""
    actor = request.membership
    note = selectors.note_for_actor(actor, note_id)
    try:
        version = int(request.POST.get("version", ""))
    except ValueError:
        version = None
    status = 200
    context = {"note": note}
    try:
        saved = services.note_update(
            actor=actor,
            note_id=note.id,
            sections=_sections_from_form(note.template, request.POST),
            version=version,
        )
        context.update({"note": saved, "saved_at": timezone.now()})
    except Conflict as exc:
        status = 409
        context.update({"error": exc.message, "conflict": exc.code})
    except DomainError as exc:
        status = exc.status
        context["error"] = exc.message
    return render(request, "clinical/_save_status.html", context, status=status)


@require_POST
@page_requires("note.write")
def note_sign(request, note_id):
    page = reverse("clinical:note", args=[note_id])
    try:
        note = services.note_sign(actor=request.membership, note_id=note_id)
    except NotFound:
        raise
    except DomainError as exc:
        messages.error(request, _("Not signed: %(reason)s") % {"reason": exc.message})
        return redirect(page)
    if note.status == NoteStatus.AWAITING_COSIGN:
        messages.success(request, _("Signed: the note now awaits its co-signature."))
    else:
        messages.success(request, _("Note signed. Later changes are addenda."))
    return redirect(page)


@require_POST
@page_requires("note.write")
def note_cosign(request, note_id):
    page = reverse("clinical:note", args=[note_id])
    try:
        services.note_cosign(actor=request.membership, note_id=note_id)
    except NotFound:
        raise
    except DomainError as exc:
        messages.error(request, _("Not co-signed: %(reason)s") % {"reason": exc.message})
        return redirect(page)
    messages.success(request, _("Note co-signed."))
    return redirect(page)


@require_POST
@page_requires("note.write")
def addendum_add(request, note_id):
    page = reverse("clinical:note", args=[note_id]) + "#addenda"
    try:
        services.addendum_add(
            actor=request.membership, note_id=note_id, text=request.POST.get("text", "")
        )
    except NotFound:
        raise
    except DomainError as exc:
        messages.error(request, _("Addendum not added: %(reason)s") % {"reason": exc.message})
        return redirect(page)
    messages.success(request, _("Addendum added."))
    return redirect(page)


@require_POST
@page_requires("note.write")
def note_new(request, patient_id):
    """ "New note" on the chart: in the encounter named, else a new visit encounter."""
    actor = request.membership
    patient = patient_for_actor(actor, patient_id)
    chart = reverse("directory:patient", args=[patient.id]) + "#encounters"
    template = request.POST.get("template") or NoteTemplate.SOAP
    try:
        if request.POST.get("encounter"):
            encounter = selectors.encounter_for_actor(actor, request.POST["encounter"])
            if encounter.patient_id != patient.id:
                raise NotFound(_("Encounter not found."))
        else:
            encounter = services.encounter_create(actor=actor, patient_id=patient.id)
        note = services.note_create(
            actor=actor,
            encounter=encounter,
            template=template,
            sections=_blank_sections(template) if template in NoteTemplate.values else {},
        )
    except NotFound:
        raise
    except DomainError as exc:
        messages.error(request, _("No note started: %(reason)s") % {"reason": exc.message})
        return redirect(chart)
    return redirect("clinical:note", note.id)
