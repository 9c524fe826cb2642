"""Reads of the record's lists: allergies, alerts, conditions, observations, and what the chart
shows of them (the banner, the clinical summary). Clinical content: a patient outside the actor's
caseload is answered 404, as for another clinic's (see selectors.notes)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Case, F, IntegerField, QuerySet, Value, When, Window
from django.db.models.functions import RowNumber
from django.utils.translation import gettext as _

from clinic.accounts.models import Membership
from clinic.clinical.models import (
    BANNER_SEVERITIES,
    Alert,
    AlertLevel,
    Allergy,
    AllergyReview,
    AllergySeverity,
    AllergyStatus,
    Condition,
    ConditionStatus,
    Observation,
    ObservationStatus,
)
from clinic.clinical.selectors.notes import (
    _content_patients_q,
    _uuid,
    content_visible,
    practitioner_of,
)
from clinic.clinical.vitals import VITALS, Vital, interpretation
from clinic.core import timefmt
from clinic.core.errors import NotFound
from clinic.directory.models import Patient
from clinic.directory.selectors import patient_for_actor

VITAL_CODES = tuple(VITALS)
# the points of each measure the chart reads to draw its trend (the newest)
TREND_POINTS = 20

_SEVERITY_ORDER = Case(
    When(severity="life_threatening", then=Value(0)),
    When(severity="severe", then=Value(1)),
    When(severity="moderate", then=Value(2)),
    default=Value(3),
    output_field=IntegerField(),
)


def record_patient(actor: Membership, patient_id: Any) -> Patient:
    """The patient whose record lists `actor` may read, or 404."""
    patient = patient_for_actor(actor, patient_id)
    if not content_visible(actor, patient.id):
        raise NotFound(_("Patient not found."))
    return patient


def _scoped(actor: Membership, qs: QuerySet, object_id: Any, message: str, for_update: bool):
    rule = _content_patients_q(actor)
    if rule is not None:
        qs = qs.filter(rule)
    if for_update:
        qs = qs.select_for_update(of=("self",))
    found = qs.filter(id=_uuid(object_id)).first() if _uuid(object_id) else None
    if found is None:
        raise NotFound(message)
    return found


def allergy_for_actor(actor: Membership, allergy_id: Any, *, for_update: bool = False) -> Allergy:
    qs = Allergy.objects.select_related("recorded_by__user")
    return _scoped(actor, qs, allergy_id, _("Allergy not found."), for_update)


def alert_for_actor(actor: Membership, alert_id: Any, *, for_update: bool = False) -> Alert:
    qs = Alert.objects.select_related("created_by__user")
    return _scoped(actor, qs, alert_id, _("Alert not found."), for_update)


def condition_for_actor(
    actor: Membership, condition_id: Any, *, for_update: bool = False
) -> Condition:
    qs = Condition.objects.select_related("recorded_by__user")
    return _scoped(actor, qs, condition_id, _("Condition not found."), for_update)


def observation_for_actor(
    actor: Membership, observation_id: Any, *, for_update: bool = False
) -> Observation:
    qs = Observation.objects.select_related("recorded_by__user", "location", "patient")
    return _scoped(actor, qs, observation_id, _("Observation not found."), for_update)


def allergies_list(patient_id: Any, *, include_errors: bool = False) -> QuerySet:
    """Active first, the most severe first; entered-in-error ones only when asked."""
    qs = Allergy.objects.filter(patient_id=patient_id).select_related("recorded_by__user")
    if not include_errors:
        qs = qs.exclude(status=AllergyStatus.ENTERED_IN_ERROR)
    return qs.order_by(
        Case(When(status="active", then=Value(0)), default=Value(1), output_field=IntegerField()),
        _SEVERITY_ORDER,
        "substance",
        "id",
    )


def alerts_list(patient_id: Any, *, active_only: bool = False) -> QuerySet:
    qs = Alert.objects.filter(patient_id=patient_id).select_related("created_by__user")
    if active_only:
        qs = qs.filter(active=True)
    return qs.order_by("-active", "-created_at", "id")


def conditions_list(patient_id: Any, *, include_errors: bool = False) -> QuerySet:
    qs = Condition.objects.filter(patient_id=patient_id).select_related("recorded_by__user")
    if not include_errors:
        qs = qs.exclude(clinical_status=ConditionStatus.ENTERED_IN_ERROR)
    return qs.order_by(
        Case(
            When(clinical_status="active", then=Value(0)),
            default=Value(1),
            output_field=IntegerField(),
        ),
        "-onset",
        "code",
        "id",
    )


def observations_list(
    patient_id: Any, *, code: str | None = None, include_errors: bool = False
) -> QuerySet:
    qs = Observation.objects.filter(patient_id=patient_id).select_related(
        "recorded_by__user", "location"
    )
    if code:
        qs = qs.filter(code=code)
    if not include_errors:
        qs = qs.exclude(status=ObservationStatus.ENTERED_IN_ERROR)
    return qs.order_by("-recorded_at", "-created_at", "id")


# --- what the chart shows ----------------------------------------------------------------------

NOT_RECORDED, NONE_KNOWN, RECORDED = "not_recorded", "none_known", "recorded"


@dataclass
class Banner:
    """What must be seen before anything else: serious allergies and danger alerts (in red),
    and whether allergies were ever asked about."""

    serious_allergies: list[Allergy]
    other_allergies: list[Allergy]
    danger_alerts: list[Alert]
    allergy_state: str  # NOT_RECORDED, NONE_KNOWN or RECORDED

    @property
    def urgent(self) -> bool:
        return bool(self.serious_allergies or self.danger_alerts)


def banner(patient_id: Any) -> Banner:
    """Three queries whatever the record holds."""
    active = list(
        Allergy.objects.filter(patient_id=patient_id, status=AllergyStatus.ACTIVE).order_by(
            _SEVERITY_ORDER, "substance", "id"
        )
    )
    alerts = list(
        Alert.objects.filter(patient_id=patient_id, active=True, level=AlertLevel.DANGER).order_by(
            "-created_at", "id"
        )
    )
    if active:
        state = RECORDED
    else:
        review = AllergyReview.objects.filter(patient_id=patient_id).first()
        # inactive allergies alone say nothing about today: "not recorded" unless asked
        state = NONE_KNOWN if review is not None and review.no_known_allergies else NOT_RECORDED
    return Banner(
        serious_allergies=[a for a in active if a.severity in BANNER_SEVERITIES],
        other_allergies=[a for a in active if a.severity not in BANNER_SEVERITIES],
        danger_alerts=alerts,
        allergy_state=state,
    )


@dataclass
class VitalTrend:
    vital: Vital
    latest: Observation
    points: list[Observation] = field(default_factory=list)  # oldest first
    flag: str | None = None  # the latest value: "low", "high" or None


def observation_interpretation(observation: Observation, patient: Patient) -> str | None:
    """ "low"/"high" against the patient's reference range on the (local) day it was measured."""
    return interpretation(
        observation.code,
        observation.value,
        species=patient.species,
        date_of_birth=patient.date_of_birth,
        on=timefmt.localize(observation.recorded_at, observation.location).date(),
    )


