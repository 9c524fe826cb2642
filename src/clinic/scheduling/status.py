"""The appointment status machine, in one place.

    held → scheduled → confirmed → checked_in → in_progress → completed
    scheduled → checked_in                               (a patient who arrives unconfirmed)
    scheduled | confirmed → cancelled
    scheduled | confirmed | checked_in → no_show      (only once the appointment has started)

Everything else is refused (409 with the transitions allowed from the current status).
`held` is entered only by creating a hold; a hold leaves it by being confirmed (→ scheduled) or
released/expired (the row is deleted: it never was an appointment).
"""

from __future__ import annotations

from clinic.scheduling.models import AppointmentStatus as S

TRANSITIONS: dict[str, frozenset[str]] = {
    S.HELD: frozenset({S.SCHEDULED}),
    S.SCHEDULED: frozenset({S.CONFIRMED, S.CHECKED_IN, S.CANCELLED, S.NO_SHOW}),
    S.CONFIRMED: frozenset({S.CHECKED_IN, S.CANCELLED, S.NO_SHOW}),
    S.CHECKED_IN: frozenset({S.IN_PROGRESS, S.NO_SHOW}),
    S.IN_PROGRESS: frozenset({S.COMPLETED}),
    S.COMPLETED: frozenset(),
    S.CANCELLED: frozenset(),
    S.NO_SHOW: frozenset(),
}

# Transitions that only make sense once the appointment has started.
AFTER_START_ONLY = frozenset({S.NO_SHOW})
# Statuses in which the appointment's time, practitioner or room may still be changed.
MOVABLE = frozenset({S.HELD, S.SCHEDULED, S.CONFIRMED})


def allowed_from(status: str) -> list[str]:
    return sorted(TRANSITIONS.get(status, frozenset()))


def transition_allowed(current: str, target: str) -> bool:
    return target in TRANSITIONS.get(current, frozenset())
