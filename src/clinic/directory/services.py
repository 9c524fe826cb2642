"""Every write to the directory.

Functions are `<entity>_<verb>(*, actor, ...)`: `actor` is the acting `Membership` (its
organization is the tenant; who acted is recorded by the audit trigger from the request context).
Input is a mapping of API field names (the same names the API, the pages and the CSV import use),
cleaned by `validation.py`; every bad field is reported at once as `ValidationFailed` with
`details={field: [messages]}`, and nothing is written. Each function runs in one transaction
(`transaction.atomic`, so two services can share an outer one).
"""

from __future__ import annotations

import contextlib
import hashlib
import re
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import filetype
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from clinic.accounts.models import Membership, Organization
from clinic.accounts.roles import Role
from clinic.audit.services import audit_record
from clinic.core.errors import Conflict, ValidationFailed
from clinic.directory import selectors
from clinic.directory.models import (
    LANGUAGES,
    Contact,
    Location,
    Modality,
    Patient,
    PatientContact,
    Practitioner,
    PractitionerService,
    Relationship,
    Room,
    RoomKind,
    Service,
    Sex,
)
from clinic.directory.validation import (
    FieldErrors,
    FieldInvalid,
    clean_bool,
    clean_choice,
    clean_colour,
    clean_country,
    clean_credentials,
    clean_date_of_birth,
    clean_decimal,
    clean_email,
    clean_int,
    clean_microchip,
    clean_mrn,
    clean_phone,
    clean_species,
    clean_str_list,
    clean_text,
    clean_time_zone,
    fold_for_key,
    region_for_time_zone,
)

# --- cleaning ----------------------------------------------------------------------------------


@dataclass
class Ctx:
    """What cleaning needs to know about the clinic."""

    organization: Organization
    region: str | None
    today: date
    date_formats: tuple[str, ...] = ("%Y-%m-%d",)
    cache: dict[str, Any] = field(default_factory=dict)


def ctx_for(organization: Organization, *, date_formats: tuple[str, ...] | None = None) -> Ctx:
    today = timezone.now().astimezone(ZoneInfo(organization.time_zone)).date()
    return Ctx(
        organization=organization,
        region=region_for_time_zone(organization.time_zone),
        today=today,
        date_formats=date_formats or ("%Y-%m-%d",),
    )


Cleaner = Callable[[Any, Ctx], Any]


def _text(max_length: int, *, required: bool = False, multiline: bool = False) -> Cleaner:
    return lambda v, c: clean_text(v, max_length=max_length, required=required, multiline=multiline)


def _uuid(value: Any) -> uuid.UUID:
    try:
        return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))
    except (ValueError, TypeError, AttributeError) as exc:
        raise FieldInvalid(_("Not a valid id.")) from exc


def _location_ref(value: Any, ctx: Ctx) -> uuid.UUID | None:
    if value in (None, ""):
        return None
    location_id = _uuid(value)
    location = Location.objects.filter(id=location_id).only("id", "is_active").first()
    if location is None:
        raise FieldInvalid(_("No such location."))
    if not location.is_active:
        raise FieldInvalid(_("This location is archived."))
    return location_id


def _membership_ref(value: Any, ctx: Ctx) -> uuid.UUID | None:
    if value in (None, ""):
        return None
    membership_id = _uuid(value)
    membership = Membership.objects.filter(id=membership_id).only("id", "role").first()
    if membership is None:
        raise FieldInvalid(_("No such member of this organization."))
    ctx.cache[f"membership:{membership_id}"] = membership
    return membership_id


ADDRESS_FIELDS: dict[str, Cleaner] = {
    "address_line1": _text(200),
    "address_line2": _text(200),
    "city": _text(100),
    "postal_code": _text(20),
    "region": _text(100),
    "country": lambda v, c: clean_country(v),
}


def _clean(
    data: Mapping[str, Any],
    spec: Mapping[str, Cleaner],
    ctx: Ctx,
    errors: FieldErrors,
    *,
    required: Iterable[str] = (),
) -> dict[str, Any]:
    """Clean the fields present in `data`; unknown fields and missing required ones are errors."""
    for name in data:
        if name not in spec:
            errors.add(name, _("Unknown field."))
    for name in required:
        if data.get(name) in (None, ""):
            errors.add(name, _("This field is required."))
    out: dict[str, Any] = {}
    for name, value in data.items():
        cleaner = spec.get(name)
        if cleaner is None or name in errors.errors:
            continue
        try:
            out[name] = cleaner(value, ctx)
        except FieldInvalid as exc:
            errors.add(name, exc.message)
    return out


# Constraint name → (field, message, is_conflict). Python checks give the friendly answer first;
# this maps what the database refuses when two requests race past them.
_CONSTRAINTS: dict[str, tuple[str, str, bool]] = {
    "location_name_unique": ("name", "A location with this name already exists.", True),
    "room_name_unique": ("name", "A room with this name already exists at this location.", True),
    "service_name_unique": ("name", "A service with this name already exists.", True),
    "service_code_unique": ("code", "A service with this code already exists.", True),
    "practitioner_membership_unique": (
        "membership_id",
        "This member already has a practitioner profile.",
        True,
    ),
    "patient_mrn_unique": ("mrn", "Another patient has this medical record number.", True),
    "patient_microchip_unique": ("microchip", "Another patient has this microchip.", True),
    "patient_membership_unique": (
        "membership_id",
        "This login is already linked to another patient.",
        True,
    ),
    "contact_membership_unique": (
        "membership_id",
        "This login is already linked to another contact.",
        True,
    ),
    "patient_contact_unique": (
        "relationship",
        "This contact already has this relationship with the patient.",
        True,
    ),
    "patient_contact_one_primary": (
        "is_primary",
        "The patient already has a primary contact.",
        True,
    ),
}


