"""A signed clinical note as PDF (to print, to send to a colleague): the clinic, the patient,
the encounter, each section, the signatures and the addenda — in the reader's language (the
text itself as written), times in the encounter's place. Drafts are never printed."""

from __future__ import annotations

from django.utils import translation
from django.utils.translation import gettext as _

from clinic.clinical import selectors
from clinic.clinical.models import ClinicalNote, NoteStatus
from clinic.core import timefmt
from clinic.core.errors import Conflict
from clinic.core.pdf import PdfDocument, pdf_text


def _who(membership) -> str:
    return (membership.user.full_name or membership.user.email) if membership else ""


def note_pdf(note: ClinicalNote, *, organization, language: str) -> bytes:
    if note.status == NoteStatus.DRAFT:
        raise Conflict(_("A draft is not printed: sign the note first."), code="note_draft")
    encounter, patient = note.encounter, note.encounter.patient
    with translation.override(language):
        lang = translation.get_language()

        def when(instant) -> str:
            return pdf_text(
                timefmt.local_datetime(instant, encounter, language=lang, organization=organization)
            )

        title = _("Clinical note")
        doc = PdfDocument(lang, f"{title} · {patient.display_name}")
        doc.text(organization.name, size=14, bold=True)
        doc.gap(2)
        doc.text(f"{title} — {note.get_template_display()}", size=16, bold=True)
        doc.gap(1)
        facts = [
            (_("Patient"), patient.display_name),
            (_("Medical record number"), patient.mrn or "—"),
            (
                _("Date of birth"),
                pdf_text(timefmt.local_date(patient.date_of_birth, language=lang))
                if patient.date_of_birth
                else "—",
            ),
            (_("Encounter"), f"{encounter.get_kind_display()}, {when(encounter.started_at)}"),
            (_("Practitioner"), encounter.practitioner.display_name),
        ]
        for label, value in facts:
            doc.text(f"{label}: {value}", size=10)
        doc.gap()
        for _key, heading, text in selectors.section_items(note.template, note.sections):
            doc.text(heading or _("(untitled)"), size=11, bold=True)
            doc.text(text or "—", size=10, height=5)
            doc.gap(2)
        doc.gap(2)
        doc.text(
            _("Signed by %(who)s, %(when)s")
            % {"who": _who(note.signed_by), "when": when(note.signed_at)},
            size=9,
        )
        if note.cosigned_at:
            doc.text(
                _("Co-signed by %(who)s, %(when)s")
                % {"who": note.cosigner.display_name, "when": when(note.cosigned_at)},
                size=9,
            )
        addenda = selectors.note_addenda(note)
        if addenda:
            doc.gap()
            doc.text(_("Addenda"), size=11, bold=True)
            for addendum in addenda:
                doc.text(
                    f"{when(addendum.created_at)} — {_who(addendum.author)}", size=9, bold=True
                )
                doc.text(addendum.text, size=10, height=5)
                doc.gap(1)
        return doc.output()
