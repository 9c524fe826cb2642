"""Every non-trivial read of the directory: tenant-scoped (the managers filter on the current
organization, row-level security is the second wall), N+1-free (lists prefetch what their rows
show, so a page costs the same number of queries whatever its size).

Access helpers (`patient_for_actor`, ...) fetch and authorise in one call and raise `NotFound` for
anything the caller may not see, including other clinics' rows.
"""

from __future__ import annotations

import re
import unicodedata
import uuid
from dataclasses import dataclass
from datetime import date
from typing import Any

from django.contrib.postgres.expressions import ArraySubquery
from django.db import connection
from django.db.models import (
    Case,
    Count,
    F,
    FloatField,
    Prefetch,
    Q,
    QuerySet,
    UUIDField,
    Value,
    When,
    Window,
)
from django.db.models.functions import Lower
from django.db.models.lookups import Contains, Lookup
from django.utils.translation import gettext as _

from clinic.accounts.models import Membership
from clinic.accounts.roles import Role
from clinic.core.errors import NotFound, ValidationFailed
from clinic.directory.models import (
    CONTACT_NAME_WORDS,
    PATIENT_NAME_WORDS,
    RESPONSIBLE_RELATIONSHIPS,
    Contact,
    ImmutableUnaccent,
    Location,
    Patient,
    PatientContact,
    PatientImport,
    Practitioner,
    Room,
    SearchFold,
    Service,
)

STATUSES = ("active", "archived", "all")


def _uuid_or_none(value: Any) -> uuid.UUID | None:
    try:
        return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))
    except (ValueError, TypeError, AttributeError):
        return None


def _order(
    qs: QuerySet, sort: str | None, orderings: dict[str, tuple[str, ...]], default: str
) -> QuerySet:
    key = sort or default
    if key not in orderings:
        raise ValidationFailed(
            _("Unknown sort order %(sort)s.") % {"sort": key},
            details={"sort": [_("one of: %s") % ", ".join(orderings)]},
        )
    return qs.order_by(*orderings[key], "id")


def _active_filter(qs: QuerySet, status: str | None, *, flag: str = "is_active") -> QuerySet:
    status = status or "active"
    if flag == "is_active":
        if status == "active":
            return qs.filter(is_active=True)
        if status == "archived":
            return qs.filter(is_active=False)
        return qs
    if status == "active":
        return qs.filter(archived_at__isnull=True)
    if status == "archived":
        return qs.filter(archived_at__isnull=False)
    return qs


# --- search ------------------------------------------------------------------------------------

_NON_WORD = re.compile(r"[\W_]+")
_PHONE_CHARS = re.compile(r"^[\d\s+\-.()/]+$")
MAX_TOKENS = 6


def search_tokens(query: str | None) -> list[str]:
    """Words of a query (NFC, split on anything that is not a letter or digit)."""
    text = unicodedata.normalize("NFC", query or "").strip()[:200]
    return [t[:40] for t in _NON_WORD.split(text) if t][:MAX_TOKENS]


_TOP = "\U0010ffff"  # sorts after any character: [p, p + _TOP) holds every string starting p


class _AnyLookup(Lookup):
    """`field__any=<array expression>` → `field = ANY(<array>)`."""

    lookup_name = "any"

    def as_sql(self, compiler, connection):
        lhs, lhs_params = self.process_lhs(compiler, connection)
        rhs, rhs_params = self.process_rhs(compiler, connection)
        return f"{lhs} = ANY({rhs})", [*lhs_params, *rhs_params]


UUIDField.register_lookup(_AnyLookup)


def search_words(query: str | None) -> list[str]:
    """The query's words folded exactly as the stored name words are (lower-case, unaccented),
    by PostgreSQL's own function: one query, so the match never depends on Python's idea of
    accents."""
    tokens = search_tokens(query)
    if not tokens:
        return []
    with connection.cursor() as cur:
        cur.execute(
            "SELECT btrim(directory_search_fold(t)) FROM unnest(%s::text[]) "
            "WITH ORDINALITY AS q(t, i) ORDER BY i",
            [tokens],
        )
        words = [w for (folded,) in cur.fetchall() for w in folded.split(" ") if w]
    return list(dict.fromkeys(words))[:MAX_TOKENS]


