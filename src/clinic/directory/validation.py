"""Field cleaning for the directory: one place that turns input (API, forms, CSV rows) into the
values stored, or into field-named error messages.

Each `clean_*` returns the normalised value or raises `FieldInvalid`; `FieldErrors` collects them
so that a caller reports every bad field at once.
"""

from __future__ import annotations

import functools
import re
import unicodedata
import zoneinfo
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import phonenumbers
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.utils.translation import gettext as _

from clinic.core.errors import ValidationFailed


class FieldInvalid(Exception):
    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class FieldErrors:
    """Collects `{field: [messages]}`; `raise_if_any` turns them into one ValidationFailed."""

    def __init__(self) -> None:
        self.errors: dict[str, list[str]] = {}

    def add(self, field: str, message: str) -> None:
        self.errors.setdefault(field, []).append(message)

    def __bool__(self) -> bool:
        return bool(self.errors)

    def clean(self, field: str, cleaner, value, *args, **kwargs):
        """Run `cleaner(value, ...)`; on failure record the message and return None."""
        try:
            return cleaner(value, *args, **kwargs)
        except FieldInvalid as exc:
            self.add(field, exc.message)
            return None

    def raise_if_any(self, message: str | None = None) -> None:
        if self.errors:
            first = next(iter(self.errors))
            raise ValidationFailed(
                message or _("Invalid value for %(field)s.") % {"field": first},
                details=self.errors,
            )


_SPACES = re.compile(r"\s+")


def clean_text(
    value: Any, *, max_length: int, required: bool = False, multiline: bool = False
) -> str:
    """Unicode NFC, trimmed; single-line text has its runs of whitespace collapsed."""
    if value is None:
        value = ""
    if not isinstance(value, str):
        value = str(value)
    value = unicodedata.normalize("NFC", value).strip()
    if not multiline:
        value = _SPACES.sub(" ", value)
    if "\x00" in value:
        raise FieldInvalid(_("Contains a NUL character."))
    if required and not value:
        raise FieldInvalid(_("This field is required."))
    if len(value) > max_length:
        raise FieldInvalid(
            _("At most %(max)d characters (it has %(n)d).") % {"max": max_length, "n": len(value)}
        )
    return value


def clean_choice(value: Any, choices, *, blank: bool = False) -> str:
    value = "" if value is None else str(value).strip().lower()
    allowed = [c[0] if isinstance(c, tuple | list) else c for c in choices]
    if blank and value == "":
        return ""
    if value not in allowed:
        raise FieldInvalid(_("Must be one of: %(values)s.") % {"values": ", ".join(allowed)})
    return value


@functools.cache
def _region_by_time_zone() -> dict[str, str]:
    """IANA zone → ISO country, from the system's zone.tab (empty if it is missing)."""
    mapping: dict[str, str] = {}
    for base in ("/usr/share/zoneinfo", "/usr/lib/zoneinfo", "/usr/share/lib/zoneinfo"):
        path = Path(base) / "zone.tab"
        if path.exists():
            for line in path.read_text().splitlines():
                if line and not line.startswith("#"):
                    parts = line.split("\t")
                    if len(parts) >= 3:
                        mapping.setdefault(parts[2], parts[0])
            break
    return mapping


def region_for_time_zone(time_zone: str | None) -> str | None:
    """The country whose numbers may be written without +code in this clinic ("06…" in Paris)."""
    return _region_by_time_zone().get(time_zone or "")


def clean_phone(value: Any, *, region: str | None) -> str:
    """E.164 ("+33612345678"). National numbers are read in the clinic's country."""
    raw = clean_text(value, max_length=40)
    if not raw:
        return ""
    if raw.startswith("00"):
        raw = "+" + raw[2:]
    try:
        number = phonenumbers.parse(raw, None if raw.startswith("+") else region)
    except phonenumbers.NumberParseException as exc:
        if not raw.startswith("+") and region is None:
            raise FieldInvalid(
                _(
                    "Not a phone number we can read; include the country code "
                    "(e.g. +33 6 12 34 56 78)."
                )
            ) from exc
        raise FieldInvalid(_("Not a phone number we can read.")) from exc
    if not phonenumbers.is_valid_number(number):
        raise FieldInvalid(_("Not a valid phone number."))
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def phone_display(e164: str) -> str:
    if not e164:
        return ""
    try:
        number = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        return e164
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)


