"""Field types shared by the API's input schemas, so a bad value is a 422 naming the field
rather than an error deep in Python or PostgreSQL (issue 18, defect 4):

- `Instant`: an ISO 8601 date-time with a UTC offset (naive refused), the offset within what
  PostgreSQL accepts (±15:59), and a year that converts to any zone without overflowing.
- `WallTime`: a local wall-clock time (availability rules, quiet hours): no offset, since it is
  read in the location's IANA zone.
- `decimal_column(max_digits, decimal_places)`: a Decimal that fits its numeric column
  (1e308 as a price is refused, as are NaN and infinities).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated

from pydantic import AfterValidator, AwareDatetime

MAX_OFFSET = dt.timedelta(hours=15, minutes=59)
# The instants a clinic deals with; far from datetime.MINYEAR/MAXYEAR, so adding a duration or
# converting to a zone (±15:59) can never overflow.
MIN_YEAR, MAX_YEAR = 1900, 2999


def _instant(value: dt.datetime) -> dt.datetime:
    offset = value.utcoffset()
    if offset is None:  # pragma: no cover - AwareDatetime refuses it first
        raise ValueError("A UTC offset is required, e.g. 2026-03-02T09:00:00+01:00.")
    if abs(offset) > MAX_OFFSET:
        raise ValueError("The UTC offset must be within ±15:59.")
    try:
        utc = value.astimezone(dt.UTC)
    except OverflowError:
        utc = None
    if utc is None or not MIN_YEAR <= utc.year <= MAX_YEAR:
        raise ValueError(f"The date must be between the years {MIN_YEAR} and {MAX_YEAR}.")
    return value


def _wall_time(value: dt.time) -> dt.time:
    if value.tzinfo is not None:
        raise ValueError(
            "A local wall-clock time without a UTC offset is expected, e.g. 09:00 "
            "(it is read in the location's time zone)."
        )
    return value


Instant = Annotated[AwareDatetime, AfterValidator(_instant)]
WallTime = Annotated[dt.time, AfterValidator(_wall_time)]


def decimal_column(max_digits: int, decimal_places: int):
    """The Decimal type of a `numeric(max_digits, decimal_places)` column."""
    limit = Decimal(10) ** (max_digits - decimal_places) - Decimal(1).scaleb(-decimal_places)

    def check(value: Decimal) -> Decimal:
        if not value.is_finite() or abs(value) > limit:
            raise ValueError(f"Must be between -{limit} and {limit}.")
        return value

    return Annotated[Decimal, AfterValidator(check)]
