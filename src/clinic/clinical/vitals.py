"""The vital signs the record takes, with their LOINC codes, units and plausible ranges.

A plausible range refuses typing errors (a weight of 7000 kg, a temperature of 3.7 °C): it is
wide enough for children and animals, and it is not a reference range of what is normal."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from django.utils.translation import gettext_lazy as _


@dataclass(frozen=True)
class Vital:
    code: str
    loinc: str
    label: object  # lazy translation
    unit: str
    minimum: Decimal
    maximum: Decimal
    decimals: int


VITALS: dict[str, Vital] = {
    v.code: v
    for v in (
        Vital("weight", "29463-7", _("Weight"), "kg", Decimal("0.01"), Decimal("1500"), 2),
        Vital("height", "8302-2", _("Height"), "cm", Decimal("10"), Decimal("260"), 1),
        Vital(
            "bp_systolic",
            "8480-6",
            _("Systolic blood pressure"),
            "mmHg",
            Decimal(40),
            Decimal(300),
            0,
        ),
        Vital(
            "bp_diastolic",
            "8462-4",
            _("Diastolic blood pressure"),
            "mmHg",
            Decimal(20),
            Decimal(200),
            0,
        ),
        Vital("heart_rate", "8867-4", _("Heart rate"), "/min", Decimal(20), Decimal(350), 0),
        Vital("temperature", "8310-5", _("Body temperature"), "°C", Decimal(25), Decimal(46), 1),
        Vital("pain", "72514-3", _("Pain score (0–10)"), "{score}", Decimal(0), Decimal(10), 0),
    )
}


def vital_get(code: str) -> Vital | None:
    return VITALS.get(code)


# Reference ranges of adults at rest (human patients of 18 and over). Children and animals have
# their own ranges by age and species: until the catalogue has them, their values carry no flag
# rather than a wrong one.
ADULT_AGE = 18
ADULT_RANGES: dict[str, tuple[Decimal, Decimal]] = {
    "bp_systolic": (Decimal(90), Decimal(139)),
    "bp_diastolic": (Decimal(60), Decimal(89)),
    "heart_rate": (Decimal(60), Decimal(100)),
    "temperature": (Decimal("36.1"), Decimal("37.8")),
}


def _age_years(date_of_birth: date, on: date) -> int:
    return (
        on.year
        - date_of_birth.year
        - ((on.month, on.day) < (date_of_birth.month, date_of_birth.day))
    )


def reference_range(
    code: str, *, species: str, date_of_birth: date | None, on: date
) -> tuple[Decimal, Decimal] | None:
    """The range a value of `code` is compared with for this patient, or None when the catalogue
    has none for them (animals, children, measures without one)."""
    if species or date_of_birth is None or _age_years(date_of_birth, on) < ADULT_AGE:
        return None
    return ADULT_RANGES.get(code)


def interpretation(
    code: str, value: Decimal, *, species: str, date_of_birth: date | None, on: date
) -> str | None:
    """ "low", "high" or None (within the range, or no range for this patient)."""
    found = reference_range(code, species=species, date_of_birth=date_of_birth, on=on)
    if found is None:
        return None
    low, high = found
    return "low" if value < low else "high" if value > high else None