def _prefix(field: str, prefix: str) -> Q:
    """`field` starts with `prefix`, as a range on a "C"-collated btree index. Text comparisons
    are leakproof, so PostgreSQL uses the index under row-level security (it will not for LIKE
    or pg_trgm operators), and the range gives the planner real selectivity estimates."""
    return Q(**{f"{field}__gte": prefix, f"{field}__lt": prefix + _TOP})


def _words_match(words: list[str], columns: int) -> Q:
    """Every query word starts one of the name words (`name_word1..n`, generated columns)."""
    condition = Q()
    for word in words:
        any_column = Q()
        for k in range(1, columns + 1):
            any_column |= _prefix(f"name_word{k}", word)
        condition &= any_column
    return condition


def _whole_word(word: str, columns: int) -> Q:
    condition = Q()
    for k in range(1, columns + 1):
        condition |= Q(**{f"name_word{k}": word})
    return condition


def phone_prefixes(query: str, region: str | None) -> list[str]:
    """E.164 prefixes a phone-like query may be the start of, or [] if it is not phone-like.
    "06 12 34" in a French clinic → ["+3361234"]; "+44 20" → ["+4420"]; "0044 20" → ["+4420"];
    "61234" → ["+3361234", "+61234"]."""
    text = query.strip()
    if not _PHONE_CHARS.match(text):
        return []
    digits = re.sub(r"\D", "", text)
    country = None
    if region:
        import phonenumbers

        country = phonenumbers.country_code_for_region(region) or None
    if text.startswith("+"):
        prefixes = ["+" + digits]
    elif text.startswith("00"):
        prefixes = ["+" + digits[2:]]
    elif digits.startswith("0"):
        prefixes = [f"+{country}{digits.lstrip('0')}"] if country else []
    else:
        prefixes = ([f"+{country}{digits}"] if country else []) + ["+" + digits]
    return [p for p in prefixes if len(p) >= 4]


def _identifier(query: str) -> str:
    return re.sub(r"[\s\-.]", "", query.strip()).upper()


_CLINIC_REGION = object()


def _current_region() -> str | None:
    from clinic.accounts.models import Organization
    from clinic.core.tenancy import require_org_id
    from clinic.directory.validation import region_for_time_zone

    zone = (
        Organization.objects.filter(id=require_org_id()).values_list("time_zone", flat=True).first()
    )
    return region_for_time_zone(zone)


