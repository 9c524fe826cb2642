"""Amounts shown to a person: the currency in the active language with the organization's
regional conventions (the same locale as `clinic.core.timefmt`).

    {% load clinic_money %}
    <bdi>{{ invoice.balance|money:invoice.currency }}</bdi>     €12.50 · 12,50 € · ‏١٢٫٥٠ €
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from babel.numbers import format_currency, format_decimal
from django import template

from clinic.core import timefmt

register = template.Library()


@register.filter
def money(value, currency: str = "") -> str:
    if value in (None, ""):
        return ""
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        return str(value)
    if not currency:
        return format_decimal(amount, format="#,##0.00", locale=timefmt.locale_for())
    return format_currency(amount, currency, locale=timefmt.locale_for())
