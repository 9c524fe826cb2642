"""The directory part of the demo clinic (`clinic demo`): two locations, three rooms, six
services, four practitioners (each with a login, services and a default location: ready for
weekly availability), and 50 patients, some children with their parents, a few animals with
their owners. Written through the services, deterministic, idempotent."""

from __future__ import annotations

import random
from datetime import date, timedelta

import phonenumbers

from clinic.accounts.models import Membership, Organization
from clinic.accounts.roles import Role
from clinic.directory import services
from clinic.directory.models import Location

SERVICES = [
    ("Initial assessment", "97161", 60, "85.00", "in_person", 10, "#0b63c5"),
    ("Follow-up session", "97110", 45, "60.00", "in_person", 5, "#2a9d8f"),
    ("Telehealth follow-up", "97110-TH", 30, "45.00", "telehealth", 0, "#6a4c93"),
    ("Group skills session", "97154", 90, "35.00", "in_person", 15, "#e9c46a"),
    ("Vaccination", "VAC", 15, "45.00", "in_person", 5, "#d1495b"),
    ("Animal consultation", "CONS-V", 30, "55.00", "in_person", 5, "#f4a261"),
]
PRACTITIONERS = [
    # email local part (None: the demo's practitioner login), name, discipline, specialties,
    # services (indexes above), location index, colour
    (
        None,
        "Camille Martin",
        "Physiotherapy",
        ["sports injuries", "back pain"],
        [0, 1, 2],
        0,
        "#0b63c5",
    ),
    (
        "karim.haddad",
        "Karim Haddad",
        "Psychology",
        ["anxiety", "adolescents"],
        [0, 1, 2, 3],
        0,
        "#6a4c93",
    ),
    (
        "lea.moreau",
        "Léa Moreau",
        "Speech therapy",
        ["paediatrics", "stuttering"],
        [0, 1, 3],
        1,
        "#2a9d8f",
    ),
    (
        "hugo.petit",
        "Hugo Petit",
        "Veterinary medicine",
        ["dentistry", "surgery"],
        [4, 5],
        1,
        "#d1495b",
    ),
]
GIVEN = [
    "Hélène",
    "Zoé",
    "Noémie",
    "Inès",
    "Chloé",
    "Amélie",
    "Yasmine",
    "Leïla",
    "Emma",
    "François",
    "Jérôme",
    "Loïc",
    "Théo",
    "Raphaël",
    "Mehdi",
    "Youssef",
    "Omar",
    "Oliver",
    "Aurélien",
    "Gaël",
]
FAMILY = [
    "Dupont",
    "Lefèvre",
    "Benali",
    "Haddad",
    "Côté",
    "Gagné",
    "Moreau",
    "Roux",
    "Smith",
    "El Amrani",
    "Légaré",
    "Mercier",
    "Bouzid",
    "O'Connor",
    "Núñez",
]
ANIMALS = [
    ("Rex", "dog", "Beagle"),
    ("Félix", "cat", "Européen"),
    ("Biscotte", "rabbit", "Nain"),
    ("Luna", "dog", "Border collie"),
    ("Minou", "cat", "Siamois"),
    ("Caramel", "dog", "Labrador"),
    ("Praline", "cat", "Maine coon"),
    ("Éclair", "horse", "Selle français"),
]


def directory_demo_create(*, organization: Organization, password: str | None) -> list[str]:
    """Fill the demo organization's directory (the caller has set the tenant). Returns the
    e-mail addresses of the logins it added. Does nothing if the directory is not empty."""
    from clinic.accounts.services import membership_create, user_get_or_create

    if Location.objects.exists():
        return []
    rng = random.Random(2024)
    owner = Membership.objects.select_related("organization").get(
        role=Role.OWNER, user__email=f"owner@{organization.slug}.example"
    )
    centre = services.location_create(
        actor=owner,
        data={
            "name": "Centre",
            "address_line1": "12 rue de la République",
            "postal_code": "75011",
            "city": "Paris",
            "country": "FR",
            "phone": "01 43 55 00 00",
        },
    )
    north = services.location_create(
        actor=owner,
        data={
            "name": "Annexe Nord",
            "address_line1": "3 place de la Gare",
            "postal_code": "59000",
            "city": "Lille",
            "country": "FR",
            "phone": "03 20 00 00 00",
        },
    )
    services.room_create(actor=owner, data={"location_id": centre.id, "name": "Salle 1"})
    services.room_create(
        actor=owner,
        data={"location_id": centre.id, "name": "Salle de groupe", "kind": "group", "capacity": 8},
    )
    services.room_create(
        actor=owner,
        data={"location_id": north.id, "name": "Chenil A", "kind": "kennel", "capacity": 4},
    )
    locations = [centre, north]
    made_services = [
        services.service_create(
            actor=owner,
            data={
                "name": name,
                "code": code,
                "duration_minutes": minutes,
                "price": price,
                "modality": modality,
                "buffer_after_minutes": buffer,
                "colour": colour,
            },
        )
        for name, code, minutes, price, modality, buffer, colour in SERVICES
    ]
    emails = []
    for local, name, discipline, specialties, service_ix, location_ix, colour in PRACTITIONERS:
        if local is None:
            membership = Membership.objects.get(
                role=Role.PRACTITIONER, user__email=f"practitioner@{organization.slug}.example"
            )
        else:
            email = f"{local}@{organization.slug}.example"
            user, _created = user_get_or_create(email=email, password=password, full_name=name)
            membership = membership_create(
                organization=organization, user=user, role=Role.PRACTITIONER
            )
            emails.append(email)
        services.practitioner_create(
            actor=owner,
            data={
                "display_name": name,
                "membership_id": membership.id,
                "discipline": discipline,
                "specialties": specialties,
                "colour": colour,
                "credentials": [{"kind": "licence", "number": f"{rng.randint(10**9, 10**10 - 1)}"}],
                "default_location_id": locations[location_ix].id,
                "service_ids": [made_services[i].id for i in service_ix],
            },
        )
    _patients(owner, organization, rng)
    return emails


