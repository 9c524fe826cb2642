"""Pagination for every list endpoint: `?page=&page_size=` (max settings.API_MAX_PAGE_SIZE)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from ninja import Field, Schema
from ninja.pagination import PaginationBase

MAX_PAGE = 1_000_000


class PagePagination(PaginationBase):
    class Input(Schema):
        # bounded: an offset past bigint is a database error, not an empty page (issue 18)
        page: int = Field(1, ge=1, le=MAX_PAGE)
        page_size: int = Field(50, ge=1, le=settings.API_MAX_PAGE_SIZE)

    class Output(Schema):
        items: list[Any]
        count: int
        page: int
        page_size: int
        pages: int

    def paginate_queryset(self, queryset, pagination: Input, **params):
        count = queryset.count()
        offset = (pagination.page - 1) * pagination.page_size
        items = list(queryset[offset : offset + pagination.page_size])
        return {
            "items": items,
            "count": count,
            "page": pagination.page,
            "page_size": pagination.page_size,
            "pages": max(1, -(-count // pagination.page_size)),
        }


class Mapped:
    """A queryset whose page is passed through `present` (rows → response dicts) after
    slicing, so presenters never run over the whole result: `return Mapped(qs, plan_out)`."""

    def __init__(self, queryset, present):
        self.queryset = queryset
        self.present = present

    def count(self) -> int:
        return self.queryset.count()

    def __getitem__(self, page: slice):
        return [self.present(row) for row in self.queryset[page]]