def patient_search(qs: QuerySet, query: str, *, region: Any = _CLINIC_REGION) -> QuerySet:
    """Patients matching a free-text query, with a `rank` alias (higher is better).

    Matches: every word of the query starts a word of the patient's names (accent- and
    case-insensitive), or of a linked contact's names; the phone (typed nationally or
    internationally, with any spacing); the MRN or microchip (exact or prefix). Candidates come
    from a UNION of btree index range scans, so a search never reads the whole table; ranking
    then orders those rows only. `region` (the clinic's country, for national phone numbers)
    is looked up from the current organization when not given.
    """
    words = search_words(query)
    ident = _identifier(query)
    if region is _CLINIC_REGION:
        region = _current_region() if _PHONE_CHARS.match(query.strip()) else None
    prefixes = phone_prefixes(query, region)
    if not words and not prefixes:
        return qs.none().alias(rank=Value(0.0))

    base = Patient.objects.all()
    branches = []
    name_match = _words_match(words, PATIENT_NAME_WORDS) if words else None
    if name_match is not None:
        branches.append(base.filter(name_match).values("id"))
    contact_patients = None
    if words:
        contacts = Contact.objects.filter(_words_match(words, CONTACT_NAME_WORDS)).values("id")
        contact_patients = PatientContact.objects.filter(contact_id__in=contacts).values(
            "patient_id"
        )
        branches.append(contact_patients)
    ident_match = None
    if len(ident) >= 2 and re.fullmatch(r"[0-9A-Z/]+", ident):
        ident_match = _prefix("mrn", ident) | _prefix("microchip", ident)
        branches.append(base.filter(_prefix("mrn", ident)).values("id"))
        if len(ident) >= 3:
            branches.append(
                base.filter(_prefix("microchip", ident)).exclude(microchip="").values("id")
            )
    phone_match = None
    if prefixes:
        phone_match = Q()
        for prefix in prefixes:
            phone_match |= _prefix("phone", prefix)
        phone_match &= ~Q(phone="")
        branches.append(base.filter(phone_match).values("id"))

    candidates = branches[0].union(*branches[1:]) if len(branches) > 1 else branches[0]
    # `id = ANY(ARRAY(...))` rather than `id IN (...)`: the planner then fetches the candidates
    # by primary key instead of hash-joining them with a scan of the whole table.
    qs = qs.filter(id__any=ArraySubquery(candidates))

    score = Value(0.0)
    if ident_match is not None:
        score = score + Case(
            When(Q(mrn=ident) | Q(microchip=ident), then=Value(100.0)),
            When(ident_match, then=Value(40.0)),
            default=Value(0.0),
            output_field=FloatField(),
        )
    if name_match is not None:
        score = score + Case(
            When(name_match, then=Value(50.0)), default=Value(0.0), output_field=FloatField()
        )
        for word in words:  # whole words beat prefixes: "jean" ranks Jean above Jeanne
            score = score + Case(
                When(_whole_word(word, PATIENT_NAME_WORDS), then=Value(5.0)),
                default=Value(0.0),
                output_field=FloatField(),
            )
    # Patients found through a contact's name only score 0: they come after every name match
    # (not re-checking the contact branch per row keeps broad searches cheap).
    if phone_match is not None:
        score = score + Case(
            When(phone_match, then=Value(30.0)), default=Value(0.0), output_field=FloatField()
        )
    # Best first; callers may order otherwise (patients_list applies the requested sort).
    return qs.alias(rank=score).order_by("-rank", "family_name", "given_name", "id")


def contact_search(qs: QuerySet, query: str, *, region: str | None = None) -> QuerySet:
    words = search_words(query)
    condition = Q(pk__in=[])
    if words:
        condition |= _words_match(words, CONTACT_NAME_WORDS)
    for prefix in phone_prefixes(query, region):
        condition |= _prefix("phone", prefix) & ~Q(phone="")
    if len(query.strip()) >= 3 and "@" in query:
        condition |= Q(email__startswith=query.strip().lower())
    return qs.filter(condition)


def _text_search(qs: QuerySet, query: str | None, *fields: str) -> QuerySet:
    """Simple accent-insensitive "contains every word" search for short lists (locations...)."""
    for token in search_tokens(query):
        condition = Q()
        for name in fields:
            condition |= Q(
                Contains(Lower(ImmutableUnaccent(F(name))), Lower(ImmutableUnaccent(Value(token))))
            )
        qs = qs.filter(condition)
    return qs


# --- patients ----------------------------------------------------------------------------------


def _region(actor: Membership) -> str | None:
    from clinic.directory.validation import region_for_time_zone

    return region_for_time_zone(actor.organization.time_zone)


def patients_visible_to(actor: Membership) -> QuerySet:
    """Staff see every patient of the clinic; a Patient login sees its own record and the
    patients it is responsible for (a parent's children, an owner's animals)."""
    qs = Patient.objects.all()
    if actor.role == Role.PATIENT:
        responsible = PatientContact.objects.filter(
            contact__membership_id=actor.id,
            contact__archived_at__isnull=True,
            relationship__in=RESPONSIBLE_RELATIONSHIPS,
        ).values("patient_id")
        qs = qs.filter(Q(membership_id=actor.id) | Q(id__in=responsible))
    return qs


def patient_for_actor(actor: Membership, patient_id: Any) -> Patient:
    patient_uuid = _uuid_or_none(patient_id)
    patient = (
        patients_visible_to(actor)
        .filter(id=patient_uuid)
        .prefetch_related(_contact_links_prefetch())
        .first()
        if patient_uuid
        else None
    )
    if patient is None:
        raise NotFound(_("Patient not found."))
    return patient


