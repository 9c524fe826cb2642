import uuid

import django.contrib.postgres.fields
import django.contrib.postgres.indexes
import django.db.models.deletion
import django.db.models.functions.text
import django.db.models.lookups
import django.db.models.manager
from django.conf import settings
from django.db import migrations, models

import clinic.directory.models

# Search normalisation in SQL, IMMUTABLE so that generated columns and indexes may use it.
# unaccent() itself is only STABLE (it reads its dictionary through the search_path); naming the
# dictionary with its schema makes the wrapper safe to declare IMMUTABLE.
SEARCH_FUNCTIONS = r"""
CREATE OR REPLACE FUNCTION public.immutable_unaccent(text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT
AS $$ SELECT public.unaccent('public.unaccent'::regdictionary, $1) $$;

CREATE OR REPLACE FUNCTION public.directory_search_fold(text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT ' ' || btrim(regexp_replace(
    lower(public.immutable_unaccent(coalesce($1, ''))),
    '[[:space:][:punct:]\u2019\u2018\u02bc`\u00b4]+', ' ', 'g')) || ' ' $$;
"""

SEARCH_FUNCTIONS_DROP = """
DROP FUNCTION IF EXISTS public.directory_search_fold(text);
DROP FUNCTION IF EXISTS public.immutable_unaccent(text);
"""


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        ("core", "0001_extensions"),
        ("accounts", "0001_initial"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.RunSQL(SEARCH_FUNCTIONS, SEARCH_FUNCTIONS_DROP),
        migrations.CreateModel(
            name="Contact",
            fields=[
                (
                    "id",
                    models.UUIDField(
                        default=uuid.uuid4, editable=False, primary_key=True, serialize=False
                    ),
                ),
                (
                    "address_line1",
                    models.CharField(blank=True, max_length=200, verbose_name="address"),
                ),
                (
                    "address_line2",
                    models.CharField(blank=True, max_length=200, verbose_name="address (line 2)"),
                ),
                ("city", models.CharField(blank=True, max_length=100, verbose_name="city")),
                (
                    "postal_code",
                    models.CharField(blank=True, max_length=20, verbose_name="postal code"),
                ),
                ("region", models.CharField(blank=True, max_length=100, verbose_name="region")),
                (
                    "country",
                    models.CharField(
                        blank=True,
                        help_text="ISO 3166 two-letter code, e.g. FR",
                        max_length=2,
                        verbose_name="country",
                    ),
                ),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                ("updated_at", models.DateTimeField(auto_now=True)),
                (
                    "given_name",
                    models.CharField(blank=True, max_length=100, verbose_name="given name"),
                ),
                (
                    "family_name",
                    models.CharField(blank=True, max_length=100, verbose_name="family name"),
                ),
                ("phone", models.CharField(blank=True, max_length=20, verbose_name="phone")),
                ("email", models.EmailField(blank=True, max_length=254, verbose_name="email")),
                (
                    "preferred_language",
                    models.CharField(
                        blank=True,
                        choices=[("en", "English"), ("fr", "Français"), ("ar", "العربية")],
                        max_length=5,
                        verbose_name="preferred language",
                    ),
                ),
                ("notes", models.TextField(blank=True, verbose_name="notes")),
                (
                    "archived_at",
                    models.DateTimeField(blank=True, null=True, verbose_name="archived at"),
                ),
                (
                    "search_name",
                    models.GeneratedField(
                        db_persist=True,
                        expression=clinic.directory.models.SearchFold(
                            django.db.models.functions.text.Concat(
                                "given_name", models.Value(" "), "family_name"
                            )
                        ),
                        output_field=models.TextField(),
                    ),
                ),
                (
                    "membership",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to="accounts.membership",
                    ),
                ),
                (
                    "organization",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="accounts.organization",
                    ),
                ),
            ],
            managers=[
                ("objects", django.db.models.manager.Manager()),
                ("unscoped_objects", django.db.models.manager.Manager()),
            ],
        ),
        migrations.CreateModel(
            name="Location",
            fields=[
                (
                    "id",
                    models.UUIDField(
                        default=uuid.uuid4, editable=False, primary_key=True, serialize=False
                    ),
                ),
                (
                    "address_line1",
                    models.CharField(blank=True, max_length=200, verbose_name="address"),
                ),
                (
                    "address_line2",
                    models.CharField(blank=True, max_length=200, verbose_name="address (line 2)"),
                ),
                ("city", models.CharField(blank=True, max_length=100, verbose_name="city")),
                (
                    "postal_code",
                    models.CharField(blank=True, max_length=20, verbose_name="postal code"),
                ),
                ("region", models.CharField(blank=True, max_length=100, verbose_name="region")),
                (
                    "country",
                    models.CharField(
                        blank=True,
                        help_text="ISO 3166 two-letter code, e.g. FR",
                        max_length=2,
                        verbose_name="country",
                    ),
                ),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                ("updated_at", models.DateTimeField(auto_now=True)),
                ("name", models.CharField(max_length=200, verbose_name="name")),
                ("phone", models.CharField(blank=True, max_length=20, verbose_name="phone")),
                ("time_zone", models.CharField(max_length=64, verbose_name="time zone")),
                ("is_active", models.BooleanField(default=True, verbose_name="active")),
                (
                    "organization",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="accounts.organization",
                    ),
                ),
            ],
            managers=[
                ("objects", django.db.models.manager.Manager()),
                ("unscoped_objects", django.db.models.manager.Manager()),
            ],
        ),
        migrations.CreateModel(
            name="MrnSequence",
            fields=[
                (
                    "id",
                    models.UUIDField(
                        default=uuid.uuid4, editable=False, primary_key=True, serialize=False
                    ),
                ),
                ("last_value", models.BigIntegerField(default=0)),
                (
                    "organization",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="accounts.organization",
                    ),
                ),
            ],
            managers=[
                ("objects", django.db.models.manager.Manager()),
                ("unscoped_objects", django.db.models.manager.Manager()),
            ],
        ),
        migrations.CreateModel(
            name="Patient",
            fields=[
                (
                    "id",
                    models.UUIDField(
                        default=uuid.uuid4, editable=False, primary_key=True, serialize=False
                    ),
                ),
                (
                    "address_line1",
                    models.CharField(blank=True, max_length=200, verbose_name="address"),
                ),
                (
                    "address_line2",
                    models.CharField(blank=True, max_length=200, verbose_name="address (line 2)"),
                ),
                ("city", models.CharField(blank=True, max_length=100, verbose_name="city")),
                (
                    "postal_code",
                    models.CharField(blank=True, max_length=20, verbose_name="postal code"),
                ),
                ("region", models.CharField(blank=True, max_length=100, verbose_name="region")),
                (
                    "country",
                    models.CharField(
                        blank=True,
                        help_text="ISO 3166 two-letter code, e.g. FR",
                        max_length=2,
                        verbose_name="country",
                    ),
                ),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                ("updated_at", models.DateTimeField(auto_now=True)),
                ("mrn", models.CharField(max_length=32, verbose_name="medical record number")),
                ("given_name", models.CharField(max_length=100, verbose_name="given name")),
                (
                    "family_name",
                    models.CharField(blank=True, max_length=100, verbose_name="family name"),
                ),
                (
                    "preferred_name",
                    models.CharField(blank=True, max_length=100, verbose_name="preferred name"),
                ),
                (
                    "date_of_birth",
                    models.DateField(blank=True, null=True, verbose_name="date of birth"),
                ),
                (
                    "sex",
                    models.CharField(
                        choices=[
                            ("female", "Female"),
                            ("male", "Male"),
                            ("other", "Other"),
                            ("unknown", "Unknown"),
                        ],
                        default="unknown",
                        max_length=10,
                        verbose_name="sex",
                    ),
                ),
                (
                    "gender_identity",
                    models.CharField(blank=True, max_length=50, verbose_name="gender identity"),
                ),
                ("phone", models.CharField(blank=True, max_length=20, verbose_name="phone")),
                ("email", models.EmailField(blank=True, max_length=254, verbose_name="email")),
                (
                    "preferred_language",
                    models.CharField(
                        blank=True,
                        choices=[("en", "English"), ("fr", "Français"), ("ar", "العربية")],
                        max_length=5,
                        verbose_name="preferred language",
                    ),
                ),
                ("notes", models.TextField(blank=True, verbose_name="notes")),
                ("species", models.CharField(blank=True, max_length=50, verbose_name="species")),
                ("breed", models.CharField(blank=True, max_length=100, verbose_name="breed")),
                (
                    "microchip",
                    models.CharField(blank=True, max_length=15, verbose_name="microchip"),
                ),
                (
                    "weight_kg",
                    models.DecimalField(
                        blank=True,
                        decimal_places=3,
                        max_digits=7,
                        null=True,
                        verbose_name="weight (kg)",
                    ),
                ),
                ("neutered", models.BooleanField(blank=True, null=True, verbose_name="neutered")),
                (
                    "archived_at",
                    models.DateTimeField(blank=True, null=True, verbose_name="archived at"),
                ),
                (
                    "search_name",
                    models.GeneratedField(
                        db_persist=True,
                        expression=clinic.directory.models.SearchFold(
                            django.db.models.functions.text.Concat(
                                "given_name",
                                models.Value(" "),
                                "preferred_name",
                                models.Value(" "),
                                "family_name",
                            )
                        ),
                        output_field=models.TextField(),
                    ),
                ),
                (
                    "membership",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to="accounts.membership",
                    ),
                ),
                (
                    "organization",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="accounts.organization",
                    ),
                ),
            ],
            managers=[
                ("objects", django.db.models.manager.Manager()),
                ("unscoped_objects", django.db.models.manager.Manager()),
            ],
        ),
        migrations.CreateModel(
            name="PatientContact",
            fields=[
                (
                    "id",
                    models.UUIDField(
                        default=uuid.uuid4, editable=False, primary_key=True, serialize=False
                    ),
                ),
                (
                    "relationship",
                    models.CharField(
                        choices=[
                            ("parent", "Parent"),
                            ("legal_guardian", "Legal guardian"),
                            ("owner", "Owner"),
                            ("emergency_contact", "Emergency contact"),
                            ("payer", "Payer"),
                            ("other", "Other"),
                        ],
                        max_length=20,
                        verbose_name="relationship",
                    ),
                ),
                ("is_primary", models.BooleanField(default=False, verbose_name="primary contact")),
                (
                    "may_receive_clinical_info",
                    models.BooleanField(
                        default=False, verbose_name="may receive clinical information"
                    ),
                ),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                (
                    "contact",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="patient_links",
                        to="directory.contact",
                    ),
                ),
                (
                    "organization",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="accounts.organization",
                    ),
                ),
                (
                    "patient",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="contact_links",
                        to="directory.patient",
                    ),
                ),
            ],
            managers=[
                ("objects", django.db.models.manager.Manager()),
                ("unscoped_objects", django.db.models.manager.Manager()),
            ],
        ),
        migrations.CreateModel(
            name="PatientImport",
            fields=[
                (
                    "id",
                    models.UUIDField(
                        default=uuid.uuid4, editable=False, primary_key=True, serialize=False
                    ),
                ),
                ("filename", models.CharField(max_length=255)),
                ("content", models.TextField()),
                ("options", models.JSONField(default=dict)),
                (
                    "status",
                    models.CharField(
                        choices=[
                            ("validating", "Validating"),
                            ("validated", "Validated"),
                            ("imported", "Imported"),
                            ("failed", "Failed"),
                        ],
                        default="validating",
                        max_length=12,
                    ),
                ),
                ("total_rows", models.PositiveIntegerField(default=0)),
                ("processed_rows", models.PositiveIntegerField(default=0)),
                ("errors", models.JSONField(default=list)),
                ("warnings", models.JSONField(default=list)),
                ("created_count", models.PositiveIntegerField(default=0)),
                ("skipped_rows", models.JSONField(default=list)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                ("finished_at", models.DateTimeField(blank=True, null=True)),
                (
                    "created_by",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                (
                    "organization",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="accounts.organization",
                    ),
                ),
            ],
            managers=[
                ("objects", django.db.models.manager.Manager()),
                ("unscoped_objects", django.db.models.manager.Manager()),
            ],
        ),
        migrations.CreateModel(
            name="Practitioner",
            fields=[
                (
                    "id",
                    models.UUIDField(
                        default=uuid.uuid4, editable=False, primary_key=True, serialize=False
                    ),
                ),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                ("updated_at", models.DateTimeField(auto_now=True)),
                ("display_name", models.CharField(max_length=200, verbose_name="display name")),
                (
                    "discipline",
                    models.CharField(blank=True, max_length=100, verbose_name="discipline"),
                ),
                (
                    "credentials",
                    models.JSONField(blank=True, default=list, verbose_name="credentials"),
                ),
                (
                    "specialties",
                    django.contrib.postgres.fields.ArrayField(
                        base_field=models.CharField(max_length=100),
                        blank=True,
                        default=list,
                        size=None,
                        verbose_name="specialties",
                    ),
                ),
                (
                    "colour",
                    models.CharField(default="#0b63c5", max_length=7, verbose_name="colour"),
                ),
                ("is_active", models.BooleanField(default=True, verbose_name="active")),
                (
                    "default_location",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="directory.location",
                    ),
                ),
                (
                    "membership",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="accounts.membership",
                    ),
                ),
                (
                    "organization",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="accounts.organization",
                    ),
                ),
            ],
            managers=[
                ("objects", django.db.models.manager.Manager()),
                ("unscoped_objects", django.db.models.manager.Manager()),
            ],
        ),
        migrations.CreateModel(
            name="Room",
            fields=[
                (
                    "id",
                    models.UUIDField(
                        default=uuid.uuid4, editable=False, primary_key=True, serialize=False
                    ),
                ),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                ("updated_at", models.DateTimeField(auto_now=True)),
                ("name", models.CharField(max_length=100, verbose_name="name")),
                (
                    "kind",
                    models.CharField(
                        choices=[
                            ("treatment", "Treatment room"),
                            ("consultation", "Consultation room"),
                            ("group", "Group room"),
                            ("surgery", "Surgery"),
                            ("imaging", "Imaging"),
                            ("kennel", "Kennel"),
                            ("other", "Other"),
                        ],
                        default="treatment",
                        max_length=20,
                        verbose_name="kind",
                    ),
                ),
                ("capacity", models.PositiveSmallIntegerField(default=1, verbose_name="capacity")),
                ("is_active", models.BooleanField(default=True, verbose_name="active")),
                (
                    "location",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="rooms",
                        to="directory.location",
                    ),
                ),
                (
                    "organization",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="accounts.organization",
                    ),
                ),
            ],
            managers=[
                ("objects", django.db.models.manager.Manager()),
                ("unscoped_objects", django.db.models.manager.Manager()),
            ],
        ),
        migrations.CreateModel(
            name="Service",
            fields=[
                (
                    "id",
                    models.UUIDField(
                        default=uuid.uuid4, editable=False, primary_key=True, serialize=False
                    ),
                ),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                ("updated_at", models.DateTimeField(auto_now=True)),
                ("name", models.CharField(max_length=200, verbose_name="name")),
                (
                    "code",
                    models.CharField(
                        blank=True,
                        help_text="Billing code, e.g. a CPT code",
                        max_length=32,
                        verbose_name="code",
                    ),
                ),
                ("description", models.TextField(blank=True, verbose_name="description")),
                (
                    "duration_minutes",
                    models.PositiveSmallIntegerField(verbose_name="duration (minutes)"),
                ),
                (
                    "buffer_before_minutes",
                    models.PositiveSmallIntegerField(
                        default=0, verbose_name="buffer before (minutes)"
                    ),
                ),
                (
                    "buffer_after_minutes",
                    models.PositiveSmallIntegerField(
                        default=0, verbose_name="buffer after (minutes)"
                    ),
                ),
                (
                    "price",
                    models.DecimalField(decimal_places=2, max_digits=10, verbose_name="price"),
                ),
                (
                    "tax_rate",
                    models.DecimalField(
                        decimal_places=2, default=0, max_digits=5, verbose_name="tax rate (%)"
                    ),
                ),
                (
                    "modality",
                    models.CharField(
                        choices=[
                            ("in_person", "In person"),
                            ("telehealth", "Telehealth"),
                            ("home_visit", "Home visit"),
                        ],
                        default="in_person",
                        max_length=20,
                        verbose_name="modality",
                    ),
                ),
                (
                    "colour",
                    models.CharField(default="#0b63c5", max_length=7, verbose_name="colour"),
                ),
                ("is_active", models.BooleanField(default=True, verbose_name="active")),
                (
                    "organization",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="accounts.organization",
                    ),
                ),
            ],
            managers=[
                ("objects", django.db.models.manager.Manager()),
                ("unscoped_objects", django.db.models.manager.Manager()),
            ],
        ),
        migrations.CreateModel(
            name="PractitionerService",
            fields=[
                (
                    "id",
                    models.UUIDField(
                        default=uuid.uuid4, editable=False, primary_key=True, serialize=False
                    ),
                ),
                (
                    "organization",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="accounts.organization",
                    ),
                ),
                (
                    "practitioner",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="directory.practitioner",
                    ),
                ),
                (
                    "service",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="directory.service",
                    ),
                ),
            ],
            managers=[
                ("objects", django.db.models.manager.Manager()),
                ("unscoped_objects", django.db.models.manager.Manager()),
            ],
        ),
        migrations.AddField(
            model_name="practitioner",
            name="services",
            field=models.ManyToManyField(
                related_name="practitioners",
                through="directory.PractitionerService",
                to="directory.service",
            ),
        ),
        migrations.AddIndex(
            model_name="contact",
            index=django.contrib.postgres.indexes.GinIndex(
                django.contrib.postgres.indexes.OpClass(
                    models.F("search_name"), name="gin_trgm_ops"
                ),
                name="contact_search_trgm",
            ),
        ),
        migrations.AddIndex(
            model_name="contact",
            index=models.Index(
                fields=["organization", "family_name", "given_name"], name="contact_org_name"
            ),
        ),
        migrations.AddConstraint(
            model_name="contact",
            constraint=models.UniqueConstraint(
                condition=models.Q(("membership__isnull", False)),
                fields=("organization", "membership"),
                name="contact_membership_unique",
            ),
        ),
        migrations.AddConstraint(
            model_name="contact",
            constraint=models.UniqueConstraint(
                fields=("organization", "id"), name="contact_org_id"
            ),
        ),
        migrations.AddConstraint(
            model_name="contact",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    models.Q(("given_name", ""), _negated=True),
                    models.Q(("family_name", ""), _negated=True),
                    _connector="OR",
                ),
                name="contact_name_present",
            ),
        ),
        migrations.AddConstraint(
            model_name="contact",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    ("phone", ""), ("phone__regex", "^\\+[1-9][0-9]{6,14}$"), _connector="OR"
                ),
                name="contact_phone_e164",
            ),
        ),
        migrations.AddConstraint(
            model_name="contact",
            constraint=models.CheckConstraint(
                condition=models.Q(("email", django.db.models.functions.text.Lower("email"))),
                name="contact_email_lowercase",
            ),
        ),
        migrations.AddConstraint(
            model_name="contact",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    ("country", ""), ("country__regex", "^[A-Z]{2}$"), _connector="OR"
                ),
                name="contact_country_iso",
            ),
        ),
        migrations.AddConstraint(
            model_name="contact",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    ("preferred_language__in", ["en", "fr", "ar"]),
                    ("preferred_language", ""),
                    _connector="OR",
                ),
                name="contact_language_valid",
            ),
        ),
        migrations.AddIndex(
            model_name="location",
            index=models.Index(fields=["organization", "name"], name="location_org_name"),
        ),
        migrations.AddConstraint(
            model_name="location",
            constraint=models.UniqueConstraint(
                models.F("organization"),
                django.db.models.functions.text.Lower("name"),
                name="location_name_unique",
            ),
        ),
        migrations.AddConstraint(
            model_name="location",
            constraint=models.UniqueConstraint(
                fields=("organization", "id"), name="location_org_id"
            ),
        ),
        migrations.AddConstraint(
            model_name="location",
            constraint=models.CheckConstraint(
                condition=models.Q(("name", ""), _negated=True), name="location_name_present"
            ),
        ),
        migrations.AddConstraint(
            model_name="location",
            constraint=models.CheckConstraint(
                condition=models.Q(("time_zone", ""), _negated=True), name="location_tz_present"
            ),
        ),
        migrations.AddConstraint(
            model_name="location",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    ("phone", ""), ("phone__regex", "^\\+[1-9][0-9]{6,14}$"), _connector="OR"
                ),
                name="location_phone_e164",
            ),
        ),
        migrations.AddConstraint(
            model_name="location",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    ("country", ""), ("country__regex", "^[A-Z]{2}$"), _connector="OR"
                ),
                name="location_country_iso",
            ),
        ),
        migrations.AddConstraint(
            model_name="mrnsequence",
            constraint=models.UniqueConstraint(
                fields=("organization",), name="mrn_sequence_one_per_org"
            ),
        ),
        migrations.AddConstraint(
            model_name="mrnsequence",
            constraint=models.CheckConstraint(
                condition=models.Q(("last_value__gte", 0)), name="mrn_sequence_positive"
            ),
        ),
        migrations.AddIndex(
            model_name="patient",
            index=django.contrib.postgres.indexes.GinIndex(
                django.contrib.postgres.indexes.OpClass(
                    models.F("search_name"), name="gin_trgm_ops"
                ),
                name="patient_search_trgm",
            ),
        ),
        migrations.AddIndex(
            model_name="patient",
            index=django.contrib.postgres.indexes.GinIndex(
                django.contrib.postgres.indexes.OpClass(models.F("phone"), name="gin_trgm_ops"),
                name="patient_phone_trgm",
            ),
        ),
        migrations.AddIndex(
            model_name="patient",
            index=models.Index(
                fields=["organization", "mrn"],
                name="patient_mrn_prefix",
                opclasses=["uuid_ops", "varchar_pattern_ops"],
            ),
        ),
        migrations.AddIndex(
            model_name="patient",
            index=models.Index(
                condition=models.Q(("microchip", ""), _negated=True),
                fields=["organization", "microchip"],
                name="patient_microchip_prefix",
                opclasses=["uuid_ops", "varchar_pattern_ops"],
            ),
        ),
        migrations.AddIndex(
            model_name="patient",
            index=models.Index(
                condition=models.Q(("archived_at__isnull", True)),
                fields=["organization", "family_name", "given_name"],
                name="patient_active_name",
            ),
        ),
        migrations.AddIndex(
            model_name="patient",
            index=models.Index(fields=["organization", "-created_at"], name="patient_org_created"),
        ),
        migrations.AddConstraint(
            model_name="patient",
            constraint=models.UniqueConstraint(
                fields=("organization", "mrn"), name="patient_mrn_unique"
            ),
        ),
        migrations.AddConstraint(
            model_name="patient",
            constraint=models.UniqueConstraint(
                condition=models.Q(("microchip", ""), _negated=True),
                fields=("organization", "microchip"),
                name="patient_microchip_unique",
            ),
        ),
        migrations.AddConstraint(
            model_name="patient",
            constraint=models.UniqueConstraint(
                condition=models.Q(("membership__isnull", False)),
                fields=("organization", "membership"),
                name="patient_membership_unique",
            ),
        ),
        migrations.AddConstraint(
            model_name="patient",
            constraint=models.UniqueConstraint(
                fields=("organization", "id"), name="patient_org_id"
            ),
        ),
        migrations.AddConstraint(
            model_name="patient",
            constraint=models.CheckConstraint(
                condition=models.Q(("mrn", ""), _negated=True), name="patient_mrn_present"
            ),
        ),
        migrations.AddConstraint(
            model_name="patient",
            constraint=models.CheckConstraint(
                condition=models.Q(("given_name", ""), _negated=True),
                name="patient_given_name_present",
            ),
        ),
        migrations.AddConstraint(
            model_name="patient",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    models.Q(("species", ""), _negated=True),
                    models.Q(
                        models.Q(("family_name", ""), _negated=True),
                        ("date_of_birth__isnull", False),
                    ),
                    _connector="OR",
                ),
                name="patient_human_identity",
            ),
        ),
        migrations.AddConstraint(
            model_name="patient",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    ("microchip", ""), models.Q(("species", ""), _negated=True), _connector="OR"
                ),
                name="patient_microchip_animals",
            ),
        ),
        migrations.AddConstraint(
            model_name="patient",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    ("microchip", ""), ("microchip__regex", "^[0-9A-Z]{9,15}$"), _connector="OR"
                ),
                name="patient_microchip_format",
            ),
        ),
        migrations.AddConstraint(
            model_name="patient",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    ("weight_kg__isnull", True), ("weight_kg__gt", 0), _connector="OR"
                ),
                name="patient_weight_positive",
            ),
        ),
        migrations.AddConstraint(
            model_name="patient",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    ("date_of_birth__isnull", True),
                    ("date_of_birth__gte", "1850-01-01"),
                    _connector="OR",
                ),
                name="patient_dob_plausible",
            ),
        ),
        migrations.AddConstraint(
            model_name="patient",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    ("phone", ""), ("phone__regex", "^\\+[1-9][0-9]{6,14}$"), _connector="OR"
                ),
                name="patient_phone_e164",
            ),
        ),
        migrations.AddConstraint(
            model_name="patient",
            constraint=models.CheckConstraint(
                condition=models.Q(("email", django.db.models.functions.text.Lower("email"))),
                name="patient_email_lowercase",
            ),
        ),
        migrations.AddConstraint(
            model_name="patient",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    ("country", ""), ("country__regex", "^[A-Z]{2}$"), _connector="OR"
                ),
                name="patient_country_iso",
            ),
        ),
        migrations.AddConstraint(
            model_name="patient",
            constraint=models.CheckConstraint(
                condition=models.Q(("sex__in", ["female", "male", "other", "unknown"])),
                name="patient_sex_valid",
            ),
        ),
        migrations.AddConstraint(
            model_name="patient",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    ("preferred_language__in", ["en", "fr", "ar"]),
                    ("preferred_language", ""),
                    _connector="OR",
                ),
                name="patient_language_valid",
            ),
        ),
        migrations.AddIndex(
            model_name="patientcontact",
            index=models.Index(fields=["organization", "contact"], name="patient_contact_rev"),
        ),
        migrations.AddConstraint(
            model_name="patientcontact",
            constraint=models.UniqueConstraint(
                fields=("organization", "patient", "contact", "relationship"),
                name="patient_contact_unique",
            ),
        ),
        migrations.AddConstraint(
            model_name="patientcontact",
            constraint=models.UniqueConstraint(
                condition=models.Q(("is_primary", True)),
                fields=("organization", "patient"),
                name="patient_contact_one_primary",
            ),
        ),
        migrations.AddConstraint(
            model_name="patientcontact",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    (
                        "relationship__in",
                        [
                            "parent",
                            "legal_guardian",
                            "owner",
                            "emergency_contact",
                            "payer",
                            "other",
                        ],
                    )
                ),
                name="patient_contact_relationship",
            ),
        ),
        migrations.AddIndex(
            model_name="patientimport",
            index=models.Index(fields=["organization", "-created_at"], name="patient_import_org"),
        ),
        migrations.AddConstraint(
            model_name="patientimport",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    ("status__in", ["validating", "validated", "imported", "failed"])
                ),
                name="patient_import_status",
            ),
        ),
        migrations.AddConstraint(
            model_name="patientimport",
            constraint=models.CheckConstraint(
                condition=models.Q(("processed_rows__lte", models.F("total_rows"))),
                name="patient_import_progress",
            ),
        ),
        migrations.AddIndex(
            model_name="room",
            index=models.Index(
                fields=["organization", "location", "name"], name="room_org_location"
            ),
        ),
        migrations.AddConstraint(
            model_name="room",
            constraint=models.UniqueConstraint(
                models.F("organization"),
                models.F("location"),
                django.db.models.functions.text.Lower("name"),
                name="room_name_unique",
            ),
        ),
        migrations.AddConstraint(
            model_name="room",
            constraint=models.UniqueConstraint(fields=("organization", "id"), name="room_org_id"),
        ),
        migrations.AddConstraint(
            model_name="room",
            constraint=models.CheckConstraint(
                condition=models.Q(("name", ""), _negated=True), name="room_name_present"
            ),
        ),
        migrations.AddConstraint(
            model_name="room",
            constraint=models.CheckConstraint(
                condition=models.Q(("capacity__gte", 1), ("capacity__lte", 1000)),
                name="room_capacity_range",
            ),
        ),
        migrations.AddConstraint(
            model_name="room",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    (
                        "kind__in",
                        [
                            "treatment",
                            "consultation",
                            "group",
                            "surgery",
                            "imaging",
                            "kennel",
                            "other",
                        ],
                    )
                ),
                name="room_kind_valid",
            ),
        ),
        migrations.AddIndex(
            model_name="service",
            index=models.Index(fields=["organization", "name"], name="service_org_name"),
        ),
        migrations.AddConstraint(
            model_name="service",
            constraint=models.UniqueConstraint(
                models.F("organization"),
                django.db.models.functions.text.Lower("name"),
                name="service_name_unique",
            ),
        ),
        migrations.AddConstraint(
            model_name="service",
            constraint=models.UniqueConstraint(
                condition=models.Q(("code", ""), _negated=True),
                fields=("organization", "code"),
                name="service_code_unique",
            ),
        ),
        migrations.AddConstraint(
            model_name="service",
            constraint=models.UniqueConstraint(
                fields=("organization", "id"), name="service_org_id"
            ),
        ),
        migrations.AddConstraint(
            model_name="service",
            constraint=models.CheckConstraint(
                condition=models.Q(("name", ""), _negated=True), name="service_name_present"
            ),
        ),
        migrations.AddConstraint(
            model_name="service",
            constraint=models.CheckConstraint(
                condition=models.Q(("duration_minutes__gte", 1), ("duration_minutes__lte", 1440)),
                name="service_duration_range",
            ),
        ),
        migrations.AddConstraint(
            model_name="service",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    ("buffer_after_minutes__lte", 240), ("buffer_before_minutes__lte", 240)
                ),
                name="service_buffers_range",
            ),
        ),
        migrations.AddConstraint(
            model_name="service",
            constraint=models.CheckConstraint(
                condition=models.Q(("price__gte", 0)), name="service_price_not_negative"
            ),
        ),
        migrations.AddConstraint(
            model_name="service",
            constraint=models.CheckConstraint(
                condition=models.Q(("tax_rate__gte", 0), ("tax_rate__lte", 100)),
                name="service_tax_rate_percent",
            ),
        ),
        migrations.AddConstraint(
            model_name="service",
            constraint=models.CheckConstraint(
                condition=models.Q(("colour__regex", "^#[0-9a-f]{6}$")), name="service_colour_hex"
            ),
        ),
        migrations.AddConstraint(
            model_name="service",
            constraint=models.CheckConstraint(
                condition=models.Q(("modality__in", ["in_person", "telehealth", "home_visit"])),
                name="service_modality_valid",
            ),
        ),
        migrations.AddIndex(
            model_name="practitionerservice",
            index=models.Index(fields=["organization", "service"], name="practitioner_svc_rev"),
        ),
        migrations.AddConstraint(
            model_name="practitionerservice",
            constraint=models.UniqueConstraint(
                fields=("organization", "practitioner", "service"),
                name="practitioner_service_unique",
            ),
        ),
        migrations.AddIndex(
            model_name="practitioner",
            index=models.Index(
                fields=["organization", "display_name"], name="practitioner_org_name"
            ),
        ),
        migrations.AddIndex(
            model_name="practitioner",
            index=django.contrib.postgres.indexes.GinIndex(
                fields=["specialties"], name="practitioner_specialties"
            ),
        ),
        migrations.AddConstraint(
            model_name="practitioner",
            constraint=models.UniqueConstraint(
                condition=models.Q(("membership__isnull", False)),
                fields=("organization", "membership"),
                name="practitioner_membership_unique",
            ),
        ),
        migrations.AddConstraint(
            model_name="practitioner",
            constraint=models.UniqueConstraint(
                fields=("organization", "id"), name="practitioner_org_id"
            ),
        ),
        migrations.AddConstraint(
            model_name="practitioner",
            constraint=models.CheckConstraint(
                condition=models.Q(("display_name", ""), _negated=True),
                name="practitioner_name_present",
            ),
        ),
        migrations.AddConstraint(
            model_name="practitioner",
            constraint=models.CheckConstraint(
                condition=models.Q(("colour__regex", "^#[0-9a-f]{6}$")),
                name="practitioner_colour_hex",
            ),
        ),
        migrations.AddConstraint(
            model_name="practitioner",
            constraint=models.CheckConstraint(
                condition=django.db.models.lookups.Exact(
                    models.Func(
                        models.F("credentials"),
                        function="jsonb_typeof",
                        output_field=models.TextField(),
                    ),
                    "array",
                ),
                name="practitioner_credentials_array",
            ),
        ),
    ]