@contextlib.contextmanager
def _database_refusals():
    """A savepoint whose integrity errors become 409/422 naming the field."""
    try:
        with transaction.atomic():
            yield
    except IntegrityError as exc:
        cause = exc.__cause__
        diag = getattr(cause, "diag", None)
        name = getattr(diag, "constraint_name", None) or ""
        field_name, message, conflict = _CONSTRAINTS.get(
            name, ("", "The database refused this change (%s)." % (name or "integrity"), False)
        )
        details = {field_name or "constraint": [_(message)], "constraint": [name]}
        error = Conflict if conflict else ValidationFailed
        raise error(_(message), details=details) from exc


def _assign(instance, values: Mapping[str, Any]) -> list[str]:
    changed = []
    for name, value in values.items():
        if getattr(instance, name) != value:
            setattr(instance, name, value)
            changed.append(name)
    return changed


def _save_changes(instance, changed: list[str]) -> None:
    if changed:
        with _database_refusals():
            instance.save(update_fields=[*changed, "updated_at"])


def _ids(value: Any, field_name: str, errors: FieldErrors) -> list[uuid.UUID] | None:
    if value is None:
        return None
    if not isinstance(value, list | tuple | set):
        errors.add(field_name, _("A list of ids is expected."))
        return None
    out: list[uuid.UUID] = []
    for item in value:
        try:
            parsed = _uuid(item)
        except FieldInvalid as exc:
            errors.add(field_name, exc.message)
            return None
        if parsed not in out:
            out.append(parsed)
    return out


def _existing(
    model, ids: list[uuid.UUID], field_name: str, errors: FieldErrors, label: str
) -> list[uuid.UUID]:
    found = set(model.objects.filter(id__in=ids).values_list("id", flat=True))
    missing = [str(i) for i in ids if i not in found]
    if missing:
        errors.add(
            field_name, _("No such %(what)s: %(ids)s.") % {"what": label, "ids": ", ".join(missing)}
        )
    return [i for i in ids if i in found]


# --- locations ---------------------------------------------------------------------------------

LOCATION_FIELDS: dict[str, Cleaner] = {
    "name": _text(200, required=True),
    "time_zone": lambda v, c: clean_time_zone(v),
    "phone": lambda v, c: clean_phone(v, region=c.region),
    **ADDRESS_FIELDS,
}


def location_create(*, actor: Membership, data: Mapping[str, Any]) -> Location:
    org = actor.organization
    errors = FieldErrors()
    values = _clean(data, LOCATION_FIELDS, ctx_for(org), errors, required=["name"])
    errors.raise_if_any(_("The location is not valid."))
    values.setdefault("time_zone", org.time_zone)
    with transaction.atomic():
        _location_name_free(values["name"])
        location = Location(organization_id=org.id, **values)
        with _database_refusals():
            location.save(force_insert=True)
    return location


def _location_name_free(name: str, exclude_id=None) -> None:
    clash = Location.objects.filter(name__iexact=name).exclude(id=exclude_id).first()
    if clash:
        message = _("A location named %(name)s already exists.") % {"name": clash.name}
        raise Conflict(message, details={"name": [message], "existing_id": str(clash.id)})


def location_update(*, actor: Membership, location: Location, data: Mapping[str, Any]) -> Location:
    errors = FieldErrors()
    values = _clean(data, LOCATION_FIELDS, ctx_for(actor.organization), errors)
    errors.raise_if_any(_("The location is not valid."))
    with transaction.atomic():
        if "name" in values and values["name"].lower() != location.name.lower():
            _location_name_free(values["name"], exclude_id=location.id)
        _save_changes(location, _assign(location, values))
    return location


def location_archive(*, actor: Membership, location: Location) -> Location:
    """Archived locations leave pickers and lists; their rooms are archived with them."""
    with transaction.atomic():
        if location.is_active:
            location.is_active = False
            location.save(update_fields=["is_active", "updated_at"])
            for room in Room.objects.filter(location=location, is_active=True):
                room.is_active = False
                room.save(update_fields=["is_active", "updated_at"])
    return location


def location_restore(*, actor: Membership, location: Location) -> Location:
    with transaction.atomic():
        if not location.is_active:
            location.is_active = True
            location.save(update_fields=["is_active", "updated_at"])
    return location


# --- rooms -------------------------------------------------------------------------------------

ROOM_FIELDS: dict[str, Cleaner] = {
    "location_id": _location_ref,
    "name": _text(100, required=True),
    "kind": lambda v, c: clean_choice(v, RoomKind.choices),
    "capacity": lambda v, c: clean_int(v, minimum=1, maximum=1000, required=True),
}


