"""Idempotency keys stored before keys were bound to a membership cannot be attributed to one;
they are short-lived replay records, so they are dropped (TRUNCATE: row-level security does not
hide rows from it, and no row trigger fires). Data only; 0004 changes the table."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("core", "0002_idempotency_record")]

    operations = [
        migrations.RunSQL("TRUNCATE core_idempotencyrecord", migrations.RunSQL.noop),
    ]
