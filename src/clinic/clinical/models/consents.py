"""Consents: the clinic's templates per procedure (text, risks, alternatives, estimated cost,
how long a signature holds) and the consents patients — or their guardian/owner — sign.

A signed consent keeps the exact text that was signed and the template's version, a typed name
and the drawn signature (encrypted at rest), the witness and the expiry. A template lists the
services that require it: such a service's appointment cannot be checked in, started or
completed without a valid consent (clinical.handlers)."""

from __future__ import annotations

from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from clinic.core.fields import EncryptedTextField
from clinic.core.models import TenantModel


class ConsentTemplate(TenantModel):
    name = models.CharField(_("name"), max_length=200)
    procedure = models.CharField(_("procedure type"), max_length=200, blank=True)
    text = models.TextField(_("text"))
    risks = models.TextField(_("risks"), blank=True)
    alternatives = models.TextField(_("alternatives"), blank=True)
    estimated_cost = models.DecimalField(
        _("estimated cost"), max_digits=10, decimal_places=2, null=True, blank=True
    )
    # how long a signature holds; empty: until withdrawn
    validity_days = models.PositiveIntegerField(_("valid for (days)"), null=True, blank=True)
    # bumped whenever what a patient reads changes; a signed consent keeps its version
    version = models.PositiveIntegerField(default=1)
    is_active = models.BooleanField(_("active"), default=True)
    services = models.ManyToManyField(
        "directory.Service", through="clinical.ConsentRequirement", related_name="+", blank=True
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["organization", "id"], name="consent_template_org_id"),
            models.UniqueConstraint(
                fields=["organization", "name"], name="consent_template_name_unique"
            ),
            models.CheckConstraint(condition=~Q(name=""), name="consent_template_named"),
            models.CheckConstraint(condition=~Q(text=""), name="consent_template_has_text"),
            models.CheckConstraint(
                condition=Q(estimated_cost__isnull=True) | Q(estimated_cost__gte=0),
                name="consent_template_cost_not_negative",
            ),
            models.CheckConstraint(
                condition=Q(validity_days__isnull=True) | Q(validity_days__gte=1),
                name="consent_template_validity_positive",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class ConsentRequirement(TenantModel):
    """A service whose appointments need a valid consent of this template."""

    template = models.ForeignKey(
        ConsentTemplate, on_delete=models.CASCADE, related_name="requirements"
    )
    service = models.ForeignKey("directory.Service", on_delete=models.CASCADE, related_name="+")

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "template", "service"], name="consent_requirement_once"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.template_id} → {self.service_id}"


class ConsentSigner(models.TextChoices):
    PATIENT = "patient", pgettext_lazy("consent signer", "The patient")
    CONTACT = "contact", pgettext_lazy("consent signer", "Guardian or owner")


class ConsentStatus(models.TextChoices):
    SIGNED = "signed", pgettext_lazy("consent status", "Signed")
    WITHDRAWN = "withdrawn", pgettext_lazy("consent status", "Withdrawn")


class Consent(TenantModel):
    patient = models.ForeignKey("directory.Patient", on_delete=models.PROTECT, related_name="+")
    template = models.ForeignKey(ConsentTemplate, on_delete=models.PROTECT, related_name="+")
    template_version = models.PositiveIntegerField()
    # what the signer read, exactly (the template may change later)
    text_signed = models.TextField()
    signer = models.CharField(_("signed by"), max_length=10, choices=ConsentSigner.choices)
    contact = models.ForeignKey(
        "directory.Contact", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    signed_name = models.CharField(_("name typed by the signer"), max_length=200)
    # the drawn signature: a PNG as a data URL, encrypted at rest
    signature = EncryptedTextField(_("signature"))
    witness_name = models.CharField(_("witness"), max_length=200, blank=True)
    recorded_by = models.ForeignKey(
        "accounts.Membership", on_delete=models.PROTECT, related_name="+"
    )
    signed_at = models.DateTimeField()
    expires_at = models.DateTimeField(null=True, blank=True)
    status = models.CharField(
        max_length=10, choices=ConsentStatus.choices, default=ConsentStatus.SIGNED
    )
    withdrawn_at = models.DateTimeField(null=True, blank=True)
    withdrawn_reason = models.CharField(max_length=500, blank=True)

    # the audit log keeps a hash of the signature, never the drawing
    audit_hash = ("signature",)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["organization", "id"], name="consent_org_id"),
            models.CheckConstraint(
                condition=Q(signer__in=[v for v, _label in ConsentSigner.choices]),
                name="consent_signer_valid",
            ),
            models.CheckConstraint(
                condition=Q(signer="patient", contact__isnull=True)
                | Q(signer="contact", contact__isnull=False),
                name="consent_contact_signs_for_contact",
            ),
            models.CheckConstraint(
                condition=Q(status__in=[v for v, _label in ConsentStatus.choices]),
                name="consent_status_valid",
            ),
            models.CheckConstraint(condition=~Q(signed_name=""), name="consent_name_typed"),
            models.CheckConstraint(
                condition=Q(expires_at__isnull=True) | Q(expires_at__gt=F("signed_at")),
                name="consent_expires_after_signing",
            ),
            models.CheckConstraint(
                condition=Q(status="signed", withdrawn_at__isnull=True)
                | Q(status="withdrawn", withdrawn_at__isnull=False),
                name="consent_withdrawal_dated",
            ),
        ]
        indexes = [
            models.Index(
                fields=["organization", "patient", "template", "-signed_at"],
                name="consent_patient_template",
            )
        ]

    def __str__(self) -> str:
        return f"{self.template_id} signed {self.signed_at:%Y-%m-%d}"