def _room_name_free(location_id, name: str, exclude_id=None) -> None:
    clash = (
        Room.objects.filter(location_id=location_id, name__iexact=name)
        .exclude(id=exclude_id)
        .first()
    )
    if clash:
        message = _("A room named %(name)s already exists at this location.") % {"name": clash.name}
        raise Conflict(message, details={"name": [message], "existing_id": str(clash.id)})


def room_create(*, actor: Membership, data: Mapping[str, Any]) -> Room:
    errors = FieldErrors()
    values = _clean(
        data, ROOM_FIELDS, ctx_for(actor.organization), errors, required=["location_id", "name"]
    )
    errors.raise_if_any(_("The room is not valid."))
    with transaction.atomic():
        _room_name_free(values["location_id"], values["name"])
        room = Room(organization_id=actor.organization_id, **values)
        with _database_refusals():
            room.save(force_insert=True)
    return room


def room_update(*, actor: Membership, room: Room, data: Mapping[str, Any]) -> Room:
    errors = FieldErrors()
    if "location_id" in data and data["location_id"] in (None, ""):
        errors.add("location_id", _("This field is required."))
    values = _clean(data, ROOM_FIELDS, ctx_for(actor.organization), errors)
    errors.raise_if_any(_("The room is not valid."))
    with transaction.atomic():
        location_id = values.get("location_id", room.location_id)
        name = values.get("name", room.name)
        if location_id != room.location_id or name.lower() != room.name.lower():
            _room_name_free(location_id, name, exclude_id=room.id)
        _save_changes(room, _assign(room, values))
    return room


def room_archive(*, actor: Membership, room: Room) -> Room:
    with transaction.atomic():
        if room.is_active:
            room.is_active = False
            room.save(update_fields=["is_active", "updated_at"])
    return room


def room_restore(*, actor: Membership, room: Room) -> Room:
    with transaction.atomic():
        if not room.is_active:
            if not Location.objects.filter(id=room.location_id, is_active=True).exists():
                message = _("Restore the room's location first.")
                raise Conflict(message, details={"location_id": [message]})
            room.is_active = True
            room.save(update_fields=["is_active", "updated_at"])
    return room


# --- services ----------------------------------------------------------------------------------

SERVICE_FIELDS: dict[str, Cleaner] = {
    "name": _text(200, required=True),
    "code": lambda v, c: clean_text(v, max_length=32).upper(),
    "description": _text(5000, multiline=True),
    "duration_minutes": lambda v, c: clean_int(v, minimum=1, maximum=1440, required=True),
    "buffer_before_minutes": lambda v, c: clean_int(v, minimum=0, maximum=240) or 0,
    "buffer_after_minutes": lambda v, c: clean_int(v, minimum=0, maximum=240) or 0,
    "price": lambda v, c: clean_decimal(
        v, places=2, minimum=Decimal(0), maximum=Decimal("99999999.99"), required=True
    ),
    "tax_rate": lambda v, c: (
        clean_decimal(v, places=2, minimum=Decimal(0), maximum=Decimal(100)) or Decimal("0.00")
    ),
    "modality": lambda v, c: clean_choice(v, Modality.choices),
    "colour": lambda v, c: clean_colour(v),
}


def _service_unique(values: Mapping[str, Any], exclude_id=None) -> None:
    if values.get("name"):
        clash = Service.objects.filter(name__iexact=values["name"]).exclude(id=exclude_id).first()
        if clash:
            message = _("A service named %(name)s already exists.") % {"name": clash.name}
            raise Conflict(message, details={"name": [message], "existing_id": str(clash.id)})
    if values.get("code"):
        clash = Service.objects.filter(code=values["code"]).exclude(id=exclude_id).first()
        if clash:
            message = _("The service %(name)s already has the code %(code)s.") % {
                "name": clash.name,
                "code": clash.code,
            }
            raise Conflict(message, details={"code": [message], "existing_id": str(clash.id)})


def service_create(*, actor: Membership, data: Mapping[str, Any]) -> Service:
    data = dict(data)
    errors = FieldErrors()
    practitioner_ids = _ids(data.pop("practitioner_ids", None), "practitioner_ids", errors)
    values = _clean(
        data,
        SERVICE_FIELDS,
        ctx_for(actor.organization),
        errors,
        required=["name", "duration_minutes", "price"],
    )
    if practitioner_ids:
        practitioner_ids = _existing(
            Practitioner, practitioner_ids, "practitioner_ids", errors, _("practitioner")
        )
    errors.raise_if_any(_("The service is not valid."))
    with transaction.atomic():
        _service_unique(values)
        service = Service(organization_id=actor.organization_id, **values)
        with _database_refusals():
            service.save(force_insert=True)
        if practitioner_ids:
            _links_set(service=service, practitioner_ids=practitioner_ids)
    return service


