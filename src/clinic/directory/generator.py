"""Synthetic clinic data at scale: `clinic generate --org-slug bench --practitioners 200
--patients 100000 --seed 1`.

Realistic mix (French, Maghrebi, English names with accents; children with one or two parents;
adults with emergency contacts; animals with owners who often have several), deterministic for a
given seed (names, dates, identifiers and even the row ids come from one random generator).
Patients, contacts and links are written with PostgreSQL COPY (through a staging table) and
set-based INSERTs, in one transaction, under the organization's row-level security; the audit
trigger still records every row.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

import phonenumbers
from django.db import connection
from django.utils import timezone
from django.utils.translation import gettext as _

from clinic.core.errors import Conflict, ValidationFailed
from clinic.core.tenancy import tenant_context

Progress = Callable[[str, int, int], None]
BATCH = 10_000

GIVEN_F = [
    "Hélène",
    "Zoé",
    "Chloé",
    "Léa",
    "Camille",
    "Manon",
    "Inès",
    "Élodie",
    "Noémie",
    "Anaïs",
    "Céline",
    "Maëlle",
    "Juliette",
    "Sophie",
    "Claire",
    "Amélie",
    "Océane",
    "Émilie",
    "Louise",
    "Agnès",
    "Fatima",
    "Yasmine",
    "Amira",
    "Nour",
    "Salma",
    "Leïla",
    "Meryem",
    "Khadija",
    "Aïcha",
    "Emma",
    "Olivia",
    "Charlotte",
    "Grace",
    "Isabelle",
    "Françoise",
    "Geneviève",
    "Bérénice",
    "Thérèse",
    "Marie",
    "Anne",
]
GIVEN_M = [
    "François",
    "Jérôme",
    "Noël",
    "Loïc",
    "Benoît",
    "Théo",
    "Hugo",
    "Lucas",
    "Étienne",
    "Raphaël",
    "Gaël",
    "Mathéo",
    "Clément",
    "Sébastien",
    "Julien",
    "Thomas",
    "Nicolas",
    "Antoine",
    "Jean",
    "Pierre",
    "Mohamed",
    "Youssef",
    "Karim",
    "Mehdi",
    "Rachid",
    "Omar",
    "Ilyes",
    "Hamza",
    "Bilal",
    "Anas",
    "Oliver",
    "George",
    "Henry",
    "James",
    "William",
    "Jean-Pierre",
    "Aurélien",
    "Grégoire",
    "Cédric",
    "Rémi",
]
FAMILY = [
    "Martin",
    "Bernard",
    "Dubois",
    "Thomas",
    "Robert",
    "Richard",
    "Petit",
    "Durand",
    "Leroy",
    "Moreau",
    "Simon",
    "Laurent",
    "Lefèvre",
    "Michel",
    "Garcia",
    "David",
    "Bertrand",
    "Roux",
    "Vincent",
    "Fournier",
    "Morel",
    "Girard",
    "André",
    "Mercier",
    "Dupont",
    "Lambert",
    "Bonnet",
    "François",
    "Martínez",
    "Légaré",
    "Côté",
    "Gagné",
    "Bélanger",
    "Pelletier",
    "Benali",
    "Benkirane",
    "El Amrani",
    "Haddad",
    "Bouzid",
    "Cherif",
    "Mansouri",
    "Saïdi",
    "Ait Ahmed",
    "Ouali",
    "Zeroual",
    "Smith",
    "Jones",
    "Taylor",
    "Brown",
    "Wilson",
    "O'Connor",
    "Müller",
    "Núñez",
    "Šimek",
    "Brontë",
    "Du Pré",
    "Le Guen",
    "Kerléo",
    "Nguyễn",
    "Østergaard",
]
ANIMAL_NAMES = [
    "Rex",
    "Médor",
    "Félix",
    "Minou",
    "Biscotte",
    "Caramel",
    "Noisette",
    "Oscar",
    "Luna",
    "Milo",
    "Simba",
    "Nala",
    "Rocky",
    "Bella",
    "Chouquette",
    "Pépite",
    "Filou",
    "Loulou",
    "Éclair",
    "Gribouille",
    "Praline",
    "Tigrou",
    "Vanille",
    "Zéphyr",
    "Hercule",
    "Ulysse",
    "Pistache",
    "Réglisse",
    "Moka",
    "Câline",
]
SPECIES = [
    (
        "dog",
        55,
        [
            "Labrador",
            "Berger allemand",
            "Golden retriever",
            "Bouledogue français",
            "Border collie",
            "Beagle",
            "Jack Russell",
            "Teckel",
            "Croisé",
        ],
    ),
    (
        "cat",
        35,
        ["Européen", "Maine coon", "Siamois", "Persan", "Sacré de Birmanie", "Chartreux", "Croisé"],
    ),
    ("rabbit", 4, ["Bélier", "Nain", "Rex"]),
    ("horse", 2, ["Selle français", "Pur-sang", "Poney"]),
    ("bird", 2, ["Perruche", "Canari", "Gris du Gabon"]),
    ("ferret", 1, [""]),
    ("guinea pig", 1, [""]),
]
CITIES = [
    ("Paris", "75011"),
    ("Lyon", "69003"),
    ("Marseille", "13005"),
    ("Lille", "59000"),
    ("Nantes", "44000"),
    ("Bordeaux", "33000"),
    ("Toulouse", "31000"),
    ("Strasbourg", "67000"),
    ("Rennes", "35000"),
    ("Montpellier", "34000"),
]
STREETS = [
    "rue de la République",
    "avenue Jean-Jaurès",
    "boulevard Voltaire",
    "rue Pasteur",
    "place de l'Église",
    "rue des Écoles",
    "chemin des Prés",
    "allée des Tilleuls",
]
SERVICES = [
    # name, code, minutes, price, modality, buffer after
    ("Initial assessment", "97161", 60, "85.00", "in_person", 10),
    ("Follow-up session", "97110", 45, "60.00", "in_person", 5),
    ("Telehealth follow-up", "97110-TH", 30, "45.00", "telehealth", 0),
    ("Home visit", "99341", 60, "110.00", "home_visit", 30),
    ("Speech therapy session", "92507", 45, "65.00", "in_person", 5),
    ("ABA therapy session", "97153", 120, "140.00", "in_person", 15),
    ("Group skills session", "97154", 90, "35.00", "in_person", 15),
    ("Psychotherapy, 53 minutes", "90837", 53, "95.00", "in_person", 7),
    ("Vaccination", "VAC", 15, "45.00", "in_person", 5),
    ("General consultation (animal)", "CONS-V", 30, "55.00", "in_person", 5),
    ("Dental scaling", "DENT", 60, "180.00", "in_person", 15),
    ("Spay/neuter surgery", "SURG-N", 90, "250.00", "in_person", 30),
]
DISCIPLINES = [
    ("Physiotherapy", ["sports injuries", "back pain", "neurology", "paediatrics"]),
    ("Speech therapy", ["stuttering", "aphasia", "paediatrics"]),
    ("Psychology", ["anxiety", "trauma", "couples", "adolescents"]),
    ("Behaviour analysis", ["autism", "early intervention"]),
    ("Veterinary medicine", ["surgery", "dentistry", "exotics", "dermatology"]),
]
COLOURS = [
    "#0b63c5",
    "#d1495b",
    "#2a9d8f",
    "#e9c46a",
    "#6a4c93",
    "#f4a261",
    "#264653",
    "#8ab17d",
    "#e76f51",
    "#457b9d",
]


@dataclass
class GenerateResult:
    organization_id: uuid.UUID
    slug: str
    locations: int = 0
    rooms: int = 0
    services: int = 0
    practitioners: int = 0
    patients: int = 0
    animals: int = 0
    contacts: int = 0
    links: int = 0
    seconds: float = 0.0
    owner_email: str = ""
    extra: dict = field(default_factory=dict)


class _Ids:
    """uuid4-shaped ids from a seeded generator (deterministic row ids)."""

    def __init__(self, rng: random.Random):
        self.rng = rng

    def __call__(self) -> uuid.UUID:
        return uuid.UUID(int=self.rng.getrandbits(128), version=4)


def _fold_ascii(text: str) -> str:
    import unicodedata

    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if c.isascii() and (c.isalnum())).lower()


def _copy(
    table: str, columns: list[str], rows, progress: Progress | None, label: str, total: int
) -> int:
    """Bulk-insert rows: COPY into a temporary staging table (PostgreSQL refuses COPY FROM into
    a table under row-level security), then INSERT ... SELECT in batches, so the policy's
    WITH CHECK still applies to every row."""
    staging = f"staging_{table}"
    cols = ", ".join(columns)
    count = 0
    with connection.cursor() as cur:
        cur.execute(
            f"CREATE TEMP TABLE IF NOT EXISTS {staging} "
            f"(LIKE {table} INCLUDING DEFAULTS) ON COMMIT DROP"
        )
        for start in range(0, len(rows), BATCH):
            batch = rows[start : start + BATCH]
            with cur.cursor.copy(f"COPY {staging} ({cols}) FROM STDIN") as copy:
                for row in batch:
                    copy.write_row(row)
            cur.execute(f"INSERT INTO {table} ({cols}) SELECT {cols} FROM {staging}")
            cur.execute(f"TRUNCATE {staging}")
            count += len(batch)
            if progress:
                progress(label, count, total)
    if progress and not rows:
        progress(label, 0, 0)
    return count


def statistics_refresh() -> bool:
    """ANALYZE the directory tables after a bulk load, so the planner knows the new data.
    Only a table's owner may, so this goes through the owner connection, after the commit
    (skipped inside an enclosing transaction, e.g. a test's, which it could not see)."""
    from django.db import connections

    if connection.in_atomic_block or "owner" not in connections:
        return False
    owner = connections["owner"]
    with owner.cursor() as cur:
        for table in ("directory_patient", "directory_contact", "directory_patientcontact"):
            cur.execute(f"ANALYZE {table}")
    owner.close()
    return True


def generate(
    *,
    org_slug: str,
    practitioners: int = 20,
    patients: int = 1000,
    seed: int = 1,
    progress: Progress | None = None,
    owner_password: str | None = None,
) -> GenerateResult:
    """Create (or fill an empty) organization with synthetic directory data."""
    import time

    from clinic.accounts.models import Membership
    from clinic.accounts.selectors import organization_by_slug
    from clinic.accounts.services import (
        membership_create,
        organization_create,
        user_get_or_create,
    )
    from clinic.directory.models import Patient

    if practitioners < 0 or patients < 0 or practitioners > 10_000 or patients > 5_000_000:
        raise ValidationFailed(
            _("Counts out of range."),
            details={"patients": ["0..5,000,000"], "practitioners": ["0..10,000"]},
        )
    started = time.monotonic()
    rng = random.Random(seed)
    # Row ids are deterministic too, per seed and organization (ids are global keys).
    new_id = _Ids(random.Random(f"{seed}:{org_slug}"))
    org = organization_by_slug(org_slug)
    if org is None:
        org = organization_create(
            slug=org_slug,
            name=f"{org_slug.replace('-', ' ').title()} Clinic",
            time_zone="Europe/Paris",
            currency="EUR",
            default_locale="fr",
        )
    result = GenerateResult(organization_id=org.id, slug=org.slug)
    with tenant_context(org.id):
        if Patient.objects.exists():
            raise Conflict(
                _("Organization %(slug)s already has patients; generate into a new slug.")
                % {"slug": org_slug},
                details={"org_slug": [_("already has data")]},
            )
        owner = Membership.objects.filter(role="owner").select_related("user", "organization")
        owner = owner.first()
        if owner is None:
            user, _created = user_get_or_create(
                email=f"owner@{org_slug}.example", password=owner_password, full_name="Owner"
            )
            membership_create(organization=org, user=user, role="owner")
            owner = Membership.objects.select_related("user", "organization").get(user=user)
        result.owner_email = owner.user.email
        _generate_in_tenant(org, owner, rng, new_id, practitioners, patients, result, progress)
    statistics_refresh()
    result.seconds = time.monotonic() - started
    return result


def _generate_in_tenant(org, owner, rng, new_id, n_practitioners, n_patients, result, progress):
    from clinic.accounts.models import Membership
    from clinic.accounts.services import membership_create, user_get_or_create
    from clinic.directory import services
    from clinic.directory.models import (
        Practitioner,
        PractitionerService,
        Room,
        Service,
    )

    now = timezone.now()
    # --- places and services: few rows, through the services (same rules as the API) ---------
    n_locations = max(2, n_practitioners // 25)
    locations = []
    for i in range(n_locations):
        city, postal = CITIES[i % len(CITIES)]
        name = f"{city} {'Centre' if i < len(CITIES) else i + 1}"
        location = services.location_create(
            actor=owner,
            data={
                "name": name,
                "address_line1": f"{rng.randint(1, 120)} {rng.choice(STREETS)}",
                "city": city,
                "postal_code": postal,
                "country": "FR",
                "phone": f"+3314{rng.randint(1000000, 9999999)}",
            },
        )
        locations.append(location)
    kinds = ["treatment", "consultation", "group", "kennel", "surgery"]
    rooms = [
        Room(
            id=new_id(),
            organization_id=org.id,
            location=loc,
            name=f"Room {j + 1}",
            kind=kinds[j % len(kinds)],
            capacity=8 if kinds[j % len(kinds)] == "group" else 1,
            created_at=now,
            updated_at=now,
        )
        for loc in locations
        for j in range(4)
    ]
    Room.objects.bulk_create(rooms)
    service_rows = []
    for name, code, minutes, price, modality, after in SERVICES:
        service_rows.append(
            Service(
                id=new_id(),
                organization_id=org.id,
                name=name,
                code=code,
                duration_minutes=minutes,
                buffer_after_minutes=after,
                price=Decimal(price),
                tax_rate=Decimal("0.00"),
                modality=modality,
                colour=rng.choice(COLOURS),
                created_at=now,
                updated_at=now,
            )
        )
    Service.objects.bulk_create(service_rows)
    result.locations, result.rooms, result.services = len(locations), len(rooms), len(service_rows)

    # --- practitioners: a login (membership) each, profiles and services in bulk ---------------
    profiles = []
    for i in range(n_practitioners):
        given = rng.choice(GIVEN_F + GIVEN_M)
        family = rng.choice(FAMILY)
        email = f"{_fold_ascii(given)}.{_fold_ascii(family)}.{i + 1}@{org.slug}.example"
        user, _created = user_get_or_create(
            email=email, password=None, full_name=f"{given} {family}"
        )
        membership = Membership.objects.filter(user=user).first() or membership_create(
            organization=org, user=user, role="practitioner"
        )
        discipline, specialties = rng.choice(DISCIPLINES)
        profiles.append(
            Practitioner(
                id=new_id(),
                organization_id=org.id,
                membership=membership,
                display_name=f"{given} {family}",
                discipline=discipline,
                credentials=[
                    {
                        "kind": "licence",
                        "number": f"{rng.randint(10, 99)}-{rng.randint(100000, 999999)}",
                        "issuer": "",
                    }
                ],
                specialties=rng.sample(specialties, k=rng.randint(1, min(2, len(specialties)))),
                colour=rng.choice(COLOURS),
                default_location=rng.choice(locations),
                created_at=now,
                updated_at=now,
            )
        )
        if progress and (i + 1) % 50 == 0:
            progress("staff", i + 1, n_practitioners)
    Practitioner.objects.bulk_create(profiles)
    links = []
    for profile in profiles:
        for service in rng.sample(service_rows, k=rng.randint(3, 6)):
            links.append(
                PractitionerService(
                    id=new_id(), organization_id=org.id, practitioner=profile, service=service
                )
            )
    PractitionerService.objects.bulk_create(links)
    result.practitioners = len(profiles)
    if progress and n_practitioners:
        progress("staff", n_practitioners, n_practitioners)

    # --- patients, contacts, links: COPY ----------------------------------------------------
    patients, contacts, patient_links = _people(org, rng, new_id, n_patients, now)
    result.patients = len(patients)
    result.animals = sum(1 for p in patients if p[PATIENT_COLUMNS.index("species")])
    _copy("directory_patient", PATIENT_COLUMNS, patients, progress, "patients", len(patients))
    result.contacts = _copy(
        "directory_contact", CONTACT_COLUMNS, contacts, progress, "contacts", len(contacts)
    )
    result.links = _copy(
        "directory_patientcontact",
        LINK_COLUMNS,
        patient_links,
        progress,
        "links",
        len(patient_links),
    )
    if patients:
        services._sequence_bump(org.id, by=0, at_least=len(patients))


PATIENT_COLUMNS = [
    "id",
    "organization_id",
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
    "notes",
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
    "created_at",
    "updated_at",
]
CONTACT_COLUMNS = [
    "id",
    "organization_id",
    "given_name",
    "family_name",
    "phone",
    "email",
    "preferred_language",
    "notes",
    "address_line1",
    "address_line2",
    "city",
    "postal_code",
    "region",
    "country",
    "created_at",
    "updated_at",
]
LINK_COLUMNS = [
    "id",
    "organization_id",
    "patient_id",
    "contact_id",
    "relationship",
    "is_primary",
    "may_receive_clinical_info",
    "created_at",
]


def _people(org, rng: random.Random, new_id, n_patients: int, now):
    """Rows for patients, contacts and their links (tuples in the COPY column order)."""
    today = date.today()
    patients: list[tuple] = []
    contacts: list[tuple] = []
    links: list[tuple] = []
    used_phones: set[str] = set()
    used_chips: set[str] = set()
    languages = ["fr"] * 7 + ["en"] * 2 + ["ar"]

    def phone() -> str:
        while True:
            number = f"+33{rng.choice('67')}{rng.randint(0, 99_999_999):08d}"
            if number not in used_phones and phonenumbers.is_valid_number(
                phonenumbers.parse(number)
            ):
                used_phones.add(number)
                return number

    def address():
        city, postal = rng.choice(CITIES)
        return (f"{rng.randint(1, 200)} {rng.choice(STREETS)}", "", city, postal, "", "FR")

    def contact(family: str | None = None) -> tuple[uuid.UUID, str, str]:
        given = rng.choice(GIVEN_F + GIVEN_M)
        family = family or rng.choice(FAMILY)
        contact_id = new_id()
        email = f"{_fold_ascii(given)}.{_fold_ascii(family)}{rng.randint(1, 9999)}@example.org"
        contacts.append(
            (
                contact_id,
                org.id,
                given,
                family,
                phone(),
                email,
                rng.choice(languages),
                "",
                *address(),
                now,
                now,
            )
        )
        return contact_id, given, family

    def link(patient_id, contact_id, relationship, primary):
        links.append(
            (
                new_id(),
                org.id,
                patient_id,
                contact_id,
                relationship,
                primary,
                relationship in ("parent", "legal_guardian", "owner"),
                now,
            )
        )

    def dob(min_age: int, max_age: int) -> date:
        return today - timedelta(days=rng.randint(min_age * 365, max_age * 365 + 364))

    owners: list[tuple[uuid.UUID, str]] = []
    for n in range(1, n_patients + 1):
        patient_id = new_id()
        mrn = f"P{n:06d}"
        roll = rng.random()
        if roll < 0.30:  # an animal, with an owner (often one who already has animals here)
            species, _weight, breeds = rng.choices(SPECIES, weights=[s[1] for s in SPECIES])[0]
            if owners and rng.random() < 0.35:
                owner_id, owner_family = rng.choice(owners)
            else:
                owner_id, _g, owner_family = contact()
                owners.append((owner_id, owner_family))
            chip = ""
            if species in ("dog", "cat", "horse") and rng.random() < 0.85:
                while not chip or chip in used_chips:
                    chip = f"250269{rng.randint(0, 999_999_999):09d}"
                used_chips.add(chip)
            weight = {"dog": (3, 45), "cat": (2, 8), "horse": (300, 700)}.get(species, (0.2, 3))
            patients.append(
                (
                    patient_id,
                    org.id,
                    mrn,
                    rng.choice(ANIMAL_NAMES),
                    owner_family,
                    "",
                    dob(0, 18) if rng.random() < 0.9 else None,
                    rng.choice(["female", "male"]),
                    "",
                    "",
                    "",
                    "fr",
                    "",
                    species,
                    rng.choice(breeds),
                    chip,
                    Decimal(str(round(rng.uniform(*weight), 2))),
                    rng.random() < 0.6,
                    "",
                    "",
                    "",
                    "",
                    "",
                    "",
                    now,
                    now,
                )
            )
            link(patient_id, owner_id, "owner", True)
            continue
        female = rng.random() < 0.52
        given = rng.choice(GIVEN_F if female else GIVEN_M)
        child = roll < 0.45
        family = rng.choice(FAMILY)
        email = (
            ""
            if child
            else (
                f"{_fold_ascii(given)}.{_fold_ascii(family)}{n}@example.org"
                if rng.random() < 0.8
                else ""
            )
        )
        patients.append(
            (
                patient_id,
                org.id,
                mrn,
                given,
                family,
                "",
                dob(2, 17) if child else dob(18, 95),
                "female" if female else "male",
                "",
                "" if child else phone(),
                email,
                rng.choice(languages),
                "",
                "",
                "",
                "",
                None,
                None,
                *address(),
                now,
                now,
            )
        )
        if child:
            first, _g, _f = contact(family)
            link(patient_id, first, "parent", True)
            if rng.random() < 0.6:
                second, _g, _f = contact(family if rng.random() < 0.7 else None)
                link(patient_id, second, "parent", False)
        elif rng.random() < 0.15:
            emergency, _g, _f = contact()
            link(patient_id, emergency, "emergency_contact", True)
    return patients, contacts, links