def clean_email(value: Any) -> str:
    raw = clean_text(value, max_length=254)
    if not raw:
        return ""
    raw = raw.lower()
    try:
        validate_email(raw)
    except ValidationError as exc:
        raise FieldInvalid(_("Not a valid email address.")) from exc
    return raw


def clean_date(value: Any, *, formats: tuple[str, ...] = ("%Y-%m-%d",)) -> date | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        raise FieldInvalid(_("A date without a time is expected (YYYY-MM-DD)."))
    if isinstance(value, date):
        return value
    text = str(value).strip()
    if not text:
        return None
    for fmt in formats:
        try:
            return datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    shown = ", ".join(
        fmt.replace("%Y", "YYYY").replace("%m", "MM").replace("%d", "DD") for fmt in formats
    )
    raise FieldInvalid(_("Not a date in the expected format (%(formats)s).") % {"formats": shown})


def clean_date_of_birth(
    value: Any, *, today: date, formats: tuple[str, ...] = ("%Y-%m-%d",)
) -> date | None:
    dob = clean_date(value, formats=formats)
    if dob is None:
        return None
    if dob > today:
        raise FieldInvalid(_("The date of birth cannot be in the future."))
    if dob < date(1850, 1, 1):
        raise FieldInvalid(_("The date of birth is implausibly early."))
    return dob


def clean_decimal(
    value: Any,
    *,
    places: int,
    minimum: Decimal | None = None,
    maximum: Decimal | None = None,
    exclusive_minimum: bool = False,
    required: bool = False,
) -> Decimal | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise FieldInvalid(_("This field is required."))
        return None
    if isinstance(value, float):
        value = repr(value)
    try:
        number = Decimal(str(value).strip().replace(",", ".") if isinstance(value, str) else value)
    except (InvalidOperation, ValueError, TypeError) as exc:
        raise FieldInvalid(_("Not a number.")) from exc
    if not number.is_finite():
        raise FieldInvalid(_("Not a number."))
    exponent = number.as_tuple().exponent
    if (
        isinstance(exponent, int)
        and -exponent > places
        and number != number.quantize(Decimal(1).scaleb(-places))
    ):
        raise FieldInvalid(_("At most %(places)d decimal places.") % {"places": places})
    number = number.quantize(Decimal(1).scaleb(-places))
    if minimum is not None:
        if exclusive_minimum and number <= minimum:
            raise FieldInvalid(_("Must be greater than %(min)s.") % {"min": minimum})
        if not exclusive_minimum and number < minimum:
            raise FieldInvalid(_("Must be at least %(min)s.") % {"min": minimum})
    if maximum is not None and number > maximum:
        raise FieldInvalid(_("Must be at most %(max)s.") % {"max": maximum})
    return number


def clean_int(value: Any, *, minimum: int, maximum: int, required: bool = False) -> int | None:
    if value is None or value == "":
        if required:
            raise FieldInvalid(_("This field is required."))
        return None
    if isinstance(value, bool):
        raise FieldInvalid(_("A whole number is expected."))
    try:
        number = int(str(value).strip()) if not isinstance(value, int) else value
    except ValueError as exc:
        raise FieldInvalid(_("A whole number is expected.")) from exc
    if not minimum <= number <= maximum:
        raise FieldInvalid(
            _("Must be between %(min)d and %(max)d.") % {"min": minimum, "max": maximum}
        )
    return number


def clean_bool(value: Any, *, allow_none: bool = False) -> bool | None:
    if value is None or value == "":
        if allow_none:
            return None
        raise FieldInvalid(_("Yes or no is expected."))
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in {"1", "true", "yes", "y", "oui", "on"}:
        return True
    if text in {"0", "false", "no", "n", "non", "off"}:
        return False
    raise FieldInvalid(_("Yes or no is expected."))