def service_update(*, actor: Membership, service: Service, data: Mapping[str, Any]) -> Service:
    data = dict(data)
    errors = FieldErrors()
    practitioner_ids = _ids(data.pop("practitioner_ids", None), "practitioner_ids", errors)
    values = _clean(data, SERVICE_FIELDS, ctx_for(actor.organization), errors)
    if practitioner_ids:
        practitioner_ids = _existing(
            Practitioner, practitioner_ids, "practitioner_ids", errors, _("practitioner")
        )
    errors.raise_if_any(_("The service is not valid."))
    with transaction.atomic():
        changed_identity = {
            k: v
            for k, v in values.items()
            if k in ("name", "code") and str(v).lower() != str(getattr(service, k)).lower()
        }
        _service_unique(changed_identity, exclude_id=service.id)
        _save_changes(service, _assign(service, values))
        if practitioner_ids is not None:
            _links_set(service=service, practitioner_ids=practitioner_ids)
    return service


def service_archive(*, actor: Membership, service: Service) -> Service:
    with transaction.atomic():
        if service.is_active:
            service.is_active = False
            service.save(update_fields=["is_active", "updated_at"])
    return service


def service_restore(*, actor: Membership, service: Service) -> Service:
    with transaction.atomic():
        if not service.is_active:
            service.is_active = True
            service.save(update_fields=["is_active", "updated_at"])
    return service


def _links_set(
    *,
    practitioner: Practitioner | None = None,
    service: Service | None = None,
    service_ids: list[uuid.UUID] | None = None,
    practitioner_ids: list[uuid.UUID] | None = None,
) -> None:
    """Make the practitioner↔service links from one side exactly the given set."""
    if practitioner is not None:
        current = PractitionerService.objects.filter(practitioner=practitioner)
        wanted = set(service_ids or [])
        have = set(current.values_list("service_id", flat=True))
        current.filter(service_id__in=have - wanted).delete()
        PractitionerService.objects.bulk_create(
            [
                PractitionerService(
                    organization_id=practitioner.organization_id,
                    practitioner=practitioner,
                    service_id=sid,
                )
                for sid in (service_ids or [])
                if sid not in have
            ]
        )
    elif service is not None:
        current = PractitionerService.objects.filter(service=service)
        wanted = set(practitioner_ids or [])
        have = set(current.values_list("practitioner_id", flat=True))
        current.filter(practitioner_id__in=have - wanted).delete()
        PractitionerService.objects.bulk_create(
            [
                PractitionerService(
                    organization_id=service.organization_id, service=service, practitioner_id=pid
                )
                for pid in (practitioner_ids or [])
                if pid not in have
            ]
        )


# --- practitioners -----------------------------------------------------------------------------

PRACTITIONER_FIELDS: dict[str, Cleaner] = {
    "display_name": _text(200, required=True),
    "membership_id": _membership_ref,
    "discipline": _text(100),
    "credentials": lambda v, c: clean_credentials(v),
    "specialties": lambda v, c: clean_str_list(v, max_items=30, max_length=100),
    "colour": lambda v, c: clean_colour(v),
    "default_location_id": _location_ref,
}


def _practitioner_membership_ok(values, ctx: Ctx, errors: FieldErrors, exclude_id=None) -> None:
    membership_id = values.get("membership_id")
    if not membership_id:
        return
    membership = ctx.cache.get(f"membership:{membership_id}")
    if membership is not None and membership.role == Role.PATIENT:
        errors.add("membership_id", _("A patient login cannot have a practitioner profile."))
        return
    clash = Practitioner.objects.filter(membership_id=membership_id).exclude(id=exclude_id).first()
    if clash:
        errors.add(
            "membership_id",
            _("This member already has a practitioner profile (%(name)s).")
            % {"name": clash.display_name},
        )


def practitioner_create(*, actor: Membership, data: Mapping[str, Any]) -> Practitioner:
    data = dict(data)
    errors = FieldErrors()
    ctx = ctx_for(actor.organization)
    service_ids = _ids(data.pop("service_ids", None), "service_ids", errors)
    values = _clean(data, PRACTITIONER_FIELDS, ctx, errors, required=["display_name"])
    _practitioner_membership_ok(values, ctx, errors)
    if service_ids:
        service_ids = _existing(Service, service_ids, "service_ids", errors, _("service"))
    errors.raise_if_any(_("The practitioner is not valid."))
    with transaction.atomic():
        practitioner = Practitioner(organization_id=actor.organization_id, **values)
        with _database_refusals():
            practitioner.save(force_insert=True)
        if service_ids:
            _links_set(practitioner=practitioner, service_ids=service_ids)
    return practitioner


def practitioner_update(
    *, actor: Membership, practitioner: Practitioner, data: Mapping[str, Any]
) -> Practitioner:
    data = dict(data)
    errors = FieldErrors()
    ctx = ctx_for(actor.organization)
    service_ids = _ids(data.pop("service_ids", None), "service_ids", errors)
    values = _clean(data, PRACTITIONER_FIELDS, ctx, errors)
    if values.get("membership_id") != practitioner.membership_id:
        _practitioner_membership_ok(values, ctx, errors, exclude_id=practitioner.id)
    if service_ids:
        service_ids = _existing(Service, service_ids, "service_ids", errors, _("service"))
    errors.raise_if_any(_("The practitioner is not valid."))
    with transaction.atomic():
        _save_changes(practitioner, _assign(practitioner, values))
        if service_ids is not None:
            _links_set(practitioner=practitioner, service_ids=service_ids)
    return practitioner


