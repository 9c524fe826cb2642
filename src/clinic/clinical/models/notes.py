"""The clinical record, first slice: encounters and their notes — signed, versioned, amended.

Protection in the database, not only in Python (migration 0002): a trigger refuses any change of
a signed note's content and any UPDATE of a version or an addendum; note sections, version
sections and addendum text are AES-GCM ciphertext (clinic.core.fields) and reach the audit log
only as hashes (`audit_hash`)."""

from __future__ import annotations

from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from clinic.core.fields import EncryptedJSONField, EncryptedTextField
from clinic.core.models import TenantModel

DEFAULT_LATE_SIGNING_HOURS = 72


def _choices_check(field: str, choices, name: str) -> models.CheckConstraint:
    return models.CheckConstraint(
        condition=Q(**{f"{field}__in": [value for value, _label in choices]}), name=name
    )


class EncounterKind(models.TextChoices):
    VISIT = "visit", _("Visit")
    TELEHEALTH = "telehealth", _("Telehealth")
    GROUP_MEMBER = "group_member", _("Group session member")
    PHONE = "phone", _("Phone")
    HOSPITAL_ROUND = "hospital_round", _("Hospital round")


class EncounterStatus(models.TextChoices):
    OPEN = "open", pgettext_lazy("encounter status", "Open")
    CLOSED = "closed", pgettext_lazy("encounter status", "Closed")


class NoteTemplate(models.TextChoices):
    SOAP = "soap", _("SOAP")
    DAP = "dap", _("DAP")
    ABA = "aba", _("ABA session")
    FREE = "free", _("Free sections")


class NoteStatus(models.TextChoices):
    DRAFT = "draft", pgettext_lazy("clinical note status", "Draft")
    AWAITING_COSIGN = (
        "awaiting_cosign",
        pgettext_lazy("clinical note status", "Awaiting co-signature"),
    )
    SIGNED = "signed", pgettext_lazy("clinical note status", "Signed")


class ClinicalSettings(TenantModel):
    """The organization's clinical settings (one row; defaults when it has none)."""

    late_signing_hours = models.PositiveSmallIntegerField(
        _("late signing after (hours)"), default=DEFAULT_LATE_SIGNING_HOURS
    )
    # off by default: managers and the front desk see that notes exist, not what they say
    desk_reads_notes = models.BooleanField(
        _("managers and the front desk may read the text of notes"), default=False
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["organization"], name="clinical_settings_one"),
            models.CheckConstraint(
                condition=Q(late_signing_hours__gte=1, late_signing_hours__lte=8760),
                name="clinical_late_hours_range",
            ),
        ]

    def __str__(self) -> str:
        return f"clinical settings ({self.late_signing_hours} h)"


