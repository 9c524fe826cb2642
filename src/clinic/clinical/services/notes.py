"""Writes of the clinical record: encounters, notes (draft → [awaiting co-signature →] signed),
their versions and addenda, and the record of every read of clinical content.

Row changes are audited by the database trigger (clinical text as hashes, see models); reads of
content by `note_read_record`. Every function runs in one transaction."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from clinic.accounts.models import Membership
from clinic.accounts.roles import Role
from clinic.audit.services import audit_record
from clinic.clinical import selectors
from clinic.clinical.aba import aba_clean
from clinic.clinical.models import (
    Addendum,
    ClinicalNote,
    ClinicalSettings,
    Encounter,
    EncounterKind,
    EncounterStatus,
    NoteStatus,
    NoteTemplate,
    NoteVersion,
)
from clinic.clinical.validation import choice_clean
from clinic.core.errors import Conflict, NotFound, PermissionDenied, field_error
from clinic.directory.models import Location, Practitioner
from clinic.directory.selectors import patient_for_actor
from clinic.scheduling.models import Appointment

MAX_SECTION_CHARS = 20_000
MAX_FREE_SECTIONS = 50
MAX_TITLE_CHARS = 200


# --- settings ----------------------------------------------------------------------------------


@transaction.atomic
def settings_update(
    *, actor: Membership, late_signing_hours: Any = None, desk_reads_notes: Any = None
) -> ClinicalSettings:
    """Change what is given (None: unchanged)."""
    found = ClinicalSettings.objects.select_for_update().first() or ClinicalSettings()
    if late_signing_hours is not None:
        if (
            isinstance(late_signing_hours, bool)
            or not isinstance(late_signing_hours, int)
            or not 1 <= late_signing_hours <= 8760
        ):
            raise field_error(
                "late_signing_hours", _("Must be a whole number of hours from 1 to 8760.")
            )
        found.late_signing_hours = late_signing_hours
    if desk_reads_notes is not None:
        if not isinstance(desk_reads_notes, bool):
            raise field_error("desk_reads_notes", _("Must be true or false."))
        found.desk_reads_notes = desk_reads_notes
    found.save()
    return found


# --- encounters --------------------------------------------------------------------------------


def _practitioner_for(actor: Membership, practitioner_id: Any) -> Practitioner:
    """The encounter's practitioner: the one named, else the actor's own profile. A practitioner
    opens encounters as themselves only."""
    own = selectors.practitioner_of(actor)
    if practitioner_id is None:
        if own is None:
            raise field_error("practitioner_id", _("Name the practitioner of the encounter."))
        return own
    chosen = Practitioner.objects.filter(id=selectors._uuid(practitioner_id)).first()
    if chosen is None:
        raise field_error("practitioner_id", _("No such practitioner."))
    if actor.role == Role.PRACTITIONER and (own is None or chosen.id != own.id):
        raise PermissionDenied(
            _("A practitioner opens encounters as themselves only."),
            details={"practitioner_id": [_("Must be your own practitioner profile.")]},
        )
    return chosen


def _require_content(actor: Membership, patient_id: Any) -> None:
    """Clinical content of a patient outside the actor's caseload does not exist for them."""
    if not selectors.content_visible(actor, patient_id):
        raise NotFound(_("Patient not found."))


@transaction.atomic
def encounter_create(
    *,
    actor: Membership,
    patient_id: Any,
    kind: str = EncounterKind.VISIT,
    appointment_id: Any = None,
    practitioner_id: Any = None,
    location_id: Any = None,
) -> Encounter:
    """Open an encounter on demand (409 `encounter_exists` if its appointment has one)."""
    patient = patient_for_actor(actor, patient_id)
    _require_content(actor, patient.id)
    kind = choice_clean(kind, "kind", EncounterKind)
    appointment = None
    if appointment_id is not None:
        appointment = (
            Appointment.objects.select_for_update(of=("self",))
            .filter(id=selectors._uuid(appointment_id), patient_id=patient.id)
            .first()
        )
        if appointment is None:
            raise field_error("appointment_id", _("No such appointment for this patient."))
        if appointment.status in ("cancelled", "held"):
            raise field_error("appointment_id", _("This appointment is not taking place."))
        existing = Encounter.objects.filter(appointment_id=appointment.id).first()
        if existing is not None:
            raise Conflict(
                _("This appointment already has its encounter."),
                code="encounter_exists",
                details={"encounter_id": str(existing.id)},
            )
        if practitioner_id is None:
            practitioner_id = appointment.practitioner_id
    practitioner = _practitioner_for(actor, practitioner_id)
    location = None
    if location_id is not None:
        location = Location.objects.filter(id=selectors._uuid(location_id)).first()
        if location is None:
            raise field_error("location_id", _("No such location."))
    elif appointment is not None:
        location = appointment.location
    else:
        location = practitioner.default_location
    return Encounter.objects.create(
        patient=patient,
        practitioner=practitioner,
        appointment=appointment,
        location=location,
        kind=kind,
        started_at=timezone.now(),
        created_by=actor,
    )