def practitioner_archive(*, actor: Membership, practitioner: Practitioner) -> Practitioner:
    with transaction.atomic():
        if practitioner.is_active:
            practitioner.is_active = False
            practitioner.save(update_fields=["is_active", "updated_at"])
    return practitioner


def practitioner_restore(*, actor: Membership, practitioner: Practitioner) -> Practitioner:
    with transaction.atomic():
        if not practitioner.is_active:
            practitioner.is_active = True
            practitioner.save(update_fields=["is_active", "updated_at"])
    return practitioner


# --- patients ----------------------------------------------------------------------------------


def _dob(value: Any, ctx: Ctx):
    return clean_date_of_birth(value, today=ctx.today, formats=ctx.date_formats)


PATIENT_FIELDS: dict[str, Cleaner] = {
    "mrn": lambda v, c: clean_mrn(v),
    "given_name": _text(100, required=True),
    "family_name": _text(100),
    "preferred_name": _text(100),
    "date_of_birth": _dob,
    "sex": lambda v, c: clean_choice(v or "unknown", Sex.choices),
    "gender_identity": _text(50),
    "phone": lambda v, c: clean_phone(v, region=c.region),
    "email": lambda v, c: clean_email(v),
    "preferred_language": lambda v, c: clean_choice(v, LANGUAGES, blank=True),
    "notes": _text(10000, multiline=True),
    "species": lambda v, c: clean_species(v),
    "breed": _text(100),
    "microchip": lambda v, c: clean_microchip(v),
    "weight_kg": lambda v, c: clean_decimal(
        v, places=3, minimum=Decimal(0), exclusive_minimum=True, maximum=Decimal("9999.999")
    ),
    "neutered": lambda v, c: clean_bool(v, allow_none=True),
    "membership_id": _membership_ref,
    **ADDRESS_FIELDS,
}


def patient_rules(state: Mapping[str, Any], errors: FieldErrors) -> None:
    """Rules across fields, on the patient as it would be saved."""
    if not state.get("given_name") and "given_name" not in errors.errors:
        errors.add("given_name", _("This field is required."))
    if not state.get("species"):
        if not state.get("family_name") and "family_name" not in errors.errors:
            errors.add("family_name", _("Required for a human patient."))
        if not state.get("date_of_birth") and "date_of_birth" not in errors.errors:
            errors.add("date_of_birth", _("Required for a human patient."))
        for animal_only in ("microchip", "breed", "weight_kg", "neutered"):
            if state.get(animal_only) not in (None, "") and animal_only not in errors.errors:
                errors.add(animal_only, _("Only for animal patients (set species)."))


def patient_clean(data: Mapping[str, Any], ctx: Ctx, errors: FieldErrors) -> dict[str, Any]:
    """Clean a new patient's fields and apply the cross-field rules (used by the CSV import)."""
    values = _clean(data, PATIENT_FIELDS, ctx, errors, required=["given_name"])
    patient_rules(values, errors)
    return values


def patient_summary(patient: Patient) -> dict[str, Any]:
    return {
        "id": str(patient.id),
        "mrn": patient.mrn,
        "given_name": patient.given_name,
        "family_name": patient.family_name,
        "date_of_birth": patient.date_of_birth.isoformat() if patient.date_of_birth else None,
        "species": patient.species,
        "microchip": patient.microchip,
        "archived": patient.archived_at is not None,
    }


def _advisory_lock(*parts: str) -> None:
    """Serialises concurrent checks on the same key (duplicate detection) until commit."""
    digest = hashlib.blake2b("\x1f".join(parts).encode(), digest_size=8).digest()
    key = int.from_bytes(digest, "big", signed=True)
    with connection.cursor() as cur:
        cur.execute("SELECT pg_advisory_xact_lock(%s)", [key])


def _identity_lock(org_id, values: Mapping[str, Any]) -> None:
    dob = values.get("date_of_birth")
    if dob:
        _advisory_lock(
            "patient",
            str(org_id),
            fold_for_key(values.get("given_name", "")),
            fold_for_key(values.get("family_name", "")),
            dob.isoformat(),
        )
    if values.get("microchip"):
        _advisory_lock("microchip", str(org_id), values["microchip"])


def _identifier_conflicts(values: Mapping[str, Any], exclude_id=None) -> None:
    if values.get("microchip"):
        clash = Patient.objects.filter(microchip=values["microchip"]).exclude(id=exclude_id).first()
        if clash:
            message = _("Another patient (%(mrn)s) has this microchip.") % {"mrn": clash.mrn}
            raise Conflict(
                message,
                code="duplicate_microchip",
                details={"microchip": [message], "existing": [patient_summary(clash)]},
            )
    if values.get("mrn"):
        clash = Patient.objects.filter(mrn=values["mrn"]).exclude(id=exclude_id).first()
        if clash:
            message = _("Another patient has the medical record number %(mrn)s.") % {
                "mrn": clash.mrn
            }
            raise Conflict(
                message,
                code="duplicate_mrn",
                details={"mrn": [message], "existing": [patient_summary(clash)]},
            )


