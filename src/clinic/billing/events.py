"""What billing tells other modules, inside the transaction of the change (see core.events)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from clinic.core.events import Event

if TYPE_CHECKING:
    from clinic.billing.models import Invoice


@dataclass(frozen=True, slots=True)
class InvoiceIssued(Event):
    """An invoice received its number; `pdf_url` is the absolute link to its PDF."""

    invoice: Invoice
    pdf_url: str
