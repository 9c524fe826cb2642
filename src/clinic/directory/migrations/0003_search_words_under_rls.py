import django.db.models.functions.text
from django.db import migrations, models

import clinic.directory.models

# The k-th word of a folded name: generated, "C"-collated, btree-indexed columns that a
# row-level-security query can search by prefix with the leakproof `^@` operator (see
# clinic.directory.models: LIKE and pg_trgm operators are not leakproof, so PostgreSQL will not
# use a trigram index under RLS).
SEARCH_WORD = r"""
CREATE OR REPLACE FUNCTION public.directory_search_word(text, integer) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT NULLIF(split_part(btrim(public.directory_search_fold($1)), ' ', $2), '') $$;
"""


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0001_initial"),
        ("directory", "0002_same_organization_references"),
    ]

    operations = [
        migrations.RunSQL(
            SEARCH_WORD, "DROP FUNCTION IF EXISTS public.directory_search_word(text, integer)"
        ),
        migrations.RemoveIndex(
            model_name="contact",
            name="contact_search_trgm",
        ),
        migrations.RemoveIndex(
            model_name="patient",
            name="patient_search_trgm",
        ),
        migrations.RemoveIndex(
            model_name="patient",
            name="patient_phone_trgm",
        ),
        migrations.RemoveIndex(
            model_name="patient",
            name="patient_mrn_prefix",
        ),
        migrations.RemoveIndex(
            model_name="patient",
            name="patient_microchip_prefix",
        ),
        migrations.AddField(
            model_name="contact",
            name="name_word1",
            field=models.GeneratedField(
                db_persist=True,
                expression=clinic.directory.models.SearchWord(
                    django.db.models.functions.text.Concat(
                        "given_name",
                        models.Value(" "),
                        "family_name",
                        output_field=models.TextField(),
                    ),
                    models.Value(1),
                ),
                output_field=models.TextField(db_collation="C"),
            ),
        ),
        migrations.AddField(
            model_name="contact",
            name="name_word2",
            field=models.GeneratedField(
                db_persist=True,
                expression=clinic.directory.models.SearchWord(
                    django.db.models.functions.text.Concat(
                        "given_name",
                        models.Value(" "),
                        "family_name",
                        output_field=models.TextField(),
                    ),
                    models.Value(2),
                ),
                output_field=models.TextField(db_collation="C"),
            ),
        ),
        migrations.AddField(
            model_name="contact",
            name="name_word3",
            field=models.GeneratedField(
                db_persist=True,
                expression=clinic.directory.models.SearchWord(
                    django.db.models.functions.text.Concat(
                        "given_name",
                        models.Value(" "),
                        "family_name",
                        output_field=models.TextField(),
                    ),
                    models.Value(3),
                ),
                output_field=models.TextField(db_collation="C"),
            ),
        ),
        migrations.AddField(
            model_name="contact",
            name="name_word4",
            field=models.GeneratedField(
                db_persist=True,
                expression=clinic.directory.models.SearchWord(
                    django.db.models.functions.text.Concat(
                        "given_name",
                        models.Value(" "),
                        "family_name",
                        output_field=models.TextField(),
                    ),
                    models.Value(4),
                ),
                output_field=models.TextField(db_collation="C"),
            ),
        ),
        migrations.AddField(
            model_name="patient",
            name="name_word1",
            field=models.GeneratedField(
                db_persist=True,
                expression=clinic.directory.models.SearchWord(
                    django.db.models.functions.text.Concat(
                        "given_name",
                        models.Value(" "),
                        "family_name",
                        models.Value(" "),
                        "preferred_name",
                        output_field=models.TextField(),
                    ),
                    models.Value(1),
                ),
                output_field=models.TextField(db_collation="C"),
            ),
        ),
        migrations.AddField(
            model_name="patient",
            name="name_word2",
            field=models.GeneratedField(
                db_persist=True,
                expression=clinic.directory.models.SearchWord(
                    django.db.models.functions.text.Concat(
                        "given_name",
                        models.Value(" "),
                        "family_name",
                        models.Value(" "),
                        "preferred_name",
                        output_field=models.TextField(),
                    ),
                    models.Value(2),
                ),
                output_field=models.TextField(db_collation="C"),
            ),
        ),
        migrations.AddField(
            model_name="patient",
            name="name_word3",
            field=models.GeneratedField(
                db_persist=True,
                expression=clinic.directory.models.SearchWord(
                    django.db.models.functions.text.Concat(
                        "given_name",
                        models.Value(" "),
                        "family_name",
                        models.Value(" "),
                        "preferred_name",
                        output_field=models.TextField(),
                    ),
                    models.Value(3),
                ),
                output_field=models.TextField(db_collation="C"),
            ),
        ),
        migrations.AddField(
            model_name="patient",
            name="name_word4",
            field=models.GeneratedField(
                db_persist=True,
                expression=clinic.directory.models.SearchWord(
                    django.db.models.functions.text.Concat(
                        "given_name",
                        models.Value(" "),
                        "family_name",
                        models.Value(" "),
                        "preferred_name",
                        output_field=models.TextField(),
                    ),
                    models.Value(4),
                ),
                output_field=models.TextField(db_collation="C"),
            ),
        ),
        migrations.AddField(
            model_name="patient",
            name="name_word5",
            field=models.GeneratedField(
                db_persist=True,
                expression=clinic.directory.models.SearchWord(
                    django.db.models.functions.text.Concat(
                        "given_name",
                        models.Value(" "),
                        "family_name",
                        models.Value(" "),
                        "preferred_name",
                        output_field=models.TextField(),
                    ),
                    models.Value(5),
                ),
                output_field=models.TextField(db_collation="C"),
            ),
        ),
        migrations.AlterField(
            model_name="contact",
            name="phone",
            field=models.CharField(
                blank=True, db_collation="C", max_length=20, verbose_name="phone"
            ),
        ),
        migrations.AlterField(
            model_name="patient",
            name="microchip",
            field=models.CharField(
                blank=True, db_collation="C", max_length=15, verbose_name="microchip"
            ),
        ),
        migrations.AlterField(
            model_name="patient",
            name="mrn",
            field=models.CharField(
                db_collation="C", max_length=32, verbose_name="medical record number"
            ),
        ),
        migrations.AlterField(
            model_name="patient",
            name="phone",
            field=models.CharField(
                blank=True, db_collation="C", max_length=20, verbose_name="phone"
            ),
        ),
        migrations.AddIndex(
            model_name="contact",
            index=models.Index(fields=["organization", "name_word1"], name="contact_word1"),
        ),
        migrations.AddIndex(
            model_name="contact",
            index=models.Index(fields=["organization", "name_word2"], name="contact_word2"),
        ),
        migrations.AddIndex(
            model_name="contact",
            index=models.Index(fields=["organization", "name_word3"], name="contact_word3"),
        ),
        migrations.AddIndex(
            model_name="contact",
            index=models.Index(fields=["organization", "name_word4"], name="contact_word4"),
        ),
        migrations.AddIndex(
            model_name="contact",
            index=models.Index(
                condition=models.Q(("phone", ""), _negated=True),
                fields=["organization", "phone"],
                name="contact_phone_prefix",
            ),
        ),
        migrations.AddIndex(
            model_name="patient",
            index=models.Index(fields=["organization", "name_word1"], name="patient_word1"),
        ),
        migrations.AddIndex(
            model_name="patient",
            index=models.Index(fields=["organization", "name_word2"], name="patient_word2"),
        ),
        migrations.AddIndex(
            model_name="patient",
            index=models.Index(fields=["organization", "name_word3"], name="patient_word3"),
        ),
        migrations.AddIndex(
            model_name="patient",
            index=models.Index(fields=["organization", "name_word4"], name="patient_word4"),
        ),
        migrations.AddIndex(
            model_name="patient",
            index=models.Index(fields=["organization", "name_word5"], name="patient_word5"),
        ),
        migrations.AddIndex(
            model_name="patient",
            index=models.Index(
                condition=models.Q(("phone", ""), _negated=True),
                fields=["organization", "phone"],
                name="patient_phone_prefix",
            ),
        ),
        migrations.AddIndex(
            model_name="patient",
            index=models.Index(fields=["organization", "date_of_birth"], name="patient_org_dob"),
        ),
    ]
