"""Personal data, declared by the module that holds it: what it is, how to export it, how to
erase it, and how long it is kept. The privacy module (clinic/privacy) reads this registry to
answer a patient's access request and to carry out an erasure; its periodic job applies the
retention rules. A new module plugs in by declaring its own in a `privacy.py` imported from its
app's `ready()` — nothing else changes.

    personal_data(
        "scheduling.appointments",
        holds=_("Appointments: times, services, notes"),
        export=appointments_export,          # (patient) -> JSON-able list or dict
        erase=appointments_erase,            # (patient) -> Erased(count, {table: [ids]})
        outcome=Outcome.ANONYMISED,
        audit={"scheduling_appointment": ("notes", "cancel_reason")},
    )
    retention_rule("notifications.delivered", keep=timedelta(days=180), purge=..., holds=...)

`audit` names, per table, the columns whose values are replaced in that table's audit images of
the erased rows (the audit log stays append-only for the application; a SECURITY DEFINER
function does the replacement, see core/security.py).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.db import models
from django.utils.functional import Promise


class Outcome(models.TextChoices):
    ANONYMISED = "anonymised"
    DELETED = "deleted"
    KEPT = "kept"  # the law (or the clinic's duty of care) requires keeping it


@dataclass
class Erased:
    """What one erase function changed: how many rows, and per audited table the ids of the
    rows whose audit images are to be pseudonymised (the columns are declared in `audit`)."""

    count: int = 0
    rows: dict[str, list] = field(default_factory=dict)


@dataclass(frozen=True)
class PersonalData:
    name: str
    holds: str | Promise
    outcome: str
    count: Callable[[Any], int]
    export: Callable[[Any], Any] | None = None
    erase: Callable[[Any], Erased] | None = None
    kept_because: str | Promise = ""
    # (patient) -> "" or why the erasure cannot be done yet, in words (e.g. upcoming visits)
    blocking: Callable[[Any], str] | None = None
    audit: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    order: int = 100  # the plan lists kinds in this order (identity first)


@dataclass(frozen=True)
class RetentionRule:
    name: str
    holds: str | Promise
    keep: timedelta
    purge: Callable[[datetime], int]  # (cutoff) -> rows removed or emptied


PERSONAL_DATA: dict[str, PersonalData] = {}
RETENTION_RULES: dict[str, RetentionRule] = {}


def personal_data(name: str, **kwargs) -> PersonalData:
    """Declare (or re-declare, idempotently: `ready()` may run twice in tests) a kind of
    personal data about a patient."""
    entry = PersonalData(name=name, **kwargs)
    if entry.outcome != Outcome.KEPT and entry.erase is None:
        raise ValueError(f"{name}: an erase function is needed unless the data is kept")
    if entry.outcome == Outcome.KEPT and not entry.kept_because:
        raise ValueError(f"{name}: say why it is kept")
    PERSONAL_DATA[name] = entry
    return entry


def retention_rule(name: str, **kwargs) -> RetentionRule:
    rule = RetentionRule(name=name, **kwargs)
    RETENTION_RULES[name] = rule
    return rule


def personal_data_all() -> list[PersonalData]:
    return sorted(PERSONAL_DATA.values(), key=lambda e: (e.order, e.name))