def patient_create(*, actor: Membership, data: Mapping[str, Any], force: bool = False) -> Patient:
    """Create a patient. The same name and date of birth as an existing patient (archived ones
    included) is refused with 409 and the existing records, unless `force`; the same microchip or
    medical record number is always refused."""
    org = actor.organization
    errors = FieldErrors()
    values = patient_clean(data, ctx_for(org), errors)
    errors.raise_if_any(_("The patient is not valid."))
    if not values.get("preferred_language"):
        values["preferred_language"] = org.default_locale
    with transaction.atomic():
        _identity_lock(org.id, values)
        _identifier_conflicts(values)
        if not force and values.get("date_of_birth"):
            duplicates = selectors.patient_duplicates(
                given_name=values["given_name"],
                family_name=values.get("family_name", ""),
                date_of_birth=values["date_of_birth"],
            )
            if duplicates:
                raise Conflict(
                    _(
                        "A patient with the same name and date of birth already exists. "
                        "Check it is not the same person, or send force=true to create anyway."
                    ),
                    code="possible_duplicate",
                    details={"existing": [patient_summary(p) for p in duplicates]},
                )
        if values.get("mrn"):
            mrn_observe([values["mrn"]])
        else:
            values["mrn"] = mrn_allocate(1)[0]
        patient = Patient(organization_id=org.id, **values)
        with _database_refusals():
            patient.save(force_insert=True)
    return patient


def patient_update(*, actor: Membership, patient: Patient, data: Mapping[str, Any]) -> Patient:
    if patient.archived_at is not None:
        raise Conflict(
            _("This patient is archived; restore the record to change it."), code="archived"
        )
    errors = FieldErrors()
    if "mrn" in data and data["mrn"] in (None, ""):
        errors.add("mrn", _("This field is required."))
    values = _clean(data, PATIENT_FIELDS, ctx_for(actor.organization), errors)
    state = {name: getattr(patient, name) for name in PATIENT_FIELDS}
    state.update(values)
    patient_rules(state, errors)
    errors.raise_if_any(_("The patient is not valid."))
    with transaction.atomic():
        changed_ids = {
            k: v
            for k, v in values.items()
            if k in ("mrn", "microchip") and v != getattr(patient, k)
        }
        if changed_ids:
            _identity_lock(actor.organization_id, changed_ids)
            _identifier_conflicts(changed_ids, exclude_id=patient.id)
            if changed_ids.get("mrn"):
                mrn_observe([changed_ids["mrn"]])
        _save_changes(patient, _assign(patient, values))
    return patient


def patient_archive(*, actor: Membership, patient: Patient) -> Patient:
    """Archived patients leave default lists and pickers; their record and history stay."""
    with transaction.atomic():
        if patient.archived_at is None:
            patient.archived_at = timezone.now()
            patient.save(update_fields=["archived_at", "updated_at"])
    return patient


def patient_restore(*, actor: Membership, patient: Patient) -> Patient:
    with transaction.atomic():
        if patient.archived_at is not None:
            patient.archived_at = None
            patient.save(update_fields=["archived_at", "updated_at"])
    return patient


# A patient's photo: the type judged from the bytes (filetype), never from the name or the
# browser's word; no SVG (it can carry script), no GIF.
PHOTO_MAX_BYTES = 2 * 1024 * 1024
PHOTO_TYPES = {"image/png": "png", "image/jpeg": "jpg", "image/webp": "webp"}


def photo_kind(data: bytes) -> str | None:
    """The content type of an accepted photo, judged from its first bytes; None otherwise."""
    kind = filetype.guess(data[:8192])
    return kind.mime if kind is not None and kind.mime in PHOTO_TYPES else None


def patient_photo_set(*, actor: Membership, patient: Patient, data: bytes | None) -> Patient:
    """Store the patient's photo (PNG, JPEG or WebP judged from its bytes, at most 2 MB) through
    Django's storage under the organization's own folder, or remove it (`data=None`). The
    change of the record is audited like every patient edit (the row's trigger); the old file
    is deleted once the change is committed."""
    if patient.archived_at is not None:
        raise Conflict(
            _("This patient is archived; restore the record to change it."), code="archived"
        )
    name = ""
    if data is not None:
        if not data:
            message = _("Choose a photo to upload.")
            raise ValidationFailed(message, details={"photo": [message]})
        if len(data) > PHOTO_MAX_BYTES:
            message = _("The photo is too large: at most 2 MB.")
            raise ValidationFailed(message, code="photo_too_large", details={"photo": [message]})
        content_type = photo_kind(data)
        if content_type is None:
            message = _("The photo must be a PNG, JPEG or WebP image.")
            raise ValidationFailed(message, code="photo_type", details={"photo": [message]})
        name = default_storage.save(
            f"organizations/{actor.organization_id}/patients/{patient.id}-"
            f"{uuid.uuid4().hex[:12]}.{PHOTO_TYPES[content_type]}",
            ContentFile(data),
        )
    with transaction.atomic():
        locked = Patient.objects.select_for_update().get(id=patient.id)
        previous = locked.photo
        locked.photo = name
        locked.save(update_fields=["photo", "updated_at"])
        if previous:
            # only once the new name is committed: a rolled-back change keeps the old file
            transaction.on_commit(lambda: default_storage.delete(previous))
    patient.photo = name
    return patient