@dataclass
class ClinicalSummary:
    banner: Banner
    allergies: list[Allergy]
    alerts: list[Alert]
    conditions: list[Condition]
    vitals: list[VitalTrend]


def vital_trends(patient_id: Any, *, patient: Patient | None = None) -> list[VitalTrend]:
    """The latest value of each measure and its recent points, in the catalogue's order: one
    query reading at most TREND_POINTS rows per measure, however long the history (a measure
    taken rarely keeps its place beside daily ones)."""
    ranked = (
        Observation.objects.filter(patient_id=patient_id, status=ObservationStatus.FINAL)
        .annotate(
            rank=Window(
                RowNumber(),
                partition_by=[F("code")],
                order_by=[F("recorded_at").desc(), F("id").asc()],
            )
        )
        .filter(rank__lte=TREND_POINTS)
        .select_related("location")
    )
    by_code: dict[str, list[Observation]] = defaultdict(list)
    for observation in ranked.order_by("code", "-recorded_at", "id"):
        by_code[observation.code].append(observation)
    return [
        VitalTrend(
            vital=vital,
            latest=by_code[code][0],
            points=by_code[code][::-1],
            flag=observation_interpretation(by_code[code][0], patient) if patient else None,
        )
        for code, vital in VITALS.items()
        if by_code.get(code)
    ]


