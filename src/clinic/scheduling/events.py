"""What scheduling tells other modules, inside the transaction of the change (see core.events).

Followed today by care (a consultation follows its appointment's time and outcome) and
notifications (confirmations, reminders, cancellation notices, time-off decisions)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from clinic.core.events import Event

if TYPE_CHECKING:
    from clinic.accounts.models import Membership
    from clinic.scheduling.models import Appointment, TimeOff


@dataclass(frozen=True, slots=True)
class AppointmentsChanged(Event):
    """Base: some appointments changed (block-out times included; consumers filter by kind)."""

    appointments: Sequence[Appointment]
    actor: Membership | None = None


@dataclass(frozen=True, slots=True)
class AppointmentsBooked(AppointmentsChanged):
    """New appointments (one booking, a series' occurrences, a hold confirmed)."""


@dataclass(frozen=True, slots=True)
class AppointmentsMoved(AppointmentsChanged):
    """Appointments given another time, practitioner or room; `previous_starts` by id;
    `notify`: whether the patient is to be told (False when the move was agreed with them)."""

    previous_starts: Mapping[uuid.UUID, datetime] = field(default_factory=dict)
    notify: bool = True


@dataclass(frozen=True, slots=True)
class AppointmentsCancelled(AppointmentsChanged):
    """Appointments cancelled (who/when/why are on the rows); `notify`: whether the patient is
    to be told (False when the clinic already told them, e.g. resolving time off by phone)."""

    notify: bool = True


@dataclass(frozen=True, slots=True)
class AppointmentStatusChanged(AppointmentsChanged):
    """Another status change: confirmed, checked in, in progress, completed, no-show."""


@dataclass(frozen=True, slots=True)
class TimeOffDecided(Event):
    """A time-off request approved or denied (`time_off.status` says which; who decided and
    their note are on the row); the requesting practitioner is told."""

    time_off: TimeOff
    actor: Membership | None = None