def _contact_links_prefetch() -> Prefetch:
    return Prefetch(
        "contact_links",
        queryset=PatientContact.objects.select_related("contact").order_by(
            "-is_primary", "relationship", "contact__family_name", "contact__given_name", "id"
        ),
    )


PATIENT_ORDERINGS = {
    "relevance": ("-rank", "family_name", "given_name"),
    "name": ("family_name", "given_name"),
    "-name": ("-family_name", "-given_name"),
    "mrn": ("mrn",),
    "-mrn": ("-mrn",),
    "date_of_birth": ("date_of_birth", "family_name"),
    "-date_of_birth": ("-date_of_birth", "family_name"),
    "created_at": ("created_at",),
    "-created_at": ("-created_at",),
}


def patients_list(
    *,
    actor: Membership,
    search: str | None = None,
    status: str | None = "active",
    kind: str | None = None,
    species: str | None = None,
    contact_id: Any = None,
    sort: str | None = None,
) -> QuerySet:
    qs = _active_filter(patients_visible_to(actor), status, flag="archived_at")
    if kind == "human":
        qs = qs.filter(species="")
    elif kind == "animal":
        qs = qs.exclude(species="")
    if species:
        qs = qs.filter(species=species.strip().lower())
    if contact_id:
        qs = qs.filter(contact_links__contact_id=_uuid_or_none(contact_id))
    if search and search.strip():
        qs = patient_search(qs, search, region=_region(actor))
        default = "relevance"
    else:
        default = "name"
        if sort == "relevance":
            sort = "name"
    return _order(qs, sort, PATIENT_ORDERINGS, default).prefetch_related(_contact_links_prefetch())


def patient_duplicates(
    *, given_name: str, family_name: str, date_of_birth: date, exclude_id=None
) -> list[Patient]:
    """Patients (archived included) with the same folded names and date of birth."""
    return list(
        Patient.objects.filter(date_of_birth=date_of_birth)
        .alias(given=SearchFold(F("given_name")), family=SearchFold(F("family_name")))
        .filter(given=SearchFold(Value(given_name)), family=SearchFold(Value(family_name or "")))
        .exclude(id=exclude_id)
        .order_by("created_at")[:10]
    )


def patient_contacts(patient: Patient) -> QuerySet:
    return (
        PatientContact.objects.filter(patient=patient)
        .select_related("contact")
        .order_by("-is_primary", "relationship", "contact__family_name", "id")
    )


def patient_responsible_contacts(patient_id: Any) -> QuerySet:
    """The contacts who may decide for a patient (a parent, a legal guardian, an animal's
    owner), current ones only: who may sign a consent in the patient's name."""
    return (
        Contact.objects.filter(
            archived_at__isnull=True,
            patient_links__patient_id=patient_id,
            patient_links__relationship__in=RESPONSIBLE_RELATIONSHIPS,
        )
        .distinct()
        .order_by("family_name", "given_name", "id")
    )


def patient_contact_for_actor(actor: Membership, patient_id: Any, link_id: Any) -> PatientContact:
    patient = patient_for_actor(actor, patient_id)
    link_uuid = _uuid_or_none(link_id)
    link = (
        PatientContact.objects.filter(patient=patient, id=link_uuid)
        .select_related("contact", "patient")
        .first()
        if link_uuid
        else None
    )
    if link is None:
        raise NotFound(_("Contact link not found."))
    return link


# --- contacts ----------------------------------------------------------------------------------

CONTACT_ORDERINGS = {
    "name": ("family_name", "given_name"),
    "-name": ("-family_name", "-given_name"),
    "created_at": ("created_at",),
    "-created_at": ("-created_at",),
}


def contacts_list(
    *,
    search: str | None = None,
    status: str | None = "active",
    patient_id: Any = None,
    sort: str | None = None,
    region: str | None = None,
) -> QuerySet:
    qs = _active_filter(Contact.objects.all(), status, flag="archived_at")
    if patient_id:
        qs = qs.filter(patient_links__patient_id=_uuid_or_none(patient_id)).distinct()
    if search and search.strip():
        qs = contact_search(qs, search, region=region)
    links = Prefetch(
        "patient_links",
        queryset=PatientContact.objects.select_related("patient").order_by(
            "patient__family_name", "patient__given_name", "id"
        ),
    )
    return _order(qs, sort, CONTACT_ORDERINGS, "name").prefetch_related(links)


