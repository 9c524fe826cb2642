"""Treatment plans (a patient's plan of care) and the consultations planned within them."""

from __future__ import annotations

from django.contrib.postgres.constraints import ExclusionConstraint
from django.contrib.postgres.fields import ArrayField, RangeOperators
from django.db import models
from django.db.models import F, Func, Q
from django.db.models.lookups import Exact
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from clinic.care.status import ConsultationStatus, PlanStatus
from clinic.core.models import TenantModel
from clinic.directory.models import Modality


class MinutesAfter(Func):
    """`care_minutes_after(ts, minutes)`: ts + minutes. Declared IMMUTABLE in migration 0001
    (adding minutes to an instant does not depend on the time zone), so it can feed a generated
    column and an exclusion constraint."""

    function = "care_minutes_after"
    output_field = models.DateTimeField()


class TstzRange(Func):
    function = "tstzrange"
    output_field = models.DateTimeField()


class ConsultationType(models.TextChoices):
    INITIAL_ASSESSMENT = "initial_assessment", _("Initial assessment")
    TREATMENT = "treatment", _("Treatment")
    FOLLOW_UP = "follow_up", _("Follow-up")
    RE_ASSESSMENT = "re_assessment", _("Re-assessment")
    DISCHARGE = "discharge", _("Discharge")


class FrequencyUnit(models.TextChoices):
    DAY = "day", _("per day")
    WEEK = "week", _("per week")
    MONTH = "month", _("per month")


class GoalStatus(models.TextChoices):
    OPEN = "open", pgettext_lazy("goal status", "Open")
    ACHIEVED = "achieved", pgettext_lazy("goal status", "Achieved")
    PARTIALLY_ACHIEVED = "partially_achieved", pgettext_lazy("goal status", "Partially achieved")
    NOT_ACHIEVED = "not_achieved", pgettext_lazy("goal status", "Not achieved")
    DROPPED = "dropped", pgettext_lazy("goal status", "Dropped")


class TreatmentPlan(TenantModel):
    patient = models.ForeignKey(
        "directory.Patient", on_delete=models.PROTECT, related_name="treatment_plans"
    )
    practitioner = models.ForeignKey(
        "directory.Practitioner", on_delete=models.PROTECT, related_name="treatment_plans"
    )
    title = models.CharField(_("title"), max_length=200)
    reason = models.TextField(_("reason for referral"), blank=True)
    diagnosis_codes = ArrayField(
        models.CharField(max_length=32),
        default=list,
        blank=True,
        verbose_name=_("diagnosis codes"),
    )
    # Ordered: [{"text": str, "target": str, "status": GoalStatus}]
    goals = models.JSONField(_("goals"), default=list, blank=True)
    start_date = models.DateField(_("start date"))
    end_date = models.DateField(_("expected end date"), null=True, blank=True)
    planned_consultations = models.PositiveSmallIntegerField(
        _("planned consultations"), null=True, blank=True
    )
    frequency_count = models.PositiveSmallIntegerField(_("frequency"), null=True, blank=True)
    frequency_unit = models.CharField(
        _("frequency unit"),
        max_length=10,
        choices=FrequencyUnit.choices,
        default=FrequencyUnit.WEEK,
    )
    service = models.ForeignKey(
        "directory.Service",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("default service"),
    )
    location = models.ForeignKey(
        "directory.Location",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("default location"),
    )
    modality = models.CharField(
        _("default modality"),
        max_length=20,
        choices=Modality.choices,
        default=Modality.IN_PERSON,
    )
    status = models.CharField(
        _("status"), max_length=20, choices=PlanStatus.choices, default=PlanStatus.DRAFT
    )
    notes = models.TextField(_("notes"), blank=True)
    created_by = models.ForeignKey(
        "accounts.User", on_delete=models.PROTECT, null=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["organization", "id"], name="plan_org_id"),
            models.CheckConstraint(condition=~Q(title=""), name="plan_title_present"),
            models.CheckConstraint(
                condition=Q(end_date__isnull=True) | Q(end_date__gte=F("start_date")),
                name="plan_end_after_start",
            ),
            models.CheckConstraint(
                condition=Q(planned_consultations__isnull=True) | Q(planned_consultations__gte=1),
                name="plan_planned_positive",
            ),
            models.CheckConstraint(
                condition=Q(frequency_count__isnull=True) | Q(frequency_count__gte=1),
                name="plan_frequency_positive",
            ),
            models.CheckConstraint(condition=Q(status__in=PlanStatus.values), name="plan_status"),
            models.CheckConstraint(
                condition=Q(frequency_unit__in=FrequencyUnit.values), name="plan_frequency_unit"
            ),
            models.CheckConstraint(condition=Q(modality__in=Modality.values), name="plan_modality"),
            models.CheckConstraint(
                condition=Exact(
                    Func(F("goals"), function="jsonb_typeof", output_field=models.TextField()),
                    "array",
                ),
                name="plan_goals_array",
            ),
        ]
        indexes = [
            models.Index(fields=["organization", "patient", "status"], name="plan_patient"),
            models.Index(
                fields=["organization", "practitioner", "status"], name="plan_practitioner"
            ),
        ]

    def __str__(self) -> str:
        return self.title

    @property
    def frequency_label(self) -> str:
        if not self.frequency_count:
            return ""
        return f"{self.frequency_count} {self.get_frequency_unit_display()}"