def clinical_summary(patient_id: Any, *, patient: Patient | None = None) -> ClinicalSummary:
    """The chart's clinical card: a constant number of queries (seven)."""
    return ClinicalSummary(
        banner=banner(patient_id),
        allergies=list(allergies_list(patient_id)),
        alerts=list(alerts_list(patient_id, active_only=True)),
        conditions=list(
            conditions_list(patient_id).filter(clinical_status=ConditionStatus.ACTIVE)[:50]
        ),
        vitals=vital_trends(patient_id, patient=patient),
    )


def vital_chart_data(trends: list[VitalTrend]) -> dict:
    """The trend points for the chart's script (json_script): labels are dates in the zone of
    the place each value was measured, through the one time helper."""
    return {
        trend.vital.code: {
            "label": str(trend.vital.label),
            "unit": "" if trend.vital.unit.startswith("{") else trend.vital.unit,
            "labels": [timefmt.local_date(p.recorded_at, p.location) for p in trend.points],
            "values": [float(p.value) for p in trend.points],
        }
        for trend in trends
        if len(trend.points) >= 2
    }


def record_card(actor: Membership, patient: Patient) -> dict | None:
    """What the chart's "Clinical summary" card and the banner show `actor`, with the forms they
    may use there; None when the record is not theirs to read (a constant number of queries)."""
    if not actor.has("allergy.view") or not content_visible(actor, patient.id):
        return None
    summary = clinical_summary(patient.id, patient=patient)
    can = {
        "allergy": actor.has("allergy.edit"),
        "alert": actor.has("alert.edit"),
        "condition": actor.has("condition.edit"),
        "observation": actor.has("observation.edit"),
    }
    # a time typed into the vital-sign form is read in the zone of the practitioner's place
    own = practitioner_of(actor) if can["observation"] else None
    where = own.default_location if own is not None else None
    return {
        "patient": patient,
        "summary": summary,
        "banner": summary.banner,
        "vital_chart": vital_chart_data(summary.vitals),
        "vitals": [(code, vital.label) for code, vital in VITALS.items()],
        "severities": AllergySeverity.choices,
        "levels": AlertLevel.choices,
        "zone": timefmt.zone_label(where),
        "can": can,
    }


def serious_items_for(actor: Membership, patient_ids) -> dict[Any, list[str]]:
    """For a list of patients (a day's appointments): the serious allergies and danger alerts
    of each whose record `actor` may read, as short texts. Two queries whatever the number."""
    if not actor.has("allergy.view") or not patient_ids:
        return {}
    allergies = Allergy.objects.filter(
        patient_id__in=patient_ids,
        status=AllergyStatus.ACTIVE,
        severity__in=BANNER_SEVERITIES,
    )
    alerts = Alert.objects.filter(patient_id__in=patient_ids, active=True, level=AlertLevel.DANGER)
    rule = _content_patients_q(actor)
    if rule is not None:
        allergies, alerts = allergies.filter(rule), alerts.filter(rule)
    found: dict[Any, list[str]] = defaultdict(list)
    for allergy in allergies.order_by(_SEVERITY_ORDER, "substance"):
        found[allergy.patient_id].append(
            _("Allergy: %(substance)s") % {"substance": allergy.substance}
        )
    for alert in alerts.order_by("-created_at"):
        found[alert.patient_id].append(alert.text)
    return dict(found)