def patient_photo_open(patient: Patient) -> tuple[bytes, str] | None:
    """The photo's bytes and content type, for the authorised view; None when there is none."""
    if not patient.photo or not default_storage.exists(patient.photo):
        return None
    with default_storage.open(patient.photo, "rb") as handle:
        data = handle.read()
    content_type = photo_kind(data)
    return (data, content_type) if content_type else None


def patient_access_record(*, actor: Membership, patient: Patient) -> None:
    """A read of a patient's record is an audit event (who looked at whom)."""
    audit_record(
        action="patient.view",
        organization_id=actor.organization_id,
        actor_id=actor.user_id,
        object_type="directory_patient",
        object_id=str(patient.id),
    )


# --- medical record numbers --------------------------------------------------------------------

MRN_PREFIX = "P"
_GENERATED_MRN = re.compile(r"^P(\d{1,15})$")


def _mrn_format(number: int) -> str:
    return f"{MRN_PREFIX}{number:06d}"


def _sequence_bump(org_id, *, by: int = 0, at_least: int = 0) -> int:
    """Advance the organization's MRN counter; returns the new last value. The row lock it takes
    serialises concurrent allocations in one organization until commit."""
    with connection.cursor() as cur:
        cur.execute(
            "INSERT INTO directory_mrnsequence (id, organization_id, last_value) "
            "VALUES (%s, %s, GREATEST(%s, %s)) "
            "ON CONFLICT (organization_id) DO UPDATE SET last_value = "
            "GREATEST(directory_mrnsequence.last_value + %s, %s) RETURNING last_value",
            [uuid.uuid4(), org_id, by, at_least, by, at_least],
        )
        return cur.fetchone()[0]


def mrn_allocate(count: int) -> list[str]:
    """`count` new medical record numbers ("P000042"), skipping any already taken (imported)."""
    from clinic.core.tenancy import require_org_id

    org_id = require_org_id()
    out: list[str] = []
    while len(out) < count:
        need = count - len(out)
        last = _sequence_bump(org_id, by=need)
        candidates = [_mrn_format(n) for n in range(last - need + 1, last + 1)]
        taken = set(Patient.objects.filter(mrn__in=candidates).values_list("mrn", flat=True))
        out.extend(c for c in candidates if c not in taken)
    return out


def mrn_observe(mrns: Iterable[str]) -> None:
    """Given MRNs that look generated ("P000123") move the counter past them."""
    from clinic.core.tenancy import require_org_id

    highest = 0
    for mrn in mrns:
        match = _GENERATED_MRN.match(mrn or "")
        if match:
            highest = max(highest, int(match.group(1)))
    if highest:
        _sequence_bump(require_org_id(), by=0, at_least=highest)


# --- contacts ----------------------------------------------------------------------------------

CONTACT_FIELDS: dict[str, Cleaner] = {
    "given_name": _text(100),
    "family_name": _text(100),
    "phone": lambda v, c: clean_phone(v, region=c.region),
    "email": lambda v, c: clean_email(v),
    "preferred_language": lambda v, c: clean_choice(v, LANGUAGES, blank=True),
    "notes": _text(5000, multiline=True),
    "membership_id": _membership_ref,
    **ADDRESS_FIELDS,
}


def _contact_rules(state: Mapping[str, Any], errors: FieldErrors) -> None:
    if not state.get("given_name") and not state.get("family_name"):
        if "family_name" not in errors.errors:
            errors.add("family_name", _("A contact needs a given name or a family name."))


def contact_clean(data: Mapping[str, Any], ctx: Ctx, errors: FieldErrors) -> dict[str, Any]:
    values = _clean(data, CONTACT_FIELDS, ctx, errors)
    _contact_rules(values, errors)
    return values


def contact_create(*, actor: Membership, data: Mapping[str, Any]) -> Contact:
    errors = FieldErrors()
    values = contact_clean(data, ctx_for(actor.organization), errors)
    errors.raise_if_any(_("The contact is not valid."))
    with transaction.atomic():
        contact = Contact(organization_id=actor.organization_id, **values)
        with _database_refusals():
            contact.save(force_insert=True)
    return contact


def contact_update(*, actor: Membership, contact: Contact, data: Mapping[str, Any]) -> Contact:
    if contact.archived_at is not None:
        raise Conflict(_("This contact is archived; restore it to change it."), code="archived")
    errors = FieldErrors()
    values = _clean(data, CONTACT_FIELDS, ctx_for(actor.organization), errors)
    state = {name: getattr(contact, name) for name in CONTACT_FIELDS}
    state.update(values)
    _contact_rules(state, errors)
    errors.raise_if_any(_("The contact is not valid."))
    with transaction.atomic():
        _save_changes(contact, _assign(contact, values))
    return contact


def contact_archive(*, actor: Membership, contact: Contact) -> Contact:
    """Archived contacts leave pickers and default lists; their links to patients stay."""
    with transaction.atomic():
        if contact.archived_at is None:
            contact.archived_at = timezone.now()
            contact.save(update_fields=["archived_at", "updated_at"])
    return contact


