"""Documents of the record: files (PDF, images) attached to a patient or one of their
encounters — referral letters, reports, scans, photos of a wound.

The bytes are kept through Django's storage API, sealed with the field-encryption keys (the key
id is kept with the row), and never served from a public URL: only the authorised view, which
audits the read, hands them out. A mistake is marked entered in error, never deleted."""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from clinic.core.models import TenantModel


class DocumentCategory(models.TextChoices):
    REPORT = "report", pgettext_lazy("document category", "Report")
    REFERRAL = "referral", pgettext_lazy("document category", "Referral letter")
    RESULT = "result", pgettext_lazy("document category", "Test result")
    IMAGE = "image", pgettext_lazy("document category", "Image")
    CONSENT = "consent", pgettext_lazy("document category", "Signed form")
    CORRESPONDENCE = "correspondence", pgettext_lazy("document category", "Correspondence")
    OTHER = "other", pgettext_lazy("document category", "Other")


class DocumentStatus(models.TextChoices):
    CURRENT = "current", pgettext_lazy("document status", "Current")
    ENTERED_IN_ERROR = "entered_in_error", pgettext_lazy("document status", "Entered in error")


class Document(TenantModel):
    patient = models.ForeignKey("directory.Patient", on_delete=models.PROTECT, related_name="+")
    encounter = models.ForeignKey(
        "clinical.Encounter", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    title = models.CharField(_("title"), max_length=200)
    category = models.CharField(
        _("category"),
        max_length=20,
        choices=DocumentCategory.choices,
        default=DocumentCategory.OTHER,
    )
    # as the bytes say, never as the name or the browser said
    content_type = models.CharField(_("file type"), max_length=100)
    size = models.PositiveIntegerField(_("size"))
    sha256 = models.CharField(max_length=64)
    original_name = models.CharField(_("file name"), max_length=255, blank=True)
    # the sealed file's name in storage and the key that sealed it (`clinic keys rotate`)
    storage_name = models.CharField(max_length=300)
    key_id = models.CharField(max_length=40)
    status = models.CharField(
        _("status"),
        max_length=20,
        choices=DocumentStatus.choices,
        default=DocumentStatus.CURRENT,
    )
    uploaded_by = models.ForeignKey(
        "accounts.Membership", on_delete=models.PROTECT, related_name="+"
    )
    uploaded_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["organization", "id"], name="document_org_id"),
            models.CheckConstraint(
                condition=Q(status__in=[v for v, _label in DocumentStatus.choices]),
                name="document_status_valid",
            ),
            models.CheckConstraint(
                condition=Q(category__in=[v for v, _label in DocumentCategory.choices]),
                name="document_category_valid",
            ),
            models.CheckConstraint(condition=~Q(title=""), name="document_title_present"),
            models.CheckConstraint(condition=Q(size__gt=0), name="document_not_empty"),
        ]
        indexes = [
            models.Index(
                fields=["organization", "patient", "-uploaded_at"], name="document_patient"
            )
        ]

    def __str__(self) -> str:
        return self.title
