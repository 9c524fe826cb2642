"""The clinic directory: locations, rooms, practitioners, services, patients and their contacts.

Integrity lives in the database: every unique constraint leads with `organization`, CHECK
constraints hold ranges, formats and choices, and references between directory rows are also
declared as composite foreign keys on (organization_id, id) (see migration 0002), so a row can
never point at another clinic's row even if a service forgot to check.
"""

from __future__ import annotations

from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import GinIndex
from django.db import models
from django.db.models import F, Func, Q, Value
from django.db.models.functions import Concat, Lower
from django.db.models.lookups import Exact
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from clinic.core.models import TenantModel

LANGUAGES = [("en", "English"), ("fr", "Français"), ("ar", "العربية")]
LANGUAGE_CODES = [code for code, _label in LANGUAGES]
PHONE_E164 = r"^\+[1-9][0-9]{6,14}$"
COLOUR_HEX = r"^#[0-9a-f]{6}$"
MICROCHIP_FORMAT = r"^[0-9A-Z]{9,15}$"
COUNTRY_ISO = r"^[A-Z]{2}$"


class SearchFold(Func):
    """`directory_search_fold(text)`: lower-cased, unaccented, punctuation as spaces, padded with
    one space on each side (so " hel" finds a word starting with "hel"). IMMUTABLE SQL function
    created in migration 0001, used by generated columns and their trigram indexes."""

    function = "directory_search_fold"
    output_field = models.TextField()


class ImmutableUnaccent(Func):
    function = "immutable_unaccent"
    output_field = models.TextField()


class SearchWord(Func):
    """`directory_search_word(text, k)`: the k-th word of the folded text (NULL if none)."""

    function = "directory_search_word"
    output_field = models.TextField(db_collation="C")


# Why words in btree columns rather than one trigram index: under row-level security PostgreSQL
# only uses an index for a condition whose operator is LEAKPROOF (it must not run on other
# tenants' rows before the policy has filtered them). LIKE and pg_trgm's operators are not;
# text comparisons are, and on a "C"-collated btree index a prefix is a range scan
# (word >= 'hel' AND word < 'hel' || U+10FFFF). So each name word gets a generated, indexed
# column, and identifiers (MRN, microchip, phone) are "C"-collated columns searched by prefix.
PATIENT_NAME_WORDS = 5
CONTACT_NAME_WORDS = 4


def _name_word(k: int, *names: str) -> models.GeneratedField:
    parts: list = []
    for name in names:
        parts += [name, Value(" ")]
    return models.GeneratedField(
        expression=SearchWord(Concat(*parts[:-1], output_field=models.TextField()), Value(k)),
        output_field=models.TextField(db_collation="C"),
        db_persist=True,
    )


def _choices_check(field: str, choices, name: str, *, allow_blank: bool = False):
    values = [value for value, _label in choices]
    condition = Q(**{f"{field}__in": values})
    if allow_blank:
        condition |= Q(**{field: ""})
    return models.CheckConstraint(condition=condition, name=name)


class Address(models.Model):
    address_line1 = models.CharField(_("address"), max_length=200, blank=True)
    address_line2 = models.CharField(_("address (line 2)"), max_length=200, blank=True)
    city = models.CharField(_("city"), max_length=100, blank=True)
    postal_code = models.CharField(_("postal code"), max_length=20, blank=True)
    region = models.CharField(_("region"), max_length=100, blank=True)
    country = models.CharField(
        _("country"), max_length=2, blank=True, help_text=_("ISO 3166 two-letter code, e.g. FR")
    )

    class Meta:
        abstract = True


class Timestamped(models.Model):
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True


# --- places ------------------------------------------------------------------------------------


class Location(TenantModel, Address, Timestamped):
    """A site of the organization, with its own IANA time zone."""

    name = models.CharField(_("name"), max_length=200)
    phone = models.CharField(_("phone"), max_length=20, blank=True)
    time_zone = models.CharField(_("time zone"), max_length=64)
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(F("organization"), Lower("name"), name="location_name_unique"),
            models.UniqueConstraint(fields=["organization", "id"], name="location_org_id"),
            models.CheckConstraint(condition=~Q(name=""), name="location_name_present"),
            models.CheckConstraint(condition=~Q(time_zone=""), name="location_tz_present"),
            models.CheckConstraint(
                condition=Q(phone="") | Q(phone__regex=PHONE_E164), name="location_phone_e164"
            ),
            models.CheckConstraint(
                condition=Q(country="") | Q(country__regex=COUNTRY_ISO), name="location_country_iso"
            ),
        ]
        indexes = [models.Index(fields=["organization", "name"], name="location_org_name")]

    def __str__(self) -> str:
        return self.name


