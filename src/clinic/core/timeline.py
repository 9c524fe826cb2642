"""A patient's timeline: one list of everything that happened (appointments, plans, invoices,
payments, messages), newest first, read page by page.

Each domain module contributes with a selector that returns `TimelineItem`s for one patient,
newest first, bounded by a `Cursor` and a limit, in one query (see `before_q`). This module
merges those sorted lists (`timeline_page`) and turns the last item shown into an opaque
cursor for the next page. It sits in core so every module can return its rows in this shape
without importing another.

Order: (at, kind, object_id) descending — a total order, so items with the same instant are
never shown twice nor skipped between pages.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import heapq
import itertools
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from django.db.models import Q

KINDS = ("appointment", "plan", "invoice", "payment", "message")
DEFAULT_LIMIT = 20
MAX_LIMIT = 100


@dataclass(frozen=True)
class TimelineItem:
    kind: str
    at: dt.datetime  # aware
    title: str
    status: str  # the record's status code ("completed", "paid", "sent"…)
    object_id: uuid.UUID
    url: str
    status_label: str = ""  # the status in words, for pages
    place: str | None = None  # the IANA zone the time is read in (None: the organization's)

    @property
    def key(self) -> tuple[dt.datetime, str, uuid.UUID]:
        return (self.at, self.kind, self.object_id)


@dataclass(frozen=True)
class Cursor:
    """The last item of a page: the next page starts strictly after it."""

    at: dt.datetime
    kind: str
    object_id: uuid.UUID


def cursor_encode(item: TimelineItem) -> str:
    raw = f"{item.at.astimezone(dt.UTC).isoformat()}|{item.kind}|{item.object_id}"
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def cursor_decode(text: str) -> Cursor:
    """The cursor given by `cursor_encode`; ValueError for anything else."""
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode()
        at_text, kind, object_id = raw.split("|")
        at = dt.datetime.fromisoformat(at_text)
        found = Cursor(at=at, kind=kind, object_id=uuid.UUID(object_id))
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise ValueError("not a timeline cursor") from None
    if at.tzinfo is None or kind not in KINDS:
        raise ValueError("not a timeline cursor")
    return found


def before_q(cursor: Cursor | None, *, kind: str, at_field: str, id_field: str = "id") -> Q:
    """The rows of one kind that come after `cursor` in timeline order (older, or as old and
    lower in (kind, id)): a condition each source adds to its one query."""
    if cursor is None:
        return Q()
    if kind < cursor.kind:
        return Q(**{f"{at_field}__lte": cursor.at})
    if kind > cursor.kind:
        return Q(**{f"{at_field}__lt": cursor.at})
    return Q(**{f"{at_field}__lt": cursor.at}) | Q(
        **{at_field: cursor.at, f"{id_field}__lt": cursor.object_id}
    )


def order_by(at_field: str, id_field: str = "id") -> tuple[str, str]:
    """The SQL order of one source: newest first, then by id (descending) as `TimelineItem.key`."""
    return (f"-{at_field}", f"-{id_field}")


@dataclass(frozen=True)
class TimelinePage:
    items: list[TimelineItem]
    next: str | None  # the cursor of the next page, None at the end


def timeline_page(sources: Iterable[Sequence[TimelineItem]], *, limit: int) -> TimelinePage:
    """Merge the sources (each newest first and holding up to `limit + 1` items after the
    cursor) into one page of `limit` items and the cursor after it."""
    merged = heapq.merge(*sources, key=lambda item: item.key, reverse=True)
    items = list(itertools.islice(merged, limit + 1))
    if len(items) > limit:
        items = items[:limit]
        return TimelinePage(items=items, next=cursor_encode(items[-1]))
    return TimelinePage(items=items, next=None)


def kinds_parse(value: str | None) -> tuple[str, ...]:
    """`kind=` of a request: empty for every kind, else one or more kinds separated by commas.
    ValueError naming an unknown kind."""
    if not value:
        return KINDS
    wanted = tuple(dict.fromkeys(part.strip() for part in value.split(",") if part.strip()))
    unknown = [k for k in wanted if k not in KINDS]
    if unknown or not wanted:
        raise ValueError(", ".join(unknown) or value)
    return wanted


def limit_parse(value) -> int:
    """`limit=`: 1 to MAX_LIMIT, DEFAULT_LIMIT when not given. ValueError otherwise."""
    if value in (None, ""):
        return DEFAULT_LIMIT
    number = int(value)
    if not 1 <= number <= MAX_LIMIT:
        raise ValueError(str(value))
    return number
