"""Reads of the clinical record and the access rules, stated once.

Who sees what:
- that encounters and notes exist (dates, authors, statuses): staff with `encounter.view` /
  `note.view` — every patient for owners, admins, managers and assistants, the caseload for a
  practitioner;
- their content (sections, versions, addenda): owners and admins for every patient, a
  practitioner for the patients of their caseload, managers and assistants only when the
  organization allows it (clinical settings), nobody else (404, as for another clinic's);
- a practitioner's caseload: the patients of a treatment plan they are responsible for, or of an
  appointment with them from 365 days ago to 30 days ahead (cancelled ones do not count), of
  their care team (assigned by hand), or of a break-glass access of theirs not expired yet."""

from __future__ import annotations

import difflib
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.db.models import OuterRef, Prefetch, Q, QuerySet, Subquery
from django.utils import timezone
from django.utils.translation import gettext as _

from clinic.accounts.models import Membership
from clinic.accounts.roles import Role
from clinic.audit.models import AuditEvent
from clinic.care.models import TreatmentPlan
from clinic.clinical.aba import aba_text
from clinic.clinical.models import (
    Addendum,
    BreakGlassAccess,
    CareTeamMember,
    ClinicalNote,
    ClinicalSettings,
    Encounter,
    NoteTemplate,
    NoteVersion,
)
from clinic.core.errors import NotFound
from clinic.directory.models import Practitioner
from clinic.directory.selectors import patients_visible_to
from clinic.scheduling.models import Appointment

CASELOAD_PAST = timedelta(days=365)
CASELOAD_AHEAD = timedelta(days=30)
CONTENT_FOR_ALL = (Role.OWNER, Role.ADMIN)
DESK_ROLES = (Role.MANAGER, Role.ASSISTANT)
# the reads of a patient's record listed by the access log (clinical.services writes the
# clinical ones; directory writes patient.view when the chart opens)
ACCESS_ACTIONS = (
    "patient.view",
    "clinical_note.read",
    "clinical_note.versions_read",
    "clinical_record.read",
    "clinical_record.break_glass",
    "clinical_document.read",
)
SECTION_KEYS = {
    NoteTemplate.SOAP: ("subjective", "objective", "assessment", "plan"),
    NoteTemplate.DAP: ("data", "assessment", "plan"),
}


def _uuid(value: Any) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value))
    except (TypeError, ValueError, AttributeError):
        return None


def settings_get() -> ClinicalSettings:
    """The organization's clinical settings (unsaved defaults when it has none)."""
    return ClinicalSettings.objects.first() or ClinicalSettings()


def practitioner_of(actor: Membership) -> Practitioner | None:
    return Practitioner.objects.filter(membership_id=actor.id).first()


# --- who may see what -------------------------------------------------------------------------


def _caseload_sources(actor: Membership, patient_id: Any = None) -> tuple[QuerySet, ...]:
    """The plans, appointments and open break-glass accesses that put patients in a
    practitioner's caseload."""
    now = timezone.now()
    plans = TreatmentPlan.objects.filter(practitioner__membership_id=actor.id)
    appointments = Appointment.objects.filter(
        practitioner__membership_id=actor.id,
        patient__isnull=False,
        start_at__gte=now - CASELOAD_PAST,
        start_at__lte=now + CASELOAD_AHEAD,
    ).exclude(status__in=("cancelled", "held"))
    broken = BreakGlassAccess.objects.filter(membership_id=actor.id, expires_at__gt=now)
    assigned = CareTeamMember.objects.filter(practitioner__membership_id=actor.id)
    sources = (plans, appointments, broken, assigned)
    if patient_id is not None:
        sources = tuple(qs.filter(patient_id=patient_id) for qs in sources)
    return sources


def caseload_q(actor: Membership, field: str = "patient_id") -> Q:
    """A filter on `field` for the patients of a practitioner's caseload."""
    plans, appointments, broken, assigned = _caseload_sources(actor)
    return (
        Q(**{f"{field}__in": plans.values("patient_id")})
        | Q(**{f"{field}__in": appointments.values("patient_id")})
        | Q(**{f"{field}__in": broken.values("patient_id")})
        | Q(**{f"{field}__in": assigned.values("patient_id")})
    )


def _reads_every_record(actor: Membership) -> bool:
    """Owners and admins; managers and the front desk too when the organization lets them read
    notes (clinical settings; their roles still hold no permission on the record's lists)."""
    if actor.role in CONTENT_FOR_ALL:
        return True
    return actor.role in DESK_ROLES and settings_get().desk_reads_notes


def _content_patients_q(actor: Membership, field: str = "patient_id") -> Q | None:
    """A filter on `field` for the patients whose clinical content `actor` may read; None when
    the role may read every patient's."""
    if _reads_every_record(actor):
        return None
    if actor.role == Role.PRACTITIONER:
        return caseload_q(actor, field)
    return Q(pk__in=[])