class RoomKind(models.TextChoices):
    TREATMENT = "treatment", _("Treatment room")
    CONSULTATION = "consultation", _("Consultation room")
    GROUP = "group", _("Group room")
    SURGERY = "surgery", _("Surgery")
    IMAGING = "imaging", _("Imaging")
    KENNEL = "kennel", _("Kennel")
    OTHER = "other", _("Other")


class Room(TenantModel, Timestamped):
    """A bookable resource at a location."""

    location = models.ForeignKey(Location, on_delete=models.PROTECT, related_name="rooms")
    name = models.CharField(_("name"), max_length=100)
    kind = models.CharField(
        _("kind"), max_length=20, choices=RoomKind.choices, default=RoomKind.TREATMENT
    )
    capacity = models.PositiveSmallIntegerField(_("capacity"), default=1)
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                F("organization"), F("location"), Lower("name"), name="room_name_unique"
            ),
            models.UniqueConstraint(fields=["organization", "id"], name="room_org_id"),
            models.CheckConstraint(condition=~Q(name=""), name="room_name_present"),
            models.CheckConstraint(
                condition=Q(capacity__gte=1, capacity__lte=1000), name="room_capacity_range"
            ),
            _choices_check("kind", RoomKind.choices, "room_kind_valid"),
        ]
        indexes = [
            models.Index(fields=["organization", "location", "name"], name="room_org_location")
        ]

    def __str__(self) -> str:
        return self.name


# --- services and practitioners ---------------------------------------------------------------


class Modality(models.TextChoices):
    IN_PERSON = "in_person", _("In person")
    TELEHEALTH = "telehealth", _("Telehealth")
    HOME_VISIT = "home_visit", _("Home visit")


class Service(TenantModel, Timestamped):
    """What is booked and billed."""

    name = models.CharField(_("name"), max_length=200)
    code = models.CharField(
        _("code"), max_length=32, blank=True, help_text=_("Billing code, e.g. a CPT code")
    )
    description = models.TextField(_("description"), blank=True)
    duration_minutes = models.PositiveSmallIntegerField(_("duration (minutes)"))
    buffer_before_minutes = models.PositiveSmallIntegerField(
        _("buffer before (minutes)"), default=0
    )
    buffer_after_minutes = models.PositiveSmallIntegerField(_("buffer after (minutes)"), default=0)
    price = models.DecimalField(_("price"), max_digits=10, decimal_places=2)
    tax_rate = models.DecimalField(_("tax rate (%)"), max_digits=5, decimal_places=2, default=0)
    modality = models.CharField(
        _("modality"), max_length=20, choices=Modality.choices, default=Modality.IN_PERSON
    )
    colour = models.CharField(_("colour"), max_length=7, default="#0b63c5")
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(F("organization"), Lower("name"), name="service_name_unique"),
            models.UniqueConstraint(
                fields=["organization", "code"], condition=~Q(code=""), name="service_code_unique"
            ),
            models.UniqueConstraint(fields=["organization", "id"], name="service_org_id"),
            models.CheckConstraint(condition=~Q(name=""), name="service_name_present"),
            models.CheckConstraint(
                condition=Q(duration_minutes__gte=1, duration_minutes__lte=1440),
                name="service_duration_range",
            ),
            models.CheckConstraint(
                condition=Q(buffer_before_minutes__lte=240, buffer_after_minutes__lte=240),
                name="service_buffers_range",
            ),
            models.CheckConstraint(condition=Q(price__gte=0), name="service_price_not_negative"),
            models.CheckConstraint(
                condition=Q(tax_rate__gte=0, tax_rate__lte=100), name="service_tax_rate_percent"
            ),
            models.CheckConstraint(
                condition=Q(colour__regex=COLOUR_HEX), name="service_colour_hex"
            ),
            _choices_check("modality", Modality.choices, "service_modality_valid"),
        ]
        indexes = [models.Index(fields=["organization", "name"], name="service_org_name")]

    def __str__(self) -> str:
        return self.name