def contact_for_actor(actor: Membership, contact_id: Any) -> Contact:
    contact_uuid = _uuid_or_none(contact_id)
    contact = None
    if contact_uuid and actor.has("contact.view"):
        links = Prefetch(
            "patient_links",
            queryset=PatientContact.objects.select_related("patient").order_by(
                "patient__family_name", "patient__given_name", "id"
            ),
        )
        contact = Contact.objects.filter(id=contact_uuid).prefetch_related(links).first()
    if contact is None:
        raise NotFound(_("Contact not found."))
    return contact


# --- places, people, services ------------------------------------------------------------------

LOCATION_ORDERINGS = {
    "name": ("name",),
    "-name": ("-name",),
    "created_at": ("created_at",),
    "-created_at": ("-created_at",),
}


def locations_list(
    *, search: str | None = None, status: str | None = "active", sort: str | None = None
) -> QuerySet:
    qs = _active_filter(Location.objects.all(), status)
    qs = _text_search(qs, search, "name", "city", "address_line1")
    qs = qs.annotate(room_count=Count("rooms", filter=Q(rooms__is_active=True)))
    return _order(qs, sort, LOCATION_ORDERINGS, "name")


def location_get(location_id: Any) -> Location:
    location_uuid = _uuid_or_none(location_id)
    location = (
        Location.objects.annotate(room_count=Count("rooms", filter=Q(rooms__is_active=True)))
        .filter(id=location_uuid)
        .first()
        if location_uuid
        else None
    )
    if location is None:
        raise NotFound(_("Location not found."))
    return location


ROOM_ORDERINGS = {
    "name": ("location__name", "name"),
    "-name": ("-location__name", "-name"),
    "capacity": ("capacity", "name"),
    "-capacity": ("-capacity", "name"),
    "created_at": ("created_at",),
    "-created_at": ("-created_at",),
}


def rooms_list(
    *,
    search: str | None = None,
    status: str | None = "active",
    location_id: Any = None,
    kind: str | None = None,
    min_capacity: int | None = None,
    sort: str | None = None,
) -> QuerySet:
    qs = _active_filter(Room.objects.select_related("location"), status)
    if location_id:
        qs = qs.filter(location_id=_uuid_or_none(location_id))
    if kind:
        qs = qs.filter(kind=kind)
    if min_capacity:
        qs = qs.filter(capacity__gte=min_capacity)
    qs = _text_search(qs, search, "name")
    return _order(qs, sort, ROOM_ORDERINGS, "name")


def room_get(room_id: Any) -> Room:
    room_uuid = _uuid_or_none(room_id)
    room = (
        Room.objects.select_related("location").filter(id=room_uuid).first() if room_uuid else None
    )
    if room is None:
        raise NotFound(_("Room not found."))
    return room


def _services_prefetch() -> Prefetch:
    return Prefetch("services", queryset=Service.objects.only("id", "name").order_by("name"))


def _practitioners_prefetch() -> Prefetch:
    return Prefetch(
        "practitioners",
        queryset=Practitioner.objects.only("id", "display_name").order_by("display_name"),
    )


PRACTITIONER_ORDERINGS = {
    "name": ("display_name",),
    "-name": ("-display_name",),
    "created_at": ("created_at",),
    "-created_at": ("-created_at",),
}


def practitioners_list(
    *,
    search: str | None = None,
    status: str | None = "active",
    service_id: Any = None,
    location_id: Any = None,
    specialty: str | None = None,
    discipline: str | None = None,
    sort: str | None = None,
) -> QuerySet:
    qs = _active_filter(
        Practitioner.objects.select_related("default_location", "membership__user"), status
    )
    if service_id:
        qs = qs.filter(services__id=_uuid_or_none(service_id))
    if location_id:
        qs = qs.filter(default_location_id=_uuid_or_none(location_id))
    if specialty:
        qs = qs.filter(specialties__contains=[specialty.strip()])
    if discipline:
        qs = qs.filter(discipline__iexact=discipline.strip())
    qs = _text_search(qs, search, "display_name", "discipline")
    return _order(qs, sort, PRACTITIONER_ORDERINGS, "name").prefetch_related(_services_prefetch())