def clean_time_zone(value: Any) -> str:
    text = clean_text(value, max_length=64, required=True)
    if text not in zoneinfo.available_timezones():
        raise FieldInvalid(_("%(tz)s is not an IANA time zone (e.g. Europe/Paris).") % {"tz": text})
    return text


_COLOUR = re.compile(r"^#?([0-9a-fA-F]{6}|[0-9a-fA-F]{3})$")


def clean_colour(value: Any) -> str:
    text = clean_text(value, max_length=7, required=True)
    match = _COLOUR.match(text)
    if not match:
        raise FieldInvalid(_("A colour like #1f77b4 is expected."))
    digits = match.group(1).lower()
    if len(digits) == 3:
        digits = "".join(c * 2 for c in digits)
    return "#" + digits


@functools.cache
def _countries() -> frozenset[str]:
    from babel import Locale

    return frozenset(code for code in Locale("en").territories if len(code) == 2)


def clean_country(value: Any) -> str:
    text = clean_text(value, max_length=2).upper()
    if text and text not in _countries():
        raise FieldInvalid(_("An ISO 3166 two-letter country code is expected (e.g. FR)."))
    return text


_MICROCHIP = re.compile(r"^[0-9A-Z]{9,15}$")


def clean_microchip(value: Any) -> str:
    text = re.sub(r"[\s\-.]", "", clean_text(value, max_length=40)).upper()
    if text and not _MICROCHIP.match(text):
        raise FieldInvalid(_("A microchip number has 9 to 15 letters or digits (ISO: 15 digits)."))
    return text


_MRN = re.compile(r"^[A-Z0-9][A-Z0-9\-./]{0,31}$")


def clean_mrn(value: Any) -> str:
    text = clean_text(value, max_length=32).upper().replace(" ", "")
    if text and not _MRN.match(text):
        raise FieldInvalid(_("Letters, digits, '-', '.' and '/' only, at most 32."))
    return text


def clean_species(value: Any) -> str:
    return clean_text(value, max_length=50).lower()


def clean_str_list(value: Any, *, max_items: int, max_length: int) -> list[str]:
    if value in (None, ""):
        return []
    if isinstance(value, str):
        value = [v for v in re.split(r"[,;\n]", value)]
    if not isinstance(value, list | tuple):
        raise FieldInvalid(_("A list is expected."))
    out: list[str] = []
    for item in value:
        text = clean_text(item, max_length=max_length)
        if text and text not in out:
            out.append(text)
    if len(out) > max_items:
        raise FieldInvalid(_("At most %(n)d items.") % {"n": max_items})
    return out


def clean_credentials(value: Any) -> list[dict[str, str]]:
    """[{"kind": "licence", "number": "75-12345", "issuer": "Ordre des vétérinaires"}]"""
    if value in (None, ""):
        return []
    if not isinstance(value, list | tuple):
        raise FieldInvalid(_("A list of credentials is expected."))
    if len(value) > 20:
        raise FieldInvalid(_("At most %(n)d items.") % {"n": 20})
    out = []
    for item in value:
        if hasattr(item, "model_dump"):
            item = item.model_dump()
        if not isinstance(item, dict):
            raise FieldInvalid(_("Each credential has a kind and a number."))
        kind = clean_text(item.get("kind"), max_length=50)
        number = clean_text(item.get("number"), max_length=64)
        issuer = clean_text(item.get("issuer"), max_length=200)
        if not kind or not number:
            raise FieldInvalid(_("Each credential has a kind and a number."))
        out.append({"kind": kind, "number": number, "issuer": issuer})
    return out


def fold_for_key(text: str) -> str:
    """A Python approximation of the SQL search fold, for lock keys and in-file duplicate checks
    (never for matching against stored data: that is done by SQL's own fold)."""
    decomposed = unicodedata.normalize("NFKD", text or "")
    stripped = "".join(c for c in decomposed if not unicodedata.combining(c))
    stripped = stripped.replace("œ", "oe").replace("Œ", "oe").replace("æ", "ae").replace("ß", "ss")
    return " ".join(re.split(r"[\W_]+", stripped.lower())).strip()