class Practitioner(TenantModel, Timestamped):
    """The clinical profile of a staff member (therapist, provider, veterinarian...)."""

    membership = models.ForeignKey(
        "accounts.Membership", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    display_name = models.CharField(_("display name"), max_length=200)
    discipline = models.CharField(_("discipline"), max_length=100, blank=True)
    # [{"kind": "licence", "number": "...", "issuer": "..."}]
    credentials = models.JSONField(_("credentials"), default=list, blank=True)
    specialties = ArrayField(
        models.CharField(max_length=100), default=list, blank=True, verbose_name=_("specialties")
    )
    colour = models.CharField(_("colour"), max_length=7, default="#0b63c5")
    default_location = models.ForeignKey(
        Location, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    is_active = models.BooleanField(_("active"), default=True)
    services = models.ManyToManyField(
        Service, through="PractitionerService", related_name="practitioners"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "membership"],
                condition=Q(membership__isnull=False),
                name="practitioner_membership_unique",
            ),
            models.UniqueConstraint(fields=["organization", "id"], name="practitioner_org_id"),
            models.CheckConstraint(condition=~Q(display_name=""), name="practitioner_name_present"),
            models.CheckConstraint(
                condition=Q(colour__regex=COLOUR_HEX), name="practitioner_colour_hex"
            ),
            models.CheckConstraint(
                condition=Exact(
                    Func(
                        F("credentials"), function="jsonb_typeof", output_field=models.TextField()
                    ),
                    "array",
                ),
                name="practitioner_credentials_array",
            ),
        ]
        indexes = [
            models.Index(fields=["organization", "display_name"], name="practitioner_org_name"),
            GinIndex(fields=["specialties"], name="practitioner_specialties"),
        ]

    def __str__(self) -> str:
        return self.display_name


class PractitionerService(TenantModel):
    """Which practitioners deliver which services."""

    practitioner = models.ForeignKey(Practitioner, on_delete=models.CASCADE, related_name="+")
    service = models.ForeignKey(Service, on_delete=models.CASCADE, related_name="+")

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "practitioner", "service"],
                name="practitioner_service_unique",
            ),
        ]
        indexes = [models.Index(fields=["organization", "service"], name="practitioner_svc_rev")]


# --- people ------------------------------------------------------------------------------------


class Sex(models.TextChoices):
    FEMALE = "female", _("Female")
    MALE = "male", _("Male")
    OTHER = "other", _("Other")
    UNKNOWN = "unknown", _("Unknown")