def content_visible(actor: Membership, patient_id: Any) -> bool:
    """May `actor` read (and, with `note.write`, write) this patient's clinical content?"""
    if _reads_every_record(actor):
        return True
    patient_uuid = _uuid(patient_id)
    if actor.role != Role.PRACTITIONER or patient_uuid is None:
        return False
    # one query whatever the reason (plan, appointment, care team, break-glass)
    first, *rest = (qs.values("patient_id") for qs in _caseload_sources(actor, patient_uuid))
    return first.union(*rest, all=True).exists()


def care_team(patient_id: Any) -> QuerySet:
    """The practitioners assigned to a patient's care by hand."""
    return (
        CareTeamMember.objects.filter(patient_id=_uuid(patient_id))
        .select_related("practitioner", "added_by__user")
        .order_by("practitioner__display_name", "id")
    )


def break_glass_open_for(actor: Membership, patient_id: Any) -> BreakGlassAccess | None:
    """The actor's break-glass access to this patient that is still open (the latest)."""
    patient_uuid = _uuid(patient_id)
    if patient_uuid is None:
        return None
    return (
        BreakGlassAccess.objects.filter(
            membership_id=actor.id, patient_id=patient_uuid, expires_at__gt=timezone.now()
        )
        .order_by("-expires_at")
        .first()
    )


def break_glass_available(actor: Membership, patient_id: Any) -> bool:
    """May `actor` open a break-glass access to this patient (a practitioner outside whose
    caseload it is)? The chart offers the button then."""
    return actor.has("record.break_glass") and not content_visible(actor, patient_id)


def encounters_visible_to(actor: Membership) -> QuerySet:
    """Encounters whose existence `actor` may see: every one for the staff who see every
    patient's (owners, admins, managers, assistants), the caseload's for a practitioner."""
    if not actor.has("encounter.view"):
        return Encounter.objects.none()
    qs = Encounter.objects.filter(patient_id__in=patients_visible_to(actor).values("id"))
    if actor.role == Role.PRACTITIONER:
        qs = qs.filter(caseload_q(actor))
    return qs


def _notes_meta() -> Prefetch:
    """The notes of encounters without their content (never decrypted for a list)."""
    return Prefetch(
        "notes",
        queryset=ClinicalNote.objects.defer("sections")
        .select_related("author__user", "author_practitioner")
        .order_by("created_at", "id"),
    )


def encounter_for_actor(actor: Membership, encounter_id: Any) -> Encounter:
    encounter_uuid = _uuid(encounter_id)
    found = (
        encounters_visible_to(actor)
        .filter(id=encounter_uuid)
        .select_related("patient", "practitioner", "location", "appointment")
        .first()
        if encounter_uuid
        else None
    )
    if found is None:
        raise NotFound(_("Encounter not found."))
    return found


def encounters_list(actor: Membership, *, patient_id: Any = None) -> QuerySet:
    qs = encounters_visible_to(actor)
    if patient_id is not None:
        qs = qs.filter(patient_id=_uuid(patient_id))
    return (
        qs.select_related("patient", "practitioner", "location")
        .prefetch_related(_notes_meta())
        .order_by("-started_at", "-id")
    )


def encounter_detail(actor: Membership, encounter_id: Any) -> Encounter:
    """An encounter with its notes' summaries (for the API), or 404."""
    encounter_uuid = _uuid(encounter_id)
    found = encounters_list(actor).filter(id=encounter_uuid).first() if encounter_uuid else None
    if found is None:
        raise NotFound(_("Encounter not found."))
    return found


def note_for_actor(
    actor: Membership, note_id: Any, *, content: bool = True, for_update: bool = False
) -> ClinicalNote:
    """A note `actor` may see; with `content`, one whose content they may read (else 404)."""
    note_uuid = _uuid(note_id)
    qs = ClinicalNote.objects.filter(
        id=note_uuid, encounter_id__in=encounters_visible_to(actor).values("id")
    )
    if not actor.has("note.view"):
        qs = qs.none()
    if content:
        rule = _content_patients_q(actor)
        if rule is not None:
            qs = qs.filter(rule)
    else:
        qs = qs.defer("sections")
    if for_update:
        qs = qs.select_for_update(of=("self",))
    note = (
        qs.select_related(
            "encounter__patient",
            "encounter__location",
            "encounter__practitioner",
            "author__user",
            "author_practitioner",
            "signed_by__user",
            "cosigner",
        ).first()
        if note_uuid
        else None
    )
    if note is None:
        raise NotFound(_("Note not found."))
    return note


def note_content_visible(actor: Membership, note: ClinicalNote) -> bool:
    return content_visible(actor, note.patient_id)


def note_versions(note: ClinicalNote) -> QuerySet:
    return (
        NoteVersion.objects.filter(note_id=note.id)
        .select_related("saved_by__user")
        .order_by("-number")
    )


def note_addenda(note: ClinicalNote) -> list[Addendum]:
    return list(
        Addendum.objects.filter(note_id=note.id)
        .select_related("author__user")
        .order_by("created_at", "id")
    )