def encounter_open_for_appointment(
    *, appointment: Appointment, actor: Membership | None = None
) -> Encounter | None:
    """The encounter of a checked-in appointment, opened once (a second check-in, or a race
    with another, finds the first). Individual appointments with a patient only."""
    if appointment.patient_id is None or appointment.kind != "individual":
        return None
    existing = Encounter.objects.filter(appointment_id=appointment.id).first()
    if existing is not None:
        return existing
    kind = EncounterKind.TELEHEALTH if appointment.modality == "telehealth" else EncounterKind.VISIT
    try:
        with transaction.atomic():
            return Encounter.objects.create(
                patient_id=appointment.patient_id,
                practitioner_id=appointment.practitioner_id,
                appointment=appointment,
                location_id=appointment.location_id,
                kind=kind,
                started_at=timezone.now(),
                created_by=actor,
            )
    except IntegrityError:
        return Encounter.objects.get(appointment_id=appointment.id)


@transaction.atomic
def encounter_close(*, actor: Membership, encounter: Encounter) -> Encounter:
    if encounter.status == EncounterStatus.CLOSED:
        raise Conflict(_("This encounter is closed already."), code="encounter_closed")
    _require_content(actor, encounter.patient_id)
    encounter.status = EncounterStatus.CLOSED
    encounter.ended_at = max(timezone.now(), encounter.started_at)
    encounter.save(update_fields=["status", "ended_at"])
    return encounter


# --- notes -------------------------------------------------------------------------------------


def _text(value: Any, field: str, limit: int = MAX_SECTION_CHARS) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise field_error(field, _("Must be text."))
    if len(value) > limit:
        raise field_error(field, _("At most %(n)d characters.") % {"n": limit})
    return value


def sections_clean(template: str, sections: Any) -> Any:
    """The sections of a note checked against its template: SOAP and DAP take an object with
    their section names (missing ones are empty, unknown ones refused); free sections are a list
    of {title, text}; an ABA session note its targets and behaviours (clinical.aba)."""
    template = choice_clean(template, "template", NoteTemplate)
    if template == NoteTemplate.FREE:
        if not isinstance(sections, list) or not 1 <= len(sections) <= MAX_FREE_SECTIONS:
            raise field_error(
                "sections",
                _("Free notes take a list of 1 to %(n)d sections {title, text}.")
                % {"n": MAX_FREE_SECTIONS},
            )
        cleaned = []
        for i, item in enumerate(sections):
            if not isinstance(item, dict) or set(item) - {"title", "text"}:
                raise field_error(f"sections.{i}", _("Each section is {title, text}."))
            title = _text(item.get("title"), f"sections.{i}.title", MAX_TITLE_CHARS).strip()
            if not title:
                raise field_error(f"sections.{i}.title", _("A section needs a title."))
            cleaned.append({"title": title, "text": _text(item.get("text"), f"sections.{i}.text")})
        return cleaned
    if template == NoteTemplate.ABA:
        return aba_clean(sections, _text)
    keys = selectors.SECTION_KEYS[template]
    if not isinstance(sections, dict):
        raise field_error(
            "sections", _("Must be an object with: %(keys)s.") % {"keys": ", ".join(keys)}
        )
    unknown = sorted(set(sections) - set(keys))
    if unknown:
        raise field_error(
            f"sections.{unknown[0]}",
            _("Not a section of this template (%(keys)s).") % {"keys": ", ".join(keys)},
        )
    return {key: _text(sections.get(key), f"sections.{key}") for key in keys}


def _cosigner(actor: Membership, requires_cosign: bool, cosigner_id: Any) -> Practitioner | None:
    if not requires_cosign:
        if cosigner_id is not None:
            raise field_error("cosigner_id", _("Only a note that requires co-signature has one."))
        return None
    if cosigner_id is None:
        raise field_error("cosigner_id", _("Name who co-signs this note."))
    cosigner = (
        Practitioner.objects.filter(
            id=selectors._uuid(cosigner_id),
            is_active=True,
            membership__isnull=False,
            membership__is_active=True,
        )
        .select_related("membership")
        .first()
    )
    if cosigner is None:
        raise field_error("cosigner_id", _("No such practitioner with an account."))
    if cosigner.membership_id == actor.id:
        raise field_error("cosigner_id", _("The author cannot co-sign their own note."))
    return cosigner


def _version_keep(note: ClinicalNote, actor: Membership, now) -> None:
    NoteVersion.objects.create(
        note=note, number=note.version, sections=note.sections, saved_by=actor, saved_at=now
    )