class Consultation(TenantModel):
    plan = models.ForeignKey(TreatmentPlan, on_delete=models.CASCADE, related_name="consultations")
    sequence = models.PositiveSmallIntegerField(_("number"))
    type = models.CharField(
        _("type"),
        max_length=30,
        choices=ConsultationType.choices,
        default=ConsultationType.TREATMENT,
    )
    planned_start = models.DateTimeField(_("planned start"))
    duration_minutes = models.PositiveSmallIntegerField(_("duration (minutes)"))
    planned_end = models.GeneratedField(
        expression=MinutesAfter(F("planned_start"), F("duration_minutes")),
        output_field=models.DateTimeField(),
        db_persist=True,
    )
    location = models.ForeignKey(
        "directory.Location", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    modality = models.CharField(
        _("modality"), max_length=20, choices=Modality.choices, default=Modality.IN_PERSON
    )
    practitioner = models.ForeignKey(
        "directory.Practitioner", on_delete=models.PROTECT, related_name="consultations"
    )
    status = models.CharField(
        _("status"),
        max_length=20,
        choices=ConsultationStatus.choices,
        default=ConsultationStatus.PLANNED,
    )
    notes = models.TextField(_("notes"), blank=True)
    # The appointment it became once scheduled (booked through the scheduling services).
    appointment = models.OneToOneField(
        "scheduling.Appointment",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="consultation",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    audit_redact = ("planned_end",)

    class Meta:
        ordering = ["sequence"]
        constraints = [
            # Deferred: renumbering a plan rewrites several sequences in one statement.
            models.UniqueConstraint(
                fields=["organization", "plan", "sequence"],
                name="consultation_sequence_unique",
                deferrable=models.Deferrable.DEFERRED,
            ),
            models.CheckConstraint(condition=Q(sequence__gte=1), name="consultation_seq_positive"),
            models.CheckConstraint(
                condition=Q(duration_minutes__gte=1) & Q(duration_minutes__lte=24 * 60),
                name="consultation_duration_range",
            ),
            models.CheckConstraint(
                condition=Q(status__in=ConsultationStatus.values), name="consultation_status"
            ),
            models.CheckConstraint(
                condition=Q(type__in=ConsultationType.values), name="consultation_type"
            ),
            models.CheckConstraint(
                condition=Q(modality__in=Modality.values), name="consultation_modality"
            ),
            # No two live consultations of one plan at overlapping times.
            ExclusionConstraint(
                name="consultation_no_overlap_in_plan",
                expressions=[
                    (F("organization"), RangeOperators.EQUAL),
                    (F("plan"), RangeOperators.EQUAL),
                    (TstzRange(F("planned_start"), F("planned_end")), RangeOperators.OVERLAPS),
                ],
                condition=~Q(status=ConsultationStatus.CANCELLED),
            ),
        ]
        indexes = [
            models.Index(
                fields=["organization", "plan", "planned_start"], name="consultation_plan_time"
            ),
            models.Index(
                fields=["organization", "practitioner", "planned_start"],
                name="consultation_pract_time",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.plan} #{self.sequence}"
