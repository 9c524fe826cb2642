"""The field checks the clinical services share: each refusal is a 422 naming the field."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext as _

from clinic.core.errors import field_error


def choice_clean(value: Any, field: str, choices) -> str:
    """One of the values of a TextChoices class."""
    if value not in choices.values:
        raise field_error(
            field, _("Must be one of: %(values)s.") % {"values": ", ".join(choices.values)}
        )
    return value


def text_clean(value: Any, field: str, limit: int, *, required: bool = False) -> str:
    """Text stripped of surrounding spaces, at most `limit` characters; empty is "" (or a
    refusal when `required`)."""
    text = "" if value is None else str(value).strip()
    if required and not text:
        raise field_error(field, _("This field is required."))
    if len(text) > limit:
        raise field_error(field, _("At most %(limit)d characters.") % {"limit": limit})
    return text