@transaction.atomic
def note_create(
    *,
    actor: Membership,
    encounter: Encounter,
    template: str,
    sections: Any,
    requires_cosign: bool = False,
    cosigner_id: Any = None,
) -> ClinicalNote:
    _require_content(actor, encounter.patient_id)
    cleaned = sections_clean(template, sections)
    cosigner = _cosigner(actor, bool(requires_cosign), cosigner_id)
    note = ClinicalNote.objects.create(
        encounter=encounter,
        patient_id=encounter.patient_id,
        author=actor,
        author_practitioner=selectors.practitioner_of(actor),
        template=template,
        sections=cleaned,
        requires_cosign=bool(requires_cosign),
        cosigner=cosigner,
    )
    _version_keep(note, actor, timezone.now())
    return note


def _note_locked(note_id: Any, actor: Membership) -> ClinicalNote:
    return selectors.note_for_actor(actor, note_id, for_update=True)


def _refuse_unless_draft(note: ClinicalNote) -> None:
    if note.status != NoteStatus.DRAFT:
        raise Conflict(
            _("This note is signed: add an addendum instead."),
            code="note_signed",
            details={"status": note.status, "signed_at": note.signed_at.isoformat()},
        )


def _refuse_unless_author(note: ClinicalNote, actor: Membership, message: str) -> None:
    if note.author_id != actor.id:
        raise PermissionDenied(message, code="not_author")


@transaction.atomic
def note_update(*, actor: Membership, note_id: Any, sections: Any, version: Any) -> ClinicalNote:
    """Save a draft: the caller names the version it edited; another save since then is a 409
    `version_conflict` naming the current version (no lost update). Saving the same content
    again keeps the version."""
    note = _note_locked(note_id, actor)  # the row lock orders concurrent saves
    _refuse_unless_draft(note)
    _refuse_unless_author(note, actor, _("Only the author of a note may edit it."))
    if not isinstance(version, int) or isinstance(version, bool):
        raise field_error("version", _("Name the version you edited (a whole number)."))
    if version != note.version:
        raise Conflict(
            _("This note was saved by someone else meanwhile (version %(v)d).")
            % {"v": note.version},
            code="version_conflict",
            details={"current_version": note.version, "your_version": version},
        )
    cleaned = sections_clean(note.template, sections)
    if cleaned == note.sections:
        return note
    note.sections = cleaned
    note.version += 1
    note.save(update_fields=["sections", "version", "updated_at"])
    _version_keep(note, actor, timezone.now())
    return note


@transaction.atomic
def note_sign(*, actor: Membership, note_id: Any) -> ClinicalNote:
    """Sign a draft (its author only): it is locked from now on. A note that requires a
    co-signature waits for it; signing long after the encounter began is flagged late."""
    note = _note_locked(note_id, actor)
    _refuse_unless_draft(note)
    _refuse_unless_author(note, actor, _("Only the author of a note may sign it."))
    now = timezone.now()
    hours = selectors.settings_get().late_signing_hours
    note.signed_at = now
    note.signed_by = actor
    note.late = now - note.encounter.started_at > timedelta(hours=hours)
    note.status = NoteStatus.AWAITING_COSIGN if note.requires_cosign else NoteStatus.SIGNED
    # never `sections`: re-encrypting it would be a change of a signed note's content
    note.save(update_fields=["signed_at", "signed_by", "late", "status", "updated_at"])
    return note


@transaction.atomic
def note_cosign(*, actor: Membership, note_id: Any) -> ClinicalNote:
    note = _note_locked(note_id, actor)
    if note.status != NoteStatus.AWAITING_COSIGN:
        raise Conflict(
            _("This note is not awaiting a co-signature."),
            code="not_awaiting_cosign",
            details={"status": note.status},
        )
    if note.cosigner is None or note.cosigner.membership_id != actor.id:
        raise PermissionDenied(
            _("Only the named co-signer may co-sign this note."), code="not_cosigner"
        )
    note.cosigned_at = timezone.now()
    note.status = NoteStatus.SIGNED
    note.save(update_fields=["cosigned_at", "status", "updated_at"])
    return note


@transaction.atomic
def addendum_add(*, actor: Membership, note_id: Any, text: Any) -> Addendum:
    """Add to a signed note (a draft is edited instead)."""
    note = _note_locked(note_id, actor)
    if note.status == NoteStatus.DRAFT:
        raise Conflict(
            _("This note is still a draft: edit it instead of adding an addendum."),
            code="note_draft",
        )
    text = _text(text, "text").strip()
    if not text:
        raise field_error("text", _("Write the addendum."))
    return Addendum.objects.create(note=note, author=actor, text=text, created_at=timezone.now())


# --- reads of clinical content -----------------------------------------------------------------


def note_read_record(*, actor: Membership, note: ClinicalNote, what: str = "note") -> None:
    """A read of a note's content is an access event of the patient's record (who, what,
    when): `GET /patients/{id}/access-log` lists them."""
    audit_record(
        action="clinical_note.versions_read" if what == "versions" else "clinical_note.read",
        organization_id=actor.organization_id,
        actor_id=actor.user_id,
        object_type="directory_patient",
        object_id=str(note.patient_id),
        details={"note_id": str(note.id), "what": what},
    )
