"""CSV import of patients (and their owners/guardians): how a clinic moves in from another system.

- Columns are mapped by header, leniently ("First name", "prénom", "DOB", "Owner phone", ...);
  unknown columns are reported and ignored.
- Every row is validated first, with the same rules as the API (services.patient_clean), plus
  duplicates within the file and against the clinic's records. Errors name the row (as a
  spreadsheet shows it: the header is row 1) and the column.
- Then, in one transaction: nothing is imported if any row is invalid, or only the valid rows with
  `skip_invalid` (the skipped rows are listed). Inserts are set-based (bulk), not row by row.
- Optional contact columns (`owner_*`, `guardian_*`, `parent_*`, `contact_*`) create or reuse a
  contact (same name and same phone or email) and link it; one owner with several animals in the
  file becomes one contact.
"""

from __future__ import annotations

import csv
import io
import re
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from django.db import connection, transaction
from django.utils.translation import gettext as _

from clinic.accounts.models import Membership
from clinic.core.csv import SafeWriter
from clinic.core.errors import ValidationFailed
from clinic.directory import services
from clinic.directory.models import (
    Contact,
    Patient,
    PatientContact,
    Relationship,
)
from clinic.directory.validation import FieldErrors, fold_for_key

CHUNK = 1000
MAX_ROWS = 500_000

DATE_FORMATS = {
    "iso": ("%Y-%m-%d",),
    "dmy": ("%Y-%m-%d", "%d/%m/%Y", "%d.%m.%Y", "%d-%m-%Y"),
    "mdy": ("%Y-%m-%d", "%m/%d/%Y"),
}

_PATIENT_ALIASES = {
    "given_name": [
        "given_name",
        "given",
        "first_name",
        "firstname",
        "first",
        "forename",
        "prenom",
        "name",
        "patient_name",
        "animal_name",
        "pet_name",
    ],
    "family_name": [
        "family_name",
        "family",
        "last_name",
        "lastname",
        "last",
        "surname",
        "nom",
        "nom_de_famille",
    ],
    "preferred_name": ["preferred_name", "nickname", "known_as"],
    "date_of_birth": [
        "date_of_birth",
        "dob",
        "birth_date",
        "birthdate",
        "born",
        "date_de_naissance",
        "naissance",
    ],
    "sex": ["sex", "gender", "sexe"],
    "gender_identity": ["gender_identity"],
    "phone": ["phone", "phone_number", "telephone", "tel", "mobile", "cell", "portable"],
    "email": ["email", "e_mail", "mail", "courriel"],
    "preferred_language": ["preferred_language", "language", "langue", "lang"],
    "mrn": [
        "mrn",
        "medical_record_number",
        "record_number",
        "patient_number",
        "chart_number",
        "file_number",
        "patient_id",
        "dossier",
    ],
    "notes": ["notes", "note", "comments", "comment", "remarks"],
    "species": ["species", "espece", "animal"],
    "breed": ["breed", "race"],
    "microchip": ["microchip", "microchip_number", "chip", "chip_number", "transponder", "puce"],
    "weight_kg": ["weight_kg", "weight", "poids"],
    "neutered": ["neutered", "spayed", "sterilised", "sterilized", "castrated", "sterilise"],
    "address_line1": ["address_line1", "address", "address1", "street", "adresse"],
    "address_line2": ["address_line2", "address2"],
    "city": ["city", "town", "ville"],
    "postal_code": ["postal_code", "zip", "zip_code", "postcode", "code_postal", "cp"],
    "region": ["region", "state", "province"],
    "country": ["country", "pays", "country_code"],
}
_CONTACT_ALIASES = {
    "given_name": ["given_name", "first_name", "firstname", "first", "prenom"],
    "family_name": ["family_name", "last_name", "lastname", "last", "surname", "nom", "name"],
    "phone": ["phone", "phone_number", "telephone", "tel", "mobile"],
    "email": ["email", "e_mail", "mail", "courriel"],
    "relationship": ["relationship", "relation", "role"],
}
_CONTACT_PREFIXES = {
    "contact": None,
    "owner": Relationship.OWNER,
    "guardian": Relationship.LEGAL_GUARDIAN,
    "parent": Relationship.PARENT,
    "proprietaire": Relationship.OWNER,
}

