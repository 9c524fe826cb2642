"""The API's page pagination, with ranked searches counted in the same query as their page."""

from __future__ import annotations

from clinic.api.pagination import PagePagination
from clinic.directory.selectors import page_with_total


class DirectoryPagination(PagePagination):
    def paginate_queryset(self, queryset, pagination, **params):
        offset = (pagination.page - 1) * pagination.page_size
        items, count = page_with_total(queryset, offset=offset, limit=pagination.page_size)
        return {
            "items": items,
            "count": count,
            "page": pagination.page,
            "page_size": pagination.page_size,
            "pages": max(1, -(-count // pagination.page_size)),
        }
