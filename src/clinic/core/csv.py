"""CSV for people's spreadsheets: every export writes its cells through here, so a value that
a spreadsheet would run as a formula (`=cmd|' /C calc'!A0`, `+…`, `-…`, `@…`, or one starting
with a tab or carriage return) is written as text, behind an apostrophe (OWASP "CSV injection").
Plain numbers (`-12.50`, `+33`) stay numbers."""

from __future__ import annotations

import csv
import re
from typing import Any

FORMULA_LEADS = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"[+-]?\d[\d.]*")


def cell(value: Any) -> str:
    """One CSV cell: None → "", booleans → true/false, formula-leading text quoted."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    text = str(value)
    if text.startswith(FORMULA_LEADS) and not _NUMBER.fullmatch(text):
        return "'" + text
    return text


class SafeWriter:
    """`csv.writer` whose rows go through `cell`: `SafeWriter(out).writerow([...])`.

    Lines end with CRLF (RFC 4180): the csv module quotes a field only for the characters of
    its line terminator, so with a bare "\n" a CR typed into a reason would split the row."""

    def __init__(self, out):
        self._writer = csv.writer(out, lineterminator="\r\n")

    def writerow(self, row) -> None:
        self._writer.writerow([cell(v) for v in row])

    def writerows(self, rows) -> None:
        for row in rows:
            self.writerow(row)