class Patient(TenantModel, Address, Timestamped):
    """The person or animal receiving care. `species` is empty for humans. Archived, never
    deleted."""

    mrn = models.CharField(_("medical record number"), max_length=32, db_collation="C")
    given_name = models.CharField(_("given name"), max_length=100)
    family_name = models.CharField(_("family name"), max_length=100, blank=True)
    preferred_name = models.CharField(_("preferred name"), max_length=100, blank=True)
    date_of_birth = models.DateField(_("date of birth"), null=True, blank=True)
    sex = models.CharField(_("sex"), max_length=10, choices=Sex.choices, default=Sex.UNKNOWN)
    gender_identity = models.CharField(_("gender identity"), max_length=50, blank=True)
    phone = models.CharField(_("phone"), max_length=20, blank=True, db_collation="C")
    email = models.EmailField(_("email"), max_length=254, blank=True)
    preferred_language = models.CharField(
        _("preferred language"), max_length=5, choices=LANGUAGES, blank=True
    )
    notes = models.TextField(_("notes"), blank=True)
    species = models.CharField(_("species"), max_length=50, blank=True)
    breed = models.CharField(_("breed"), max_length=100, blank=True)
    microchip = models.CharField(_("microchip"), max_length=15, blank=True, db_collation="C")
    weight_kg = models.DecimalField(
        _("weight (kg)"), max_digits=7, decimal_places=3, null=True, blank=True
    )
    neutered = models.BooleanField(_("neutered"), null=True, blank=True)
    # The patient's own login (Patient role), if they have one.
    membership = models.ForeignKey(
        "accounts.Membership", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    archived_at = models.DateTimeField(_("archived at"), null=True, blank=True)
    # The photo's name in Django's storage (organizations/<org>/patients/...), served only
    # through the authorised view; empty when there is none (the chart shows initials).
    photo = models.CharField(_("photo"), max_length=200, blank=True, db_default="")
    search_name = models.GeneratedField(
        expression=SearchFold(
            Concat("given_name", Value(" "), "preferred_name", Value(" "), "family_name")
        ),
        output_field=models.TextField(),
        db_persist=True,
    )

    name_word1 = _name_word(1, "given_name", "family_name", "preferred_name")
    name_word2 = _name_word(2, "given_name", "family_name", "preferred_name")
    name_word3 = _name_word(3, "given_name", "family_name", "preferred_name")
    name_word4 = _name_word(4, "given_name", "family_name", "preferred_name")
    name_word5 = _name_word(5, "given_name", "family_name", "preferred_name")

    # Generated, derived from the names: kept out of the audit images.
    audit_redact = ("search_name", *(f"name_word{k}" for k in range(1, PATIENT_NAME_WORDS + 1)))

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["organization", "mrn"], name="patient_mrn_unique"),
            models.UniqueConstraint(
                fields=["organization", "microchip"],
                condition=~Q(microchip=""),
                name="patient_microchip_unique",
            ),
            models.UniqueConstraint(
                fields=["organization", "membership"],
                condition=Q(membership__isnull=False),
                name="patient_membership_unique",
            ),
            models.UniqueConstraint(fields=["organization", "id"], name="patient_org_id"),
            models.CheckConstraint(condition=~Q(mrn=""), name="patient_mrn_present"),
            models.CheckConstraint(condition=~Q(given_name=""), name="patient_given_name_present"),
            # A human patient has a family name and a date of birth.
            models.CheckConstraint(
                condition=~Q(species="") | (~Q(family_name="") & Q(date_of_birth__isnull=False)),
                name="patient_human_identity",
            ),
            models.CheckConstraint(
                condition=Q(microchip="") | ~Q(species=""), name="patient_microchip_animals"
            ),
            models.CheckConstraint(
                condition=Q(microchip="") | Q(microchip__regex=MICROCHIP_FORMAT),
                name="patient_microchip_format",
            ),
            models.CheckConstraint(
                condition=Q(weight_kg__isnull=True) | Q(weight_kg__gt=0),
                name="patient_weight_positive",
            ),
            models.CheckConstraint(
                condition=Q(date_of_birth__isnull=True) | Q(date_of_birth__gte="1850-01-01"),
                name="patient_dob_plausible",
            ),
            models.CheckConstraint(
                condition=Q(phone="") | Q(phone__regex=PHONE_E164), name="patient_phone_e164"
            ),
            models.CheckConstraint(
                condition=Q(email=Lower("email")), name="patient_email_lowercase"
            ),
            models.CheckConstraint(
                condition=Q(country="") | Q(country__regex=COUNTRY_ISO), name="patient_country_iso"
            ),
            _choices_check("sex", Sex.choices, "patient_sex_valid"),
            _choices_check(
                "preferred_language", LANGUAGES, "patient_language_valid", allow_blank=True
            ),
        ]
        indexes = [
            *(
                models.Index(fields=["organization", f"name_word{k}"], name=f"patient_word{k}")
                for k in range(1, PATIENT_NAME_WORDS + 1)
            ),
            models.Index(
                fields=["organization", "phone"],
                name="patient_phone_prefix",
                condition=~Q(phone=""),
            ),
            models.Index(fields=["organization", "date_of_birth"], name="patient_org_dob"),
            models.Index(
                fields=["organization", "family_name", "given_name"],
                name="patient_active_name",
                condition=Q(archived_at__isnull=True),
            ),
            models.Index(fields=["organization", "-created_at"], name="patient_org_created"),
        ]

    def __str__(self) -> str:
        return self.display_name

    @property
    def display_name(self) -> str:
        given = self.preferred_name or self.given_name
        return f"{given} {self.family_name}".strip()

    @property
    def is_animal(self) -> bool:
        return bool(self.species)

    @property
    def archived(self) -> bool:
        return self.archived_at is not None


class Contact(TenantModel, Address, Timestamped):
    """A responsible party: parent, guardian, animal owner, emergency contact, payer."""

    given_name = models.CharField(_("given name"), max_length=100, blank=True)
    family_name = models.CharField(_("family name"), max_length=100, blank=True)
    phone = models.CharField(_("phone"), max_length=20, blank=True, db_collation="C")
    email = models.EmailField(_("email"), max_length=254, blank=True)
    preferred_language = models.CharField(
        _("preferred language"), max_length=5, choices=LANGUAGES, blank=True
    )
    notes = models.TextField(_("notes"), blank=True)
    # The contact's own login (Patient role: sees the patients they are responsible for).
    membership = models.ForeignKey(
        "accounts.Membership", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    archived_at = models.DateTimeField(_("archived at"), null=True, blank=True)
    search_name = models.GeneratedField(
        expression=SearchFold(Concat("given_name", Value(" "), "family_name")),
        output_field=models.TextField(),
        db_persist=True,
    )

    name_word1 = _name_word(1, "given_name", "family_name")
    name_word2 = _name_word(2, "given_name", "family_name")
    name_word3 = _name_word(3, "given_name", "family_name")
    name_word4 = _name_word(4, "given_name", "family_name")

    audit_redact = ("search_name", *(f"name_word{k}" for k in range(1, CONTACT_NAME_WORDS + 1)))

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "membership"],
                condition=Q(membership__isnull=False),
                name="contact_membership_unique",
            ),
            models.UniqueConstraint(fields=["organization", "id"], name="contact_org_id"),
            models.CheckConstraint(
                condition=~Q(given_name="") | ~Q(family_name=""), name="contact_name_present"
            ),
            models.CheckConstraint(
                condition=Q(phone="") | Q(phone__regex=PHONE_E164), name="contact_phone_e164"
            ),
            models.CheckConstraint(
                condition=Q(email=Lower("email")), name="contact_email_lowercase"
            ),
            models.CheckConstraint(
                condition=Q(country="") | Q(country__regex=COUNTRY_ISO), name="contact_country_iso"
            ),
            _choices_check(
                "preferred_language", LANGUAGES, "contact_language_valid", allow_blank=True
            ),
        ]
        indexes = [
            *(
                models.Index(fields=["organization", f"name_word{k}"], name=f"contact_word{k}")
                for k in range(1, CONTACT_NAME_WORDS + 1)
            ),
            models.Index(
                fields=["organization", "phone"],
                name="contact_phone_prefix",
                condition=~Q(phone=""),
            ),
            models.Index(
                fields=["organization", "family_name", "given_name"], name="contact_org_name"
            ),
        ]

    def __str__(self) -> str:
        return self.display_name

    @property
    def display_name(self) -> str:
        return f"{self.given_name} {self.family_name}".strip()

    @property
    def archived(self) -> bool:
        return self.archived_at is not None


