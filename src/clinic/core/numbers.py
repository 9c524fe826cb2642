"""Numbers typed into pages, read in the person's locale ("12,50" in French).

The API keeps its strict "12.50" strings (billing/calculations.py); pages accept what people
type: the locale's own writing (with its grouping), Arabic-Indic digits, and — in every
locale — a plain point decimal such as "12.50", the numeric keypad's separator. A comma is
never guessed as a decimal point where the locale groups thousands with it ("12,50" in English
is refused, not read as 1250).
"""

from __future__ import annotations

import re
from decimal import Decimal

from babel.numbers import NumberFormatError, format_decimal, parse_decimal

_ARABIC_DIGITS = str.maketrans("٠١٢٣٤٥٦٧٨٩۰۱۲۳۴۵۶۷۸۹٫٬", "01234567890123456789.,")
_POINT_DECIMAL = re.compile(r"^-?\d+(\.\d+)?$")


class NumberUnreadable(ValueError):
    pass


def typed_decimal(text: str, locale) -> Decimal:
    """The number a person typed, in `locale` (a Babel locale). NumberUnreadable otherwise."""
    value = (text or "").strip().translate(_ARABIC_DIGITS).replace(" ", "\u202f")
    if _POINT_DECIMAL.match(value):
        return Decimal(value)
    try:
        return parse_decimal(value, locale=locale, strict=True)
    except NumberFormatError as exc:
        # French writes groups with a narrow or an ordinary no-break space: try the other one
        alternative = value.replace("\u202f", "\u00a0")
        try:
            return parse_decimal(alternative, locale=locale, strict=True)
        except NumberFormatError:
            raise NumberUnreadable(text) from exc


def typed_amount_example(locale, amount: Decimal = Decimal("12.50")) -> str:
    """An amount as `locale` writes it ("12,50"): examples in messages, amounts in sentences."""
    return format_decimal(amount, format="#,##0.00", locale=locale)
