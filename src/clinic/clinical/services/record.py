"""Writes of the record's lists: allergies (and "no known allergies"), alerts, conditions
(ICD-10) and observations (vital signs, within a plausible range).

A mistake is never deleted: it is marked entered in error, which is final. Row changes are
audited by the database trigger; reads of the lists by `record_read`."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from clinic.accounts.models import Membership
from clinic.audit.services import audit_record
from clinic.clinical import selectors
from clinic.clinical.icd10 import icd10_lookup
from clinic.clinical.models import (
    Alert,
    AlertLevel,
    Allergy,
    AllergyReview,
    AllergySeverity,
    AllergyStatus,
    Condition,
    ConditionStatus,
    Encounter,
    Observation,
    ObservationStatus,
)
from clinic.clinical.validation import choice_clean, text_clean
from clinic.clinical.vitals import vital_get
from clinic.core import timefmt
from clinic.core.errors import Conflict, field_error
from clinic.directory.models import Location

MAX_SUBSTANCE = 200
MAX_REACTION = 500
MAX_NOTE = 2000
MAX_ALERT = 500
# a measure may be typed a little ahead of the server's clock, never in the future
CLOCK_SKEW = dt.timedelta(minutes=5)
# an unset optional field in an update (None means "clear it")
UNSET: Any = object()


def _date(value: Any, field: str) -> dt.date | None:
    if value in (None, ""):
        return None
    if isinstance(value, dt.datetime):
        raise field_error(field, _("Give a date (YYYY-MM-DD)."))
    if isinstance(value, dt.date):
        found = value
    else:
        try:
            found = dt.date.fromisoformat(str(value))
        except ValueError:
            raise field_error(field, _("Give a date (YYYY-MM-DD).")) from None
    if found > timefmt.localize(timezone.now()).date():
        raise field_error(field, _("Cannot be in the future."))
    return found


def _not_in_error(status: str, what: str) -> None:
    if status == "entered_in_error":
        raise Conflict(
            _("This %(what)s was entered in error: record a new one instead.") % {"what": what},
            code="entered_in_error",
        )


def record_read(*, actor: Membership, patient_id: Any, what: str) -> None:
    """A read of a list of the record (allergies, conditions, observations, the summary) is an
    access event of the patient's record, as a note's read is."""
    audit_record(
        action="clinical_record.read",
        organization_id=actor.organization_id,
        actor_id=actor.user_id,
        object_type="directory_patient",
        object_id=str(patient_id),
        details={"what": what},
    )


# --- allergies ---------------------------------------------------------------------------------


def _allergies_reviewed(*, actor: Membership, patient_id: Any, none_known: bool) -> None:
    review = AllergyReview.objects.select_for_update().filter(patient_id=patient_id).first()
    if review is None:
        review = AllergyReview(patient_id=patient_id)
    review.no_known_allergies = none_known
    review.reviewed_by = actor
    review.reviewed_at = timezone.now()
    review.save()


@transaction.atomic
def allergy_create(
    *,
    actor: Membership,
    patient_id: Any,
    substance: Any,
    severity: Any,
    reaction: Any = "",
    status: Any = AllergyStatus.ACTIVE,
    onset: Any = None,
    note: Any = "",
) -> Allergy:
    patient = selectors.record_patient(actor, patient_id)
    status = choice_clean(status, "status", AllergyStatus)
    if status == AllergyStatus.ENTERED_IN_ERROR:
        raise field_error("status", _("A new allergy cannot be entered in error."))
    allergy = Allergy.objects.create(
        patient=patient,
        substance=text_clean(substance, "substance", MAX_SUBSTANCE, required=True),
        reaction=text_clean(reaction, "reaction", MAX_REACTION),
        severity=choice_clean(severity, "severity", AllergySeverity),
        status=status,
        onset=_date(onset, "onset"),
        note=text_clean(note, "note", MAX_NOTE),
        recorded_by=actor,
    )
    if status == AllergyStatus.ACTIVE:
        _allergies_reviewed(actor=actor, patient_id=patient.id, none_known=False)
    return allergy


@transaction.atomic
def allergy_update(
    *,
    actor: Membership,
    allergy_id: Any,
    substance: Any = UNSET,
    reaction: Any = UNSET,
    severity: Any = UNSET,
    status: Any = UNSET,
    onset: Any = UNSET,
    note: Any = UNSET,
) -> Allergy:
    """Change what is given; marking it entered in error is final (409 `entered_in_error`
    afterwards)."""
    allergy = selectors.allergy_for_actor(actor, allergy_id, for_update=True)
    _not_in_error(allergy.status, _("allergy"))
    if substance is not UNSET:
        allergy.substance = text_clean(substance, "substance", MAX_SUBSTANCE, required=True)
    if reaction is not UNSET:
        allergy.reaction = text_clean(reaction, "reaction", MAX_REACTION)
    if severity is not UNSET:
        allergy.severity = choice_clean(severity, "severity", AllergySeverity)
    if status is not UNSET:
        allergy.status = choice_clean(status, "status", AllergyStatus)
    if onset is not UNSET:
        allergy.onset = _date(onset, "onset")
    if note is not UNSET:
        allergy.note = text_clean(note, "note", MAX_NOTE)
    allergy.save()
    if allergy.status == AllergyStatus.ACTIVE:
        _allergies_reviewed(actor=actor, patient_id=allergy.patient_id, none_known=False)
    return allergy


@transaction.atomic
def allergies_none_known(*, actor: Membership, patient_id: Any) -> AllergyReview:
    """Record that the patient has no known allergy (409 `allergies_recorded` while an active
    one is on the record: mark it inactive or entered in error first)."""
    patient = selectors.record_patient(actor, patient_id)
    if Allergy.objects.filter(patient_id=patient.id, status=AllergyStatus.ACTIVE).exists():
        raise Conflict(_("This patient has active allergies on record."), code="allergies_recorded")
    _allergies_reviewed(actor=actor, patient_id=patient.id, none_known=True)
    return AllergyReview.objects.get(patient_id=patient.id)


# --- alerts ------------------------------------------------------------------------------------


@transaction.atomic
def alert_create(
    *, actor: Membership, patient_id: Any, text: Any, level: Any = AlertLevel.WARNING
) -> Alert:
    patient = selectors.record_patient(actor, patient_id)
    return Alert.objects.create(
        patient=patient,
        text=text_clean(text, "text", MAX_ALERT, required=True),
        level=choice_clean(level, "level", AlertLevel),
        created_by=actor,
    )


@transaction.atomic
def alert_update(
    *, actor: Membership, alert_id: Any, text: Any = UNSET, level: Any = UNSET, active: Any = UNSET
) -> Alert:
    alert = selectors.alert_for_actor(actor, alert_id, for_update=True)
    if text is not UNSET:
        alert.text = text_clean(text, "text", MAX_ALERT, required=True)
    if level is not UNSET:
        alert.level = choice_clean(level, "level", AlertLevel)
    if active is not UNSET:
        if not isinstance(active, bool):
            raise field_error("active", _("Must be true or false."))
        alert.active = active
    alert.save()
    return alert


# --- conditions --------------------------------------------------------------------------------


def _icd10(code: Any) -> tuple[str, str]:
    found = icd10_lookup(str(code or ""))
    if found is None:
        raise field_error("code", _("“%(code)s” is not an ICD-10 code.") % {"code": str(code)[:20]})
    return found


def _condition_dates_check(condition: Condition) -> None:
    if condition.clinical_status == ConditionStatus.ACTIVE and condition.abatement is not None:
        raise field_error("abatement", _("An active condition has no resolution date."))
    if condition.onset and condition.abatement and condition.abatement < condition.onset:
        raise field_error("abatement", _("Cannot be before the onset."))


@transaction.atomic
def condition_create(
    *,
    actor: Membership,
    patient_id: Any,
    code: Any,
    clinical_status: Any = ConditionStatus.ACTIVE,
    onset: Any = None,
    abatement: Any = None,
    note: Any = "",
) -> Condition:
    patient = selectors.record_patient(actor, patient_id)
    code, label = _icd10(code)
    clinical_status = choice_clean(clinical_status, "clinical_status", ConditionStatus)
    if clinical_status == ConditionStatus.ENTERED_IN_ERROR:
        raise field_error("clinical_status", _("A new condition cannot be entered in error."))
    condition = Condition(
        patient=patient,
        code=code,
        label=label,
        clinical_status=clinical_status,
        onset=_date(onset, "onset"),
        abatement=_date(abatement, "abatement"),
        note=text_clean(note, "note", MAX_NOTE),
        recorded_by=actor,
    )
    _condition_dates_check(condition)
    condition.save()
    return condition


@transaction.atomic
def condition_update(
    *,
    actor: Membership,
    condition_id: Any,
    code: Any = UNSET,
    clinical_status: Any = UNSET,
    onset: Any = UNSET,
    abatement: Any = UNSET,
    note: Any = UNSET,
) -> Condition:
    """Resolving a condition without a date resolves it today (the organization's day)."""
    condition = selectors.condition_for_actor(actor, condition_id, for_update=True)
    _not_in_error(condition.clinical_status, _("condition"))
    if code is not UNSET:
        condition.code, condition.label = _icd10(code)
    if clinical_status is not UNSET:
        condition.clinical_status = choice_clean(
            clinical_status, "clinical_status", ConditionStatus
        )
    if onset is not UNSET:
        condition.onset = _date(onset, "onset")
    if abatement is not UNSET:
        condition.abatement = _date(abatement, "abatement")
    if note is not UNSET:
        condition.note = text_clean(note, "note", MAX_NOTE)
    if condition.clinical_status == ConditionStatus.RESOLVED and condition.abatement is None:
        condition.abatement = timefmt.localize(timezone.now()).date()
    if condition.clinical_status == ConditionStatus.ACTIVE and abatement is UNSET:
        condition.abatement = None  # reopened
    _condition_dates_check(condition)
    condition.save()
    return condition


# --- observations ------------------------------------------------------------------------------


def _value(raw: Any, code: str) -> Decimal:
    vital = vital_get(code)
    assert vital is not None
    try:
        value = Decimal(str(raw).strip().replace(",", "."))
    except (InvalidOperation, ValueError):
        raise field_error("value", _("Give a number.")) from None
    if not value.is_finite():
        raise field_error("value", _("Give a number."))
    if -value.as_tuple().exponent > vital.decimals and value != value.quantize(
        Decimal(1).scaleb(-vital.decimals)
    ):
        raise field_error(
            "value",
            _("%(measure)s takes at most %(decimals)d decimals.")
            % {"measure": vital.label, "decimals": vital.decimals},
        )
    if not vital.minimum <= value <= vital.maximum:
        raise field_error(
            "value",
            _("%(measure)s must be between %(minimum)s and %(maximum)s %(unit)s.")
            % {
                "measure": vital.label,
                "minimum": vital.minimum,
                "maximum": vital.maximum,
                "unit": "" if vital.unit.startswith("{") else vital.unit,
            },
        )
    return value


@transaction.atomic
def observation_create(
    *,
    actor: Membership,
    patient_id: Any,
    code: Any,
    value: Any,
    recorded_at: dt.datetime | None = None,
    encounter_id: Any = None,
    location_id: Any = None,
) -> Observation:
    """A vital sign measured at `recorded_at` (an aware instant; now if not given), checked
    against its plausible range (422 naming the measure)."""
    patient = selectors.record_patient(actor, patient_id)
    vital = vital_get(str(code or ""))
    if vital is None:
        raise field_error(
            "code",
            _("Must be one of: %(values)s.")
            % {"values": ", ".join(v for v in selectors.VITAL_CODES)},
        )
    measured = _value(value, vital.code)
    if recorded_at is None:
        recorded_at = timezone.now()
    elif recorded_at.tzinfo is None:
        raise field_error("recorded_at", _("Give the time with its UTC offset."))
    elif recorded_at > timezone.now() + CLOCK_SKEW:
        raise field_error("recorded_at", _("Cannot be in the future."))
    encounter = None
    if encounter_id is not None:
        encounter = Encounter.objects.filter(
            id=selectors._uuid(encounter_id), patient_id=patient.id
        ).first()
        if encounter is None:
            raise field_error("encounter_id", _("No such encounter for this patient."))
    location = None
    if location_id is not None:
        location = Location.objects.filter(id=selectors._uuid(location_id)).first()
        if location is None:
            raise field_error("location_id", _("No such location."))
    elif encounter is not None:
        location = encounter.location
    return Observation.objects.create(
        patient=patient,
        encounter=encounter,
        location=location,
        code=vital.code,
        value=measured,
        unit=vital.unit,
        recorded_at=recorded_at,
        recorded_by=actor,
    )


@transaction.atomic
def observation_entered_in_error(*, actor: Membership, observation_id: Any) -> Observation:
    observation = selectors.observation_for_actor(actor, observation_id, for_update=True)
    _not_in_error(observation.status, _("observation"))
    observation.status = ObservationStatus.ENTERED_IN_ERROR
    observation.save(update_fields=["status"])
    return observation