_SEX_VALUES = {
    "f": ("female", None),
    "female": ("female", None),
    "femme": ("female", None),
    "w": ("female", None),
    "woman": ("female", None),
    "feminin": ("female", None),
    "m": ("male", None),
    "male": ("male", None),
    "homme": ("male", None),
    "h": ("male", None),
    "man": ("male", None),
    "masculin": ("male", None),
    "fs": ("female", True),
    "female_spayed": ("female", True),
    "spayed_female": ("female", True),
    "mn": ("male", True),
    "mc": ("male", True),
    "male_neutered": ("male", True),
    "neutered_male": ("male", True),
    "castrated_male": ("male", True),
    "fi": ("female", False),
    "mi": ("male", False),
    "o": ("other", None),
    "other": ("other", None),
    "x": ("other", None),
    "autre": ("other", None),
    "u": ("unknown", None),
    "unknown": ("unknown", None),
    "inconnu": ("unknown", None),
}


def _header_key(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", fold_for_key(text)).strip("_")


@dataclass
class RowError:
    row: int
    field: str
    message: str


@dataclass
class ColumnMap:
    patient: dict[int, str] = field(default_factory=dict)
    contact: dict[int, str] = field(default_factory=dict)
    default_relationship: str | None = None
    ignored: list[str] = field(default_factory=list)

    def describe(self, headers: list[str]) -> dict[str, str]:
        out = {headers[i]: name for i, name in self.patient.items()}
        out.update({headers[i]: f"contact.{name}" for i, name in self.contact.items()})
        return out


def columns_map(headers: list[str]) -> ColumnMap:
    patient_lookup = {
        alias: name for name, aliases in _PATIENT_ALIASES.items() for alias in aliases
    }
    contact_lookup = {
        alias: name for name, aliases in _CONTACT_ALIASES.items() for alias in aliases
    }
    mapping = ColumnMap()
    for index, header in enumerate(headers):
        key = _header_key(header)
        target = None
        prefix, _sep, rest = key.partition("_")
        if prefix in _CONTACT_PREFIXES and rest in contact_lookup:
            name = contact_lookup[rest]
            if name not in mapping.contact.values():
                mapping.contact[index] = name
                if _CONTACT_PREFIXES[prefix] and not mapping.default_relationship:
                    mapping.default_relationship = _CONTACT_PREFIXES[prefix]
                continue
        target = patient_lookup.get(key)
        if target and target not in mapping.patient.values():
            mapping.patient[index] = target
        elif header.strip():
            mapping.ignored.append(header.strip())
    return mapping


def csv_decode(content: bytes | str) -> str:
    if isinstance(content, str):
        return content.lstrip("\ufeff")
    for encoding in ("utf-8-sig", "cp1252"):
        try:
            return content.decode(encoding)
        except UnicodeDecodeError:
            continue
    return content.decode("latin-1")


def csv_rows(text: str) -> tuple[list[str], list[list[str]]]:
    """Header and data rows; the delimiter (, ; tab |) is detected from the header line."""
    first_line = text.split("\n", 1)[0]
    counts = {d: first_line.count(d) for d in (",", ";", "\t", "|")}
    delimiter = max(counts, key=counts.get) if any(counts.values()) else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        headers = next(reader)
    except StopIteration:
        return [], []
    except csv.Error as exc:
        raise ValidationFailed(
            _("The file is not a readable CSV file: %(error)s") % {"error": exc},
            details={"file": [str(exc)]},
        ) from exc
    rows = []
    try:
        for row in reader:
            rows.append(row)
            if len(rows) > MAX_ROWS:
                raise ValidationFailed(
                    _("The file has more than %(n)d rows; split it.") % {"n": MAX_ROWS},
                    details={"file": [_("too many rows")]},
                )
    except csv.Error as exc:
        raise ValidationFailed(
            _("Row %(row)d is not readable CSV: %(error)s")
            % {"row": reader.line_num, "error": exc},
            details={"file": [str(exc)]},
        ) from exc
    return headers, rows


@dataclass
class ValidRow:
    row: int
    patient: dict[str, Any]
    contact: dict[str, Any] | None = None
    relationship: str | None = None


@dataclass
class ImportReport:
    total_rows: int = 0
    valid_rows: int = 0
    created: int = 0
    contacts_created: int = 0
    contacts_reused: int = 0
    errors: list[RowError] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    skipped_rows: list[int] = field(default_factory=list)
    columns: dict[str, str] = field(default_factory=dict)
    imported: bool = False
    dry_run: bool = False

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["errors"] = [asdict(e) for e in self.errors]
        return data

    @property
    def error_rows(self) -> list[int]:
        return sorted({e.row for e in self.errors if e.row > 1})


Progress = Callable[[str, int, int], None]


class PatientRowsValidator:
    """Validates rows in chunks (so callers can show progress); keeps the in-file state needed to
    spot duplicates across chunks."""

    def __init__(
        self,
        *,
        actor: Membership,
        headers: list[str],
        date_format: str = "iso",
        allow_duplicates: bool = False,
    ):
        if date_format not in DATE_FORMATS:
            raise ValidationFailed(
                _("Unknown date format."), details={"date_format": [", ".join(DATE_FORMATS)]}
            )
        self.actor = actor
        self.headers = headers
        self.map = columns_map(headers)
        self.ctx = services.ctx_for(actor.organization, date_formats=DATE_FORMATS[date_format])
        self.allow_duplicates = allow_duplicates
        self.errors: list[RowError] = []
        self.valid: list[ValidRow] = []
        self._seen_mrn: dict[str, int] = {}
        self._seen_chip: dict[str, int] = {}
        self._seen_identity: dict[tuple, int] = {}

    def file_errors(self) -> list[RowError]:
        problems = []
        if not self.headers:
            problems.append(RowError(1, "file", _("The file is empty.")))
        elif "given_name" not in self.map.patient.values():
            problems.append(
                RowError(
                    1,
                    "given_name",
                    _("No column for the given name (e.g. a header 'given_name' or 'first_name')."),
                )
            )
        if self.map.contact and not {"given_name", "family_name"} & set(self.map.contact.values()):
            problems.append(
                RowError(
                    1,
                    "contact.family_name",
                    _("Contact columns need a name column (e.g. 'owner_last_name')."),
                )
            )
        return problems

    def warnings(self) -> list[str]:
        return [
            _("Column %(name)s was ignored (unknown header).") % {"name": name}
            for name in self.map.ignored
        ]

    def validate(self, rows: list[list[str]], first_row_number: int) -> None:
        cleaned: list[tuple[int, dict, dict | None, str | None]] = []
        for offset, raw in enumerate(rows):
            number = first_row_number + offset
            if not any((cell or "").strip() for cell in raw):
                continue
            result = self._row_clean(number, raw)
            if result is not None:
                cleaned.append(result)
        self._database_checks(cleaned)

    def _row_clean(self, number: int, raw: list[str]):
        values = {name: (raw[i] if i < len(raw) else "") for i, name in self.map.patient.items()}
        errors = FieldErrors()
        if "sex" in values:
            sex_key = _header_key(values["sex"] or "")
            if sex_key in _SEX_VALUES:
                values["sex"], neutered = _SEX_VALUES[sex_key]
                if neutered is not None and not (values.get("neutered") or "").strip():
                    values["neutered"] = neutered
            elif not sex_key:
                values["sex"] = "unknown"
        data = {
            k: v
            for k, v in values.items()
            if not (isinstance(v, str) and v.strip() == "") or k == "given_name"
        }
        patient = services.patient_clean(data, self.ctx, errors)
        contact = None
        relationship = None
        contact_raw = {
            name: (raw[i] if i < len(raw) else "").strip() for i, name in self.map.contact.items()
        }
        relationship_raw = contact_raw.pop("relationship", "")
        if any(contact_raw.values()):
            sub = FieldErrors()
            contact = services.contact_clean(contact_raw, self.ctx, sub)
            for name, messages in sub.errors.items():
                for message in messages:
                    errors.add(f"contact.{name}", message)
            relationship = _relationship_parse(relationship_raw) or self.map.default_relationship
            if relationship is None:
                relationship = (
                    Relationship.OWNER if patient.get("species") else Relationship.EMERGENCY_CONTACT
                )
            if relationship not in Relationship.values:
                errors.add(
                    "contact.relationship",
                    _("Must be one of: %(values)s.") % {"values": ", ".join(Relationship.values)},
                )
            elif patient.get("species") and relationship in (
                Relationship.PARENT,
                Relationship.LEGAL_GUARDIAN,
            ):
                errors.add(
                    "contact.relationship",
                    _("An animal patient has owners, not parents or guardians."),
                )
            elif not patient.get("species") and relationship == Relationship.OWNER:
                errors.add("contact.relationship", _("Only animal patients have owners."))
        self._in_file_duplicates(number, patient, errors)
        if errors:
            for name, messages in errors.errors.items():
                for message in messages:
                    self.errors.append(RowError(number, name, message))
            return None
        return number, patient, contact, relationship

    def _in_file_duplicates(self, number: int, patient: dict, errors: FieldErrors) -> None:
        mrn = patient.get("mrn")
        if mrn:
            if mrn in self._seen_mrn:
                errors.add(
                    "mrn",
                    _("Same medical record number as row %(row)d.") % {"row": self._seen_mrn[mrn]},
                )
            else:
                self._seen_mrn[mrn] = number
        chip = patient.get("microchip")
        if chip:
            if chip in self._seen_chip:
                errors.add(
                    "microchip",
                    _("Same microchip as row %(row)d.") % {"row": self._seen_chip[chip]},
                )
            else:
                self._seen_chip[chip] = number
        if patient.get("date_of_birth") and not self.allow_duplicates:
            key = (
                fold_for_key(patient.get("given_name", "")),
                fold_for_key(patient.get("family_name", "")),
                patient["date_of_birth"],
            )
            if key in self._seen_identity:
                errors.add(
                    "given_name",
                    _("Same name and date of birth as row %(row)d.")
                    % {"row": self._seen_identity[key]},
                )
            else:
                self._seen_identity[key] = number

    def _database_checks(self, cleaned) -> None:
        """Identifiers and identities already in the clinic: three queries per chunk."""
        if not cleaned:
            return
        mrns = [p["mrn"] for _n, p, _c, _r in cleaned if p.get("mrn")]
        chips = [p["microchip"] for _n, p, _c, _r in cleaned if p.get("microchip")]
        taken_mrn = (
            dict(Patient.objects.filter(mrn__in=mrns).values_list("mrn", "id")) if mrns else {}
        )
        taken_chip = (
            dict(Patient.objects.filter(microchip__in=chips).values_list("microchip", "mrn"))
            if chips
            else {}
        )
        existing_identity: dict[tuple, str] = {}
        with_dob = [(n, p) for n, p, _c, _r in cleaned if p.get("date_of_birth")]
        if with_dob and not self.allow_duplicates:
            folded = sql_fold(
                [x for _n, p in with_dob for x in (p["given_name"], p.get("family_name", ""))]
            )
            wanted = {}
            for i, (n, p) in enumerate(with_dob):
                wanted[(folded[2 * i], folded[2 * i + 1], p["date_of_birth"])] = n
            dobs = {p["date_of_birth"] for _n, p in with_dob}
            for given, family, dob, mrn in (
                Patient.objects.filter(date_of_birth__in=dobs)
                .annotate(gf=_fold_expr("given_name"), ff=_fold_expr("family_name"))
                .values_list("gf", "ff", "date_of_birth", "mrn")
            ):
                if (given, family, dob) in wanted:
                    existing_identity[(given, family, dob)] = mrn
            identity_of = {n: key for key, n in wanted.items()}
        else:
            identity_of = {}
        for number, patient, contact, relationship in cleaned:
            problems = []
            if patient.get("mrn") in taken_mrn:
                problems.append(
                    ("mrn", _("A patient with this medical record number already exists."))
                )
            if patient.get("microchip") in taken_chip:
                problems.append(
                    (
                        "microchip",
                        _("Patient %(mrn)s already has this microchip.")
                        % {"mrn": taken_chip[patient["microchip"]]},
                    )
                )
            key = identity_of.get(number)
            if key in existing_identity:
                problems.append(
                    (
                        "given_name",
                        _(
                            "Patient %(mrn)s has the same name and date of birth "
                            "(possible duplicate)."
                        )
                        % {"mrn": existing_identity[key]},
                    )
                )
            if problems:
                self.errors.extend(RowError(number, f, m) for f, m in problems)
            else:
                self.valid.append(ValidRow(number, patient, contact, relationship))


def _relationship_parse(text: str) -> str | None:
    key = _header_key(text or "")
    if not key:
        return None
    aliases = {
        "guardian": Relationship.LEGAL_GUARDIAN,
        "tuteur": Relationship.LEGAL_GUARDIAN,
        "mother": Relationship.PARENT,
        "father": Relationship.PARENT,
        "mere": Relationship.PARENT,
        "pere": Relationship.PARENT,
        "emergency": Relationship.EMERGENCY_CONTACT,
        "proprietaire": Relationship.OWNER,
        "payeur": Relationship.PAYER,
    }
    return aliases.get(key, key)


def _fold_expr(column: str):
    from django.db.models import F

    from clinic.directory.models import SearchFold

    return SearchFold(F(column))


def sql_fold(values: list[str]) -> list[str]:
    """directory_search_fold() of many strings in one query (matches stored folds exactly)."""
    if not values:
        return []
    with connection.cursor() as cur:
        cur.execute(
            "SELECT directory_search_fold(v) FROM unnest(%s::text[]) WITH ORDINALITY AS t(v, i) "
            "ORDER BY i",
            [list(values)],
        )
        return [row[0] for row in cur.fetchall()]


def _chunks(items: list, size: int) -> Iterable[tuple[int, list]]:
    for start in range(0, len(items), size):
        yield start, items[start : start + size]


def patients_import(
    *,
    actor: Membership,
    content: bytes | str,
    skip_invalid: bool = False,
    allow_duplicates: bool = False,
    date_format: str = "iso",
    dry_run: bool = False,
    progress: Progress | None = None,
) -> ImportReport:
    """Validate every row, then import all of them (or, with `skip_invalid`, the valid ones) in
    one transaction. Returns the report; with errors and without `skip_invalid`, nothing is
    written and `report.imported` is False."""
    headers, rows = csv_rows(csv_decode(content))
    report = ImportReport(total_rows=len(rows), dry_run=dry_run)
    validator = PatientRowsValidator(
        actor=actor, headers=headers, date_format=date_format, allow_duplicates=allow_duplicates
    )
    report.columns = validator.map.describe(headers)
    report.warnings = validator.warnings()
    file_errors = validator.file_errors()
    if file_errors:
        report.errors = file_errors
        return report
    with transaction.atomic():
        for start, chunk in _chunks(rows, CHUNK):
            validator.validate(chunk, first_row_number=start + 2)
            if progress:
                progress("validate", min(start + len(chunk), len(rows)), len(rows))
        report.errors = sorted(validator.errors, key=lambda e: (e.row, e.field))
        report.valid_rows = len(validator.valid)
        if report.errors and not skip_invalid:
            return report
        report.skipped_rows = report.error_rows
        if dry_run:
            return report
        _insert(actor, validator.valid, report, progress)
        report.imported = True
    return report


def _insert(
    actor: Membership, valid: list[ValidRow], report: ImportReport, progress: Progress | None
) -> None:
    org = actor.organization
    services.mrn_observe(r.patient["mrn"] for r in valid if r.patient.get("mrn"))
    fresh = iter(services.mrn_allocate(sum(1 for r in valid if not r.patient.get("mrn"))))
    contacts = _contacts_resolve(valid, org.id, report)
    done = 0
    for _start, chunk in _chunks(valid, CHUNK):
        patients = []
        for row in chunk:
            values = dict(row.patient)
            if not values.get("preferred_language"):
                values["preferred_language"] = org.default_locale
            if not values.get("mrn"):
                values["mrn"] = next(fresh)
            patients.append(Patient(organization_id=org.id, **values))
        Patient.objects.bulk_create(patients)
        links = []
        primary_done: set = set()
        for row, patient in zip(chunk, patients, strict=True):
            contact = contacts.get(row.row)
            if contact is None:
                continue
            links.append(
                PatientContact(
                    organization_id=org.id,
                    patient=patient,
                    contact=contact,
                    relationship=row.relationship,
                    is_primary=patient.id not in primary_done,
                    may_receive_clinical_info=row.relationship
                    in (Relationship.PARENT, Relationship.LEGAL_GUARDIAN, Relationship.OWNER),
                )
            )
            primary_done.add(patient.id)
        PatientContact.objects.bulk_create(links)
        done += len(chunk)
        report.created = done
        if progress:
            progress("import", done, len(valid))


def _contacts_resolve(valid: list[ValidRow], org_id, report: ImportReport) -> dict[int, Contact]:
    """One contact per distinct person in the file; an existing contact with the same name and
    the same phone or email is reused."""
    by_key: dict[tuple, list[int]] = defaultdict(list)
    data_by_key: dict[tuple, dict] = {}
    for row in valid:
        if row.contact:
            c = row.contact
            key = (
                fold_for_key(c.get("given_name", "")),
                fold_for_key(c.get("family_name", "")),
                c.get("phone", ""),
                c.get("email", ""),
            )
            by_key[key].append(row.row)
            data_by_key.setdefault(key, c)
    if not by_key:
        return {}
    phones = {k[2] for k in by_key if k[2]}
    emails = {k[3] for k in by_key if k[3]}
    existing: dict[tuple, Contact] = {}
    if phones or emails:
        from django.db.models import Q

        for contact in Contact.objects.filter(archived_at__isnull=True).filter(
            Q(phone__in=phones) | Q(email__in=emails)
        ):
            name = (fold_for_key(contact.given_name), fold_for_key(contact.family_name))
            if contact.phone:
                existing.setdefault((*name, "phone", contact.phone), contact)
            if contact.email:
                existing.setdefault((*name, "email", contact.email), contact)
    out: dict[int, Contact] = {}
    new: list[Contact] = []
    for key, row_numbers in by_key.items():
        given, family, phone, email = key
        contact = (existing.get((given, family, "phone", phone)) if phone else None) or (
            existing.get((given, family, "email", email)) if email else None
        )
        if contact is None:
            contact = Contact(organization_id=org_id, **data_by_key[key])
            new.append(contact)
        else:
            report.contacts_reused += 1
        for number in row_numbers:
            out[number] = contact
    Contact.objects.bulk_create(new, batch_size=CHUNK)
    report.contacts_created = len(new)
    return out


# --- export ------------------------------------------------------------------------------------

PATIENT_EXPORT_COLUMNS = [
    "mrn",
    "given_name",
    "family_name",
    "preferred_name",
    "date_of_birth",
    "sex",
    "gender_identity",
    "phone",
    "email",
    "preferred_language",
    "species",
    "breed",
    "microchip",
    "weight_kg",
    "neutered",
    "address_line1",
    "address_line2",
    "city",
    "postal_code",
    "region",
    "country",
    "notes",
    "archived",
    "contact_given_name",
    "contact_family_name",
    "contact_phone",
    "contact_email",
    "contact_relationship",
    "id",
    "created_at",
]

SERVICE_EXPORT_COLUMNS = [
    "name",
    "code",
    "description",
    "duration_minutes",
    "buffer_before_minutes",
    "buffer_after_minutes",
    "price",
    "tax_rate",
    "modality",
    "colour",
    "active",
    "practitioners",
    "id",
]


def patients_export_csv(queryset) -> str:
    """The patients of `queryset` (with contact links prefetched) as CSV; the file re-imports
    (its headers are the import's)."""
    out = io.StringIO()
    writer = SafeWriter(out)
    writer.writerow(PATIENT_EXPORT_COLUMNS)
    for patient in queryset.iterator(chunk_size=2000):
        links = list(patient.contact_links.all())
        primary = next((link for link in links if link.is_primary), links[0] if links else None)
        contact = primary.contact if primary else None
        writer.writerow(
            (
                patient.mrn,
                patient.given_name,
                patient.family_name,
                patient.preferred_name,
                patient.date_of_birth.isoformat() if patient.date_of_birth else "",
                patient.sex,
                patient.gender_identity,
                patient.phone,
                patient.email,
                patient.preferred_language,
                patient.species,
                patient.breed,
                patient.microchip,
                patient.weight_kg if patient.weight_kg is not None else "",
                "" if patient.neutered is None else patient.neutered,
                patient.address_line1,
                patient.address_line2,
                patient.city,
                patient.postal_code,
                patient.region,
                patient.country,
                patient.notes,
                patient.archived_at is not None,
                contact.given_name if contact else "",
                contact.family_name if contact else "",
                contact.phone if contact else "",
                contact.email if contact else "",
                primary.relationship if primary else "",
                patient.id,
                patient.created_at.isoformat(),
            )
        )
    return out.getvalue()


def services_export_csv(queryset) -> str:
    out = io.StringIO()
    writer = SafeWriter(out)
    writer.writerow(SERVICE_EXPORT_COLUMNS)
    for service in queryset:
        writer.writerow(
            (
                service.name,
                service.code,
                service.description,
                service.duration_minutes,
                service.buffer_before_minutes,
                service.buffer_after_minutes,
                f"{service.price:.2f}",
                f"{service.tax_rate:.2f}",
                service.modality,
                service.colour,
                service.is_active,
                "; ".join(p.display_name for p in service.practitioners.all()),
                service.id,
            )
        )
    return out.getvalue()


# --- the upload page: validation in steps (progress), then one import transaction -------------

STEP_ROWS = 2000


def _validator_seeded(validator: PatientRowsValidator, rows: list[list[str]]) -> None:
    """Recreate the in-file duplicate state of rows already validated in earlier steps (cheap:
    identifiers and names only)."""
    from clinic.directory.validation import FieldInvalid, clean_date, clean_microchip, clean_mrn

    index = {name: i for i, name in validator.map.patient.items()}

    def cell(raw, name):
        i = index.get(name)
        return raw[i] if i is not None and i < len(raw) else ""

    for offset, raw in enumerate(rows):
        number = offset + 2
        try:
            mrn = clean_mrn(cell(raw, "mrn"))
            chip = clean_microchip(cell(raw, "microchip"))
            dob = clean_date(cell(raw, "date_of_birth"), formats=validator.ctx.date_formats)
        except FieldInvalid:
            continue
        if mrn:
            validator._seen_mrn.setdefault(mrn, number)
        if chip:
            validator._seen_chip.setdefault(chip, number)
        if dob:
            key = (
                fold_for_key(cell(raw, "given_name")),
                fold_for_key(cell(raw, "family_name")),
                dob,
            )
            validator._seen_identity.setdefault(key, number)


def patient_import_start(
    *, actor: Membership, filename: str, content: bytes | str, options: dict[str, Any]
):
    """Keep an uploaded file as an import job; its rows are validated by `patient_import_step`."""
    from clinic.directory.models import ImportStatus, PatientImport

    date_format = options.get("date_format") or "iso"
    text = csv_decode(content)
    headers, rows = csv_rows(text)
    validator = PatientRowsValidator(actor=actor, headers=headers, date_format=date_format)
    errors = [asdict(e) for e in validator.file_errors()]
    if errors:
        status = ImportStatus.FAILED
    else:
        status = ImportStatus.VALIDATING if rows else ImportStatus.VALIDATED
    with transaction.atomic():
        return PatientImport.objects.create(
            organization_id=actor.organization_id,
            created_by_id=actor.user_id,
            filename=(filename or "patients.csv")[:255],
            content=text,
            options={
                "skip_invalid": bool(options.get("skip_invalid")),
                "allow_duplicates": bool(options.get("allow_duplicates")),
                "date_format": date_format,
                "columns": validator.map.describe(headers),
            },
            total_rows=len(rows),
            errors=errors,
            warnings=validator.warnings(),
            status=status,
        )


def patient_import_step(*, actor: Membership, job, rows_per_step: int = STEP_ROWS):
    """Validate the next rows of an import job (one request per step: the page polls and shows
    the progress). Nothing is imported here."""
    from clinic.directory.models import ImportStatus

    if job.status != ImportStatus.VALIDATING:
        return job
    headers, rows = csv_rows(job.content)
    validator = PatientRowsValidator(
        actor=actor,
        headers=headers,
        date_format=job.options.get("date_format", "iso"),
        allow_duplicates=job.options.get("allow_duplicates", False),
    )
    start = job.processed_rows
    end = min(start + rows_per_step, len(rows))
    _validator_seeded(validator, rows[:start])
    validator.validate(rows[start:end], first_row_number=start + 2)
    with transaction.atomic():
        job.errors = job.errors + [
            asdict(e) for e in sorted(validator.errors, key=lambda e: (e.row, e.field))
        ]
        job.processed_rows = end
        if end >= len(rows):
            job.status = ImportStatus.VALIDATED
        job.save(update_fields=["errors", "processed_rows", "status"])
    return job


def patient_import_commit(*, actor: Membership, job) -> ImportReport:
    """Import a validated job in one transaction. The rows are validated again inside it (the
    clinic's records may have changed since); the file is then dropped."""
    from django.utils import timezone

    from clinic.directory.models import ImportStatus

    if job.status != ImportStatus.VALIDATED:
        message = _("This import is not ready to run (%(status)s).") % {"status": job.status}
        raise ValidationFailed(message, details={"status": [job.status]})
    with transaction.atomic():
        report = patients_import(
            actor=actor,
            content=job.content,
            skip_invalid=job.options.get("skip_invalid", False),
            allow_duplicates=job.options.get("allow_duplicates", False),
            date_format=job.options.get("date_format", "iso"),
        )
        job.errors = [asdict(e) for e in report.errors]
        if report.imported:
            job.status = ImportStatus.IMPORTED
            job.created_count = report.created
            job.skipped_rows = report.skipped_rows
            job.content = ""
            job.finished_at = timezone.now()
        job.save(
            update_fields=[
                "errors",
                "status",
                "created_count",
                "skipped_rows",
                "content",
                "finished_at",
            ]
        )
    return report