def practitioner_get(practitioner_id: Any) -> Practitioner:
    practitioner_uuid = _uuid_or_none(practitioner_id)
    practitioner = (
        Practitioner.objects.select_related("default_location", "membership__user")
        .prefetch_related(_services_prefetch())
        .filter(id=practitioner_uuid)
        .first()
        if practitioner_uuid
        else None
    )
    if practitioner is None:
        raise NotFound(_("Practitioner not found."))
    return practitioner


SERVICE_ORDERINGS = {
    "name": ("name",),
    "-name": ("-name",),
    "price": ("price", "name"),
    "-price": ("-price", "name"),
    "duration": ("duration_minutes", "name"),
    "-duration": ("-duration_minutes", "name"),
    "code": ("code", "name"),
    "created_at": ("created_at",),
    "-created_at": ("-created_at",),
}


def services_list(
    *,
    search: str | None = None,
    status: str | None = "active",
    modality: str | None = None,
    practitioner_id: Any = None,
    sort: str | None = None,
) -> QuerySet:
    qs = _active_filter(Service.objects.all(), status)
    if modality:
        qs = qs.filter(modality=modality)
    if practitioner_id:
        qs = qs.filter(practitioners__id=_uuid_or_none(practitioner_id))
    qs = _text_search(qs, search, "name", "code")
    return _order(qs, sort, SERVICE_ORDERINGS, "name").prefetch_related(_practitioners_prefetch())


def service_get(service_id: Any) -> Service:
    service_uuid = _uuid_or_none(service_id)
    service = (
        Service.objects.prefetch_related(_practitioners_prefetch()).filter(id=service_uuid).first()
        if service_uuid
        else None
    )
    if service is None:
        raise NotFound(_("Service not found."))
    return service


def staff_memberships() -> QuerySet:
    """Members who may have a practitioner profile (for pickers)."""
    return (
        Membership.objects.select_related("user")
        .filter(is_active=True)
        .exclude(role=Role.PATIENT)
        .order_by("user__full_name", "user__email")
    )


# --- imports -----------------------------------------------------------------------------------


def patient_import_get(import_id: Any) -> PatientImport:
    import_uuid = _uuid_or_none(import_id)
    job = PatientImport.objects.filter(id=import_uuid).first() if import_uuid else None
    if job is None:
        raise NotFound(_("Import not found."))
    return job


def patient_imports_recent(limit: int = 10) -> list[PatientImport]:
    return list(
        PatientImport.objects.defer("content")
        .select_related("created_by")
        .order_by("-created_at")[:limit]
    )


def page_with_total(qs: QuerySet, *, offset: int, limit: int) -> tuple[list, int]:
    """One page and the total number of rows. For a ranked search (every candidate is read to
    rank it anyway) both come from one query with `count(*) OVER ()`, instead of running the
    search twice; other lists count separately (cheap, and a window would defeat LIMIT)."""
    if "rank" not in qs.query.annotations:
        total = qs.count()
        return list(qs[offset : offset + limit]), total
    rows = list(qs.annotate(search_total=Window(Count("id")))[offset : offset + limit])
    if rows:
        return rows, rows[0].search_total
    return [], (qs.count() if offset else 0)


@dataclass(frozen=True)
class Age:
    years: int
    months: int  # beyond the whole years

    @property
    def total_months(self) -> int:
        return self.years * 12 + self.months


def patient_age(date_of_birth: date | None, *, today: date) -> Age | None:
    """Age on `today` (the organization's day, not the server's): whole years and months; a
    birthday on 29 February counts from 1 March in other years."""
    if date_of_birth is None or date_of_birth > today:
        return None
    months = (today.year - date_of_birth.year) * 12 + today.month - date_of_birth.month
    if today.day < date_of_birth.day:
        months -= 1
    return Age(years=months // 12, months=months % 12)