class Encounter(TenantModel):
    """One contact with a patient: the parent of the notes written about it."""

    patient = models.ForeignKey(
        "directory.Patient", on_delete=models.PROTECT, related_name="encounters"
    )
    practitioner = models.ForeignKey(
        "directory.Practitioner", on_delete=models.PROTECT, related_name="encounters"
    )
    appointment = models.ForeignKey(
        "scheduling.Appointment",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    location = models.ForeignKey(
        "directory.Location", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    kind = models.CharField(
        _("kind"), max_length=20, choices=EncounterKind.choices, default=EncounterKind.VISIT
    )
    status = models.CharField(
        _("status"), max_length=10, choices=EncounterStatus.choices, default=EncounterStatus.OPEN
    )
    started_at = models.DateTimeField(_("started"))
    ended_at = models.DateTimeField(_("ended"), null=True, blank=True)
    created_by = models.ForeignKey(
        "accounts.Membership", on_delete=models.PROTECT, null=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["organization", "id"], name="encounter_org_id"),
            models.UniqueConstraint(
                fields=["organization", "appointment"],
                condition=Q(appointment__isnull=False),
                name="encounter_one_per_appointment",
            ),
            _choices_check("kind", EncounterKind.choices, "encounter_kind_valid"),
            _choices_check("status", EncounterStatus.choices, "encounter_status_valid"),
            models.CheckConstraint(
                condition=Q(ended_at__isnull=True) | Q(ended_at__gte=F("started_at")),
                name="encounter_ends_after_start",
            ),
            models.CheckConstraint(
                condition=Q(status=EncounterStatus.OPEN) | Q(ended_at__isnull=False),
                name="encounter_closed_has_end",
            ),
        ]
        indexes = [
            models.Index(
                fields=["organization", "patient", "-started_at"], name="encounter_patient_time"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.started_at:%Y-%m-%d}"


class ClinicalNote(TenantModel):
    encounter = models.ForeignKey(Encounter, on_delete=models.PROTECT, related_name="notes")
    # denormalised from the encounter: the caseload rule and the chart filter notes by patient
    patient = models.ForeignKey("directory.Patient", on_delete=models.PROTECT, related_name="+")
    author = models.ForeignKey("accounts.Membership", on_delete=models.PROTECT, related_name="+")
    author_practitioner = models.ForeignKey(
        "directory.Practitioner", on_delete=models.PROTECT, null=True, related_name="+"
    )
    template = models.CharField(_("template"), max_length=10, choices=NoteTemplate.choices)
    sections = EncryptedJSONField(_("sections"))
    status = models.CharField(
        _("status"), max_length=20, choices=NoteStatus.choices, default=NoteStatus.DRAFT
    )
    # optimistic lock: every saved draft increments it; a PATCH names the version it edits
    version = models.PositiveIntegerField(default=1)
    signed_at = models.DateTimeField(null=True, blank=True)
    signed_by = models.ForeignKey(
        "accounts.Membership", on_delete=models.PROTECT, null=True, related_name="+"
    )
    late = models.BooleanField(default=False)
    requires_cosign = models.BooleanField(default=False)
    cosigner = models.ForeignKey(
        "directory.Practitioner", on_delete=models.PROTECT, null=True, related_name="+"
    )
    cosigned_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    audit_hash = ("sections",)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["organization", "id"], name="note_org_id"),
            _choices_check("template", NoteTemplate.choices, "note_template_valid"),
            _choices_check("status", NoteStatus.choices, "note_status_valid"),
            models.CheckConstraint(condition=Q(version__gte=1), name="note_version_positive"),
            models.CheckConstraint(
                condition=Q(status=NoteStatus.DRAFT)
                | Q(signed_at__isnull=False, signed_by__isnull=False),
                name="note_signed_has_signer",
            ),
            models.CheckConstraint(
                condition=Q(requires_cosign=False) | Q(cosigner__isnull=False),
                name="note_cosign_names_cosigner",
            ),
            models.CheckConstraint(
                condition=~Q(status=NoteStatus.SIGNED)
                | Q(requires_cosign=False)
                | Q(cosigned_at__isnull=False),
                name="note_signed_is_cosigned",
            ),
        ]
        indexes = [
            models.Index(fields=["organization", "encounter"], name="note_encounter"),
            models.Index(fields=["organization", "patient", "-created_at"], name="note_patient"),
            models.Index(
                fields=["organization", "cosigner"],
                condition=Q(status=NoteStatus.AWAITING_COSIGN),
                name="note_cosign_queue",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_template_display()} note v{self.version}"


class NoteVersion(TenantModel):
    """Every saved state of a draft (version 1 is the note as created). Never updated."""

    note = models.ForeignKey(ClinicalNote, on_delete=models.PROTECT, related_name="versions")
    number = models.PositiveIntegerField()
    sections = EncryptedJSONField()
    saved_by = models.ForeignKey("accounts.Membership", on_delete=models.PROTECT, related_name="+")
    saved_at = models.DateTimeField()

    audit_hash = ("sections",)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "note", "number"], name="note_version_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"version {self.number}"


class Addendum(TenantModel):
    """A later addition to a signed note (a signed note is never edited). Never updated."""

    note = models.ForeignKey(ClinicalNote, on_delete=models.PROTECT, related_name="addenda")
    author = models.ForeignKey("accounts.Membership", on_delete=models.PROTECT, related_name="+")
    text = EncryptedTextField(_("text"))
    created_at = models.DateTimeField()

    audit_hash = ("text",)

    class Meta:
        indexes = [
            models.Index(fields=["organization", "note", "created_at"], name="addendum_note"),
        ]

    def __str__(self) -> str:
        return f"addendum {self.created_at:%Y-%m-%d %H:%M}"