def contact_restore(*, actor: Membership, contact: Contact) -> Contact:
    with transaction.atomic():
        if contact.archived_at is not None:
            contact.archived_at = None
            contact.save(update_fields=["archived_at", "updated_at"])
    return contact


# --- patient ↔ contact links -------------------------------------------------------------------

LINK_FIELDS: dict[str, Cleaner] = {
    "relationship": lambda v, c: clean_choice(v, Relationship.choices),
    "is_primary": lambda v, c: clean_bool(v),
    "may_receive_clinical_info": lambda v, c: clean_bool(v),
}

_HUMAN_ONLY = {Relationship.PARENT, Relationship.LEGAL_GUARDIAN}
_ANIMAL_ONLY = {Relationship.OWNER}


def _relationship_fits(patient: Patient, relationship: str | None, errors: FieldErrors) -> None:
    if relationship is None:
        return
    if patient.species and relationship in _HUMAN_ONLY:
        errors.add("relationship", _("An animal patient has owners, not parents or guardians."))
    if not patient.species and relationship in _ANIMAL_ONLY:
        errors.add(
            "relationship", _("Only animal patients have owners; use parent or legal guardian.")
        )


def _primary_clear(patient: Patient, exclude_id=None) -> None:
    for link in PatientContact.objects.filter(patient=patient, is_primary=True).exclude(
        id=exclude_id
    ):
        link.is_primary = False
        link.save(update_fields=["is_primary"])


def patient_contact_add(
    *, actor: Membership, patient: Patient, data: Mapping[str, Any]
) -> PatientContact:
    """Link an existing contact (`contact_id`) or a new one (`contact`: its fields) to a patient.
    Making a link primary takes the flag from the patient's previous primary contact."""
    if patient.archived_at is not None:
        raise Conflict(
            _("This patient is archived; restore the record to change it."), code="archived"
        )
    data = dict(data)
    errors = FieldErrors()
    ctx = ctx_for(actor.organization)
    contact_id = data.pop("contact_id", None)
    contact_data = data.pop("contact", None)
    values = _clean(data, LINK_FIELDS, ctx, errors, required=["relationship"])
    values.setdefault("is_primary", False)
    values.setdefault("may_receive_clinical_info", False)
    _relationship_fits(patient, values.get("relationship"), errors)
    contact: Contact | None = None
    new_contact: dict[str, Any] | None = None
    if (contact_id in (None, "")) == (contact_data in (None, {})):
        errors.add(
            "contact_id", _("Give either contact_id (an existing contact) or contact (a new one).")
        )
    elif contact_id not in (None, ""):
        try:
            contact = Contact.objects.filter(id=_uuid(contact_id)).first()
        except FieldInvalid as exc:
            errors.add("contact_id", exc.message)
        else:
            if contact is None:
                errors.add("contact_id", _("No such contact."))
            elif contact.archived_at is not None:
                errors.add("contact_id", _("This contact is archived."))
    else:
        if not isinstance(contact_data, Mapping):
            errors.add("contact", _("An object with the contact's fields is expected."))
        else:
            sub = FieldErrors()
            new_contact = contact_clean(contact_data, ctx, sub)
            for name, messages in sub.errors.items():
                for message in messages:
                    errors.add(f"contact.{name}", message)
    errors.raise_if_any(_("The contact link is not valid."))
    with transaction.atomic():
        if contact is None:
            contact = Contact(organization_id=actor.organization_id, **(new_contact or {}))
            with _database_refusals():
                contact.save(force_insert=True)
        elif PatientContact.objects.filter(
            patient=patient, contact=contact, relationship=values["relationship"]
        ).exists():
            message = _("This contact already has this relationship with the patient.")
            raise Conflict(message, details={"relationship": [message]})
        if values["is_primary"]:
            _primary_clear(patient)
        link = PatientContact(
            organization_id=actor.organization_id, patient=patient, contact=contact, **values
        )
        with _database_refusals():
            link.save(force_insert=True)
    return link


def patient_contact_update(
    *, actor: Membership, link: PatientContact, data: Mapping[str, Any]
) -> PatientContact:
    errors = FieldErrors()
    values = _clean(data, LINK_FIELDS, ctx_for(actor.organization), errors)
    for name in ("relationship", "is_primary", "may_receive_clinical_info"):
        if name in data and data[name] is None and name not in errors.errors:
            errors.add(name, _("This field is required."))
    _relationship_fits(link.patient, values.get("relationship"), errors)
    errors.raise_if_any(_("The contact link is not valid."))
    with transaction.atomic():
        if values.get("relationship") not in (None, link.relationship) and (
            PatientContact.objects.filter(
                patient_id=link.patient_id,
                contact_id=link.contact_id,
                relationship=values["relationship"],
            ).exists()
        ):
            message = _("This contact already has this relationship with the patient.")
            raise Conflict(message, details={"relationship": [message]})
        if values.get("is_primary") and not link.is_primary:
            _primary_clear(link.patient, exclude_id=link.id)
        changed = _assign(link, values)
        if changed:
            with _database_refusals():
                link.save(update_fields=changed)
    return link


def patient_contact_remove(*, actor: Membership, link: PatientContact) -> None:
    """Unlink (the contact stays; the audit log keeps the link's history)."""
    with transaction.atomic():
        link.delete()