class Relationship(models.TextChoices):
    PARENT = "parent", _("Parent")
    LEGAL_GUARDIAN = "legal_guardian", _("Legal guardian")
    OWNER = "owner", _("Owner")
    EMERGENCY_CONTACT = "emergency_contact", _("Emergency contact")
    PAYER = "payer", _("Payer")
    OTHER = "other", _("Other")


# Relationships that make a contact responsible for the patient (a contact with a login sees
# those patients).
RESPONSIBLE_RELATIONSHIPS = (Relationship.PARENT, Relationship.LEGAL_GUARDIAN, Relationship.OWNER)


class PatientContact(TenantModel):
    """A contact's relationship to one patient."""

    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="contact_links")
    contact = models.ForeignKey(Contact, on_delete=models.PROTECT, related_name="patient_links")
    relationship = models.CharField(_("relationship"), max_length=20, choices=Relationship.choices)
    is_primary = models.BooleanField(_("primary contact"), default=False)
    may_receive_clinical_info = models.BooleanField(
        _("may receive clinical information"), default=False
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "patient", "contact", "relationship"],
                name="patient_contact_unique",
            ),
            models.UniqueConstraint(
                fields=["organization", "patient"],
                condition=Q(is_primary=True),
                name="patient_contact_one_primary",
            ),
            _choices_check("relationship", Relationship.choices, "patient_contact_relationship"),
        ]
        indexes = [models.Index(fields=["organization", "contact"], name="patient_contact_rev")]


# --- bookkeeping -------------------------------------------------------------------------------


class MrnSequence(TenantModel):
    """The last medical record number generated in an organization ("P000001", ...)."""

    last_value = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["organization"], name="mrn_sequence_one_per_org"),
            models.CheckConstraint(condition=Q(last_value__gte=0), name="mrn_sequence_positive"),
        ]


class ImportStatus(models.TextChoices):
    VALIDATING = "validating", pgettext_lazy("import status", "Validating")
    VALIDATED = "validated", pgettext_lazy("import status", "Validated")
    IMPORTED = "imported", pgettext_lazy("import status", "Imported")
    FAILED = "failed", pgettext_lazy("import status", "Failed")


class PatientImport(TenantModel):
    """A CSV upload being validated (in steps, so the page can show progress) then imported in
    one transaction. The file is dropped once imported."""

    created_by = models.ForeignKey("accounts.User", on_delete=models.PROTECT, related_name="+")
    filename = models.CharField(max_length=255)
    content = models.TextField()
    options = models.JSONField(default=dict)
    status = models.CharField(
        max_length=12, choices=ImportStatus.choices, default=ImportStatus.VALIDATING
    )
    total_rows = models.PositiveIntegerField(default=0)
    processed_rows = models.PositiveIntegerField(default=0)
    errors = models.JSONField(default=list)
    warnings = models.JSONField(default=list)
    created_count = models.PositiveIntegerField(default=0)
    skipped_rows = models.JSONField(default=list)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    audit_redact = ("content",)

    class Meta:
        constraints = [
            _choices_check("status", ImportStatus.choices, "patient_import_status"),
            models.CheckConstraint(
                condition=Q(processed_rows__lte=F("total_rows")), name="patient_import_progress"
            ),
        ]
        indexes = [models.Index(fields=["organization", "-created_at"], name="patient_import_org")]
