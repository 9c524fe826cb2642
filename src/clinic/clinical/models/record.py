"""The clinical record's lists: allergies (and the statement that there are none), alerts,
the problem list (ICD-10 conditions) and observations (vital signs).

Nothing here is deleted: a mistake is marked "entered in error", which hides it from the banner,
the summary and the lists while the audit log keeps what was written."""

from __future__ import annotations

from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from clinic.core.models import TenantModel


def _choices_check(field: str, choices, name: str) -> models.CheckConstraint:
    return models.CheckConstraint(
        condition=Q(**{f"{field}__in": [value for value, _label in choices]}), name=name
    )


class AllergySeverity(models.TextChoices):
    MILD = "mild", pgettext_lazy("allergy severity", "Mild")
    MODERATE = "moderate", pgettext_lazy("allergy severity", "Moderate")
    SEVERE = "severe", pgettext_lazy("allergy severity", "Severe")
    LIFE_THREATENING = "life_threatening", pgettext_lazy("allergy severity", "Life-threatening")


class AllergyStatus(models.TextChoices):
    ACTIVE = "active", pgettext_lazy("allergy status", "Active")
    INACTIVE = "inactive", pgettext_lazy("allergy status", "Inactive")
    ENTERED_IN_ERROR = "entered_in_error", pgettext_lazy("allergy status", "Entered in error")


# the severities the banner shows in red
BANNER_SEVERITIES = (AllergySeverity.SEVERE, AllergySeverity.LIFE_THREATENING)


class AlertLevel(models.TextChoices):
    INFO = "info", pgettext_lazy("alert level", "Information")
    WARNING = "warning", pgettext_lazy("alert level", "Warning")
    DANGER = "danger", pgettext_lazy("alert level", "Danger")


class ConditionStatus(models.TextChoices):
    ACTIVE = "active", pgettext_lazy("condition status", "Active")
    RESOLVED = "resolved", pgettext_lazy("condition status", "Resolved")
    ENTERED_IN_ERROR = "entered_in_error", pgettext_lazy("condition status", "Entered in error")


class ObservationStatus(models.TextChoices):
    FINAL = "final", pgettext_lazy("observation status", "Final")
    ENTERED_IN_ERROR = "entered_in_error", pgettext_lazy("observation status", "Entered in error")


class Allergy(TenantModel):
    patient = models.ForeignKey("directory.Patient", on_delete=models.PROTECT, related_name="+")
    substance = models.CharField(_("substance"), max_length=200)
    reaction = models.CharField(_("reaction"), max_length=500, blank=True)
    severity = models.CharField(_("severity"), max_length=20, choices=AllergySeverity.choices)
    status = models.CharField(
        _("status"), max_length=20, choices=AllergyStatus.choices, default=AllergyStatus.ACTIVE
    )
    onset = models.DateField(_("onset"), null=True, blank=True)
    note = models.CharField(_("note"), max_length=2000, blank=True)
    recorded_by = models.ForeignKey(
        "accounts.Membership", on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["organization", "id"], name="allergy_org_id"),
            _choices_check("severity", AllergySeverity.choices, "allergy_severity_valid"),
            _choices_check("status", AllergyStatus.choices, "allergy_status_valid"),
            models.CheckConstraint(condition=~Q(substance=""), name="allergy_substance_named"),
        ]
        indexes = [models.Index(fields=["organization", "patient"], name="allergy_patient")]

    def __str__(self) -> str:
        return self.substance


class AllergyReview(TenantModel):
    """That someone asked: "No known allergies" is a finding, not the absence of one. One row
    per patient; recording an active allergy clears it."""

    patient = models.ForeignKey("directory.Patient", on_delete=models.PROTECT, related_name="+")
    no_known_allergies = models.BooleanField(default=False)
    reviewed_by = models.ForeignKey(
        "accounts.Membership", on_delete=models.PROTECT, related_name="+"
    )
    reviewed_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "patient"], name="allergy_review_one_per_patient"
            ),
        ]

    def __str__(self) -> str:
        return "no known allergies" if self.no_known_allergies else "allergies reviewed"


class Alert(TenantModel):
    patient = models.ForeignKey("directory.Patient", on_delete=models.PROTECT, related_name="+")
    text = models.CharField(_("alert"), max_length=500)
    level = models.CharField(
        _("level"), max_length=10, choices=AlertLevel.choices, default=AlertLevel.WARNING
    )
    active = models.BooleanField(_("active"), default=True)
    created_by = models.ForeignKey(
        "accounts.Membership", on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["organization", "id"], name="alert_org_id"),
            _choices_check("level", AlertLevel.choices, "alert_level_valid"),
            models.CheckConstraint(condition=~Q(text=""), name="alert_text_present"),
        ]
        indexes = [models.Index(fields=["organization", "patient"], name="alert_patient")]

    def __str__(self) -> str:
        return self.text[:50]


class Condition(TenantModel):
    """One entry of the problem list, coded in ICD-10 (the label is the code table's)."""

    patient = models.ForeignKey("directory.Patient", on_delete=models.PROTECT, related_name="+")
    code = models.CharField(_("ICD-10 code"), max_length=10)
    label = models.CharField(_("diagnosis"), max_length=300)
    clinical_status = models.CharField(
        _("status"),
        max_length=20,
        choices=ConditionStatus.choices,
        default=ConditionStatus.ACTIVE,
    )
    onset = models.DateField(_("onset"), null=True, blank=True)
    abatement = models.DateField(_("resolved on"), null=True, blank=True)
    note = models.CharField(_("note"), max_length=2000, blank=True)
    recorded_by = models.ForeignKey(
        "accounts.Membership", on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["organization", "id"], name="condition_org_id"),
            _choices_check("clinical_status", ConditionStatus.choices, "condition_status_valid"),
            models.CheckConstraint(
                condition=Q(onset__isnull=True)
                | Q(abatement__isnull=True)
                | Q(abatement__gte=F("onset")),
                name="condition_abates_after_onset",
            ),
        ]
        indexes = [models.Index(fields=["organization", "patient"], name="condition_patient")]

    def __str__(self) -> str:
        return f"{self.code} {self.label}"


class Observation(TenantModel):
    """One measured value of a vital sign (clinical.vitals names the codes and units)."""

    patient = models.ForeignKey("directory.Patient", on_delete=models.PROTECT, related_name="+")
    encounter = models.ForeignKey(
        "clinical.Encounter", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    # the place it was measured: its time zone shows `recorded_at`
    location = models.ForeignKey(
        "directory.Location", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    code = models.CharField(_("measure"), max_length=30)
    value = models.DecimalField(_("value"), max_digits=8, decimal_places=2)
    unit = models.CharField(_("unit"), max_length=20)
    recorded_at = models.DateTimeField(_("measured at"))
    status = models.CharField(
        _("status"),
        max_length=20,
        choices=ObservationStatus.choices,
        default=ObservationStatus.FINAL,
    )
    recorded_by = models.ForeignKey(
        "accounts.Membership", on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["organization", "id"], name="observation_org_id"),
            _choices_check("status", ObservationStatus.choices, "observation_status_valid"),
        ]
        indexes = [
            models.Index(
                fields=["organization", "patient", "code", "-recorded_at"],
                name="observation_patient_code",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.code} {self.value} {self.unit}"

    @property
    def decimals_shown(self) -> int:
        """The decimals the value was typed with (70.50 kg reads 70.5): for `floatformat`."""
        return max(0, -self.value.normalize().as_tuple().exponent)