def _patients(owner: Membership, organization: Organization, rng: random.Random) -> int:
    today = date.today()

    def phone():
        while True:  # a number the phone metadata accepts (not every +336… range is allocated)
            number = f"+336{rng.randint(10_000_000, 99_999_999)}"
            if phonenumbers.is_valid_number(phonenumbers.parse(number)):
                return number

    def dob(min_age, max_age):
        return today - timedelta(days=rng.randint(min_age * 365, max_age * 365))

    patient_login = Membership.objects.get(
        role=Role.PATIENT, user__email=f"patient@{organization.slug}.example"
    )
    created = 0
    # 24 adults; the first is the demo patient login's own record
    for i in range(24):
        given, family = rng.choice(GIVEN), rng.choice(FAMILY)
        patient = services.patient_create(
            actor=owner,
            force=True,
            data={
                "given_name": given,
                "family_name": family,
                "date_of_birth": dob(19, 88),
                "sex": rng.choice(["female", "male"]),
                "phone": phone(),
                "email": f"patient{i + 1}@example.org",
                "preferred_language": rng.choice(["fr", "fr", "en", "ar"]),
                "membership_id": patient_login.id if i == 0 else None,
                "city": rng.choice(["Paris", "Lille", "Montreuil"]),
                "country": "FR",
            },
        )
        created += 1
        if rng.random() < 0.3:
            services.patient_contact_add(
                actor=owner,
                patient=patient,
                data={
                    "relationship": "emergency_contact",
                    "is_primary": True,
                    "contact": {
                        "given_name": rng.choice(GIVEN),
                        "family_name": family,
                        "phone": phone(),
                    },
                },
            )
    # 18 children, with one or two parents
    for _ in range(18):
        family = rng.choice(FAMILY)
        child = services.patient_create(
            actor=owner,
            force=True,
            data={
                "given_name": rng.choice(GIVEN),
                "family_name": family,
                "date_of_birth": dob(3, 16),
                "sex": rng.choice(["female", "male"]),
                "preferred_language": "fr",
            },
        )
        created += 1
        for k in range(rng.choice([1, 2, 2])):
            services.patient_contact_add(
                actor=owner,
                patient=child,
                data={
                    "relationship": "parent" if rng.random() < 0.9 else "legal_guardian",
                    "is_primary": k == 0,
                    "may_receive_clinical_info": True,
                    "contact": {
                        "given_name": rng.choice(GIVEN),
                        "family_name": family,
                        "phone": phone(),
                        "email": f"parent{rng.randint(1, 10**6)}@example.org",
                    },
                },
            )
    # 8 animals and their owners; the demo patient login owns the first two
    owner_contacts = [
        services.contact_create(
            actor=owner,
            data={
                "given_name": "Patient",
                "family_name": "Demo",
                "membership_id": patient_login.id,
                "email": f"patient@{organization.slug}.example",
            },
        )
    ]
    for _ in range(3):
        owner_contacts.append(
            services.contact_create(
                actor=owner,
                data={
                    "given_name": rng.choice(GIVEN),
                    "family_name": rng.choice(FAMILY),
                    "phone": phone(),
                },
            )
        )
    for i, (name, species, breed) in enumerate(ANIMALS):
        animal = services.patient_create(
            actor=owner,
            force=True,
            data={
                "given_name": name,
                "species": species,
                "breed": breed,
                "date_of_birth": dob(1, 12),
                "sex": rng.choice(["female", "male"]),
                "microchip": f"250269{rng.randint(10**8, 10**9 - 1)}"
                if species != "rabbit"
                else "",
                "weight_kg": {"dog": "18.4", "cat": "4.2", "rabbit": "1.9", "horse": "520"}[
                    species
                ],
                "neutered": rng.random() < 0.7,
            },
        )
        created += 1
        keeper = owner_contacts[0] if i < 2 else owner_contacts[1 + i % 3]
        services.patient_contact_add(
            actor=owner,
            patient=animal,
            data={
                "relationship": "owner",
                "contact_id": keeper.id,
                "is_primary": True,
                "may_receive_clinical_info": True,
            },
        )
    return created
