"""An Idempotency-Key is scoped to organization + membership (issue 18, defect 1): a replay
by another member of the clinic is a new request under its own permissions. The table is empty
(0003), so the column is added NOT NULL without a default."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0002_token_authenticate_function"),
        ("core", "0003_idempotency_unbound_keys_dropped"),
    ]

    operations = [
        migrations.RemoveConstraint(
            model_name="idempotencyrecord",
            name="idempotency_key_unique",
        ),
        migrations.AddField(
            model_name="idempotencyrecord",
            name="membership",
            field=models.ForeignKey(
                db_index=False,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="+",
                to="accounts.membership",
            ),
        ),
        migrations.AddConstraint(
            model_name="idempotencyrecord",
            constraint=models.UniqueConstraint(
                fields=("organization", "membership", "key"),
                name="idempotency_key_per_membership",
            ),
        ),
    ]
