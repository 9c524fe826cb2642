"""What the clinical record tells other modules, inside the transaction of the change (see
core.events). Followed today by notifications (the admins are told of a break-glass access)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from clinic.core.events import Event

if TYPE_CHECKING:
    from clinic.accounts.models import Membership
    from clinic.clinical.models import BreakGlassAccess


@dataclass(frozen=True, slots=True)
class BreakGlassOpened(Event):
    """A practitioner opened a time-limited access to a record outside their caseload."""

    access: BreakGlassAccess
    actor: Membership