def cosign_queue(actor: Membership) -> QuerySet:
    """Notes waiting for `actor`'s co-signature."""
    return (
        ClinicalNote.objects.filter(status="awaiting_cosign", cosigner__membership_id=actor.id)
        .defer("sections")
        .select_related("encounter__patient", "encounter__location", "author__user")
        .order_by("signed_at")
    )


# --- sections and their differences ------------------------------------------------------------


def section_items(template: str, sections: Any) -> list[tuple[str, str, str]]:
    """(key, title, text) of each section, in the template's order (free: as written)."""
    if template == NoteTemplate.FREE:
        return [
            (str(i), item.get("title", ""), item.get("text", ""))
            for i, item in enumerate(sections or [])
        ]
    if template == NoteTemplate.ABA:
        return aba_text(sections)
    titles = section_titles()
    return [(key, titles[key], (sections or {}).get(key, "")) for key in SECTION_KEYS[template]]


def note_templates() -> list[tuple[str, str]]:
    """(value, label) of the note templates, for pickers."""
    return list(NoteTemplate.choices)


def section_titles() -> dict[str, str]:
    return {
        "subjective": _("Subjective"),
        "objective": _("Objective"),
        "assessment": _("Assessment"),
        "plan": _("Plan"),
        "data": _("Data"),
    }


@dataclass
class SectionDiff:
    title: str
    lines: list[tuple[str, str]]  # (kind: "add" | "remove" | "same", text)


@dataclass
class VersionDiff:
    number: int
    saved_at: Any
    saved_by: str
    sections: list[SectionDiff]


def _by_title(template: str, sections: Any) -> dict[str, str]:
    return {title: text for _key, title, text in section_items(template, sections)}


def sections_diff(template: str, before: Any, after: Any) -> list[SectionDiff]:
    """What changed from `before` to `after`, per section, line by line (difflib); sections
    that did not change are left out."""
    old, new = _by_title(template, before), _by_title(template, after)
    diffs = []
    for title in [*old, *(t for t in new if t not in old)]:
        a, b = old.get(title, ""), new.get(title, "")
        if a == b:
            continue
        lines = []
        for line in difflib.ndiff(a.splitlines(), b.splitlines()):
            tag, text = line[:2], line[2:]
            if tag == "? ":
                continue
            lines.append(({"+ ": "add", "- ": "remove"}.get(tag, "same"), text))
        diffs.append(SectionDiff(title=title or _("(untitled)"), lines=lines))
    return diffs


def note_version_diffs(note: ClinicalNote, *, limit: int = 50) -> list[VersionDiff]:
    """The latest `limit` versions, newest first, each with what it changed from the one
    before (version 1: everything it holds). One query."""
    rows = list(note_versions(note)[: limit + 1])
    diffs = []
    for i, version in enumerate(rows[:limit]):
        previous = rows[i + 1].sections if i + 1 < len(rows) else None
        if previous is None and version.number > 1:
            break  # the page ends here; its predecessor is beyond the limit
        diffs.append(
            VersionDiff(
                number=version.number,
                saved_at=version.saved_at,
                saved_by=version.saved_by.user.full_name or version.saved_by.user.email,
                sections=sections_diff(note.template, previous, version.sections),
            )
        )
    return diffs


# --- the access log ----------------------------------------------------------------------------


def patient_access_log(patient_id: Any) -> QuerySet:
    """Who read what of a patient's record, newest first (the audit index on object serves)."""
    return AuditEvent.objects.filter(
        object_type="directory_patient",
        object_id=str(_uuid(patient_id)),
        action__in=ACCESS_ACTIONS,
    ).order_by("-occurred_at", "-id")


# --- the chart -----------------------------------------------------------------------------------


def chart_encounters(actor: Membership, *, patient_id: Any, limit: int = 10) -> list[Encounter]:
    """The latest encounters of a patient with their notes' dates, authors and statuses
    (two queries, whatever the history)."""
    return list(encounters_list(actor, patient_id=patient_id)[:limit])


NOTES_TO_WRITE_DAYS = 14


def notes_to_write(actor: Membership, *, now=None, days: int = NOTES_TO_WRITE_DAYS) -> list:
    """The actor's completed individual appointments of the last `days` days whose encounter has
    no signed note yet (one awaiting its co-signature counts as written), oldest first; each
    carries `draft_note_id`, the draft to finish if one was started. One query."""
    now = now or timezone.now()
    written = ClinicalNote.objects.filter(
        status__in=("signed", "awaiting_cosign"), encounter__appointment__isnull=False
    ).values("encounter__appointment_id")
    draft = ClinicalNote.objects.filter(
        encounter__appointment_id=OuterRef("id"), status="draft", author_id=actor.id
    ).order_by("-updated_at")
    return list(
        Appointment.objects.filter(
            practitioner__membership_id=actor.id,
            status="completed",
            kind="individual",
            patient__isnull=False,
            start_at__gte=now - timedelta(days=days),
            start_at__lte=now,
        )
        .exclude(id__in=written)
        .annotate(draft_note_id=Subquery(draft.values("id")[:1]))
        .select_related("patient", "service", "location")
        .order_by("start_at", "id")[:50]
    )
