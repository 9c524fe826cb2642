"""Invoice lines say when and by whom the service was given (filled from the appointment a line
bills). The practitioner reference goes through (organization_id, id) like billing's others."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("billing", "0002_money_guards"),
        ("directory", "0003_search_words_under_rls"),
    ]

    operations = [
        migrations.AddField(
            model_name="invoiceline",
            name="practitioner",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to="directory.practitioner",
                verbose_name="practitioner",
            ),
        ),
        migrations.AddField(
            model_name="invoiceline",
            name="service_date",
            field=models.DateField(blank=True, null=True, verbose_name="service date"),
        ),
        migrations.RunSQL(
            "ALTER TABLE billing_invoiceline ADD CONSTRAINT invoice_line_practitioner_same_org "
            "FOREIGN KEY (organization_id, practitioner_id) "
            "REFERENCES directory_practitioner (organization_id, id) DEFERRABLE INITIALLY DEFERRED",
            "ALTER TABLE billing_invoiceline DROP CONSTRAINT IF EXISTS "
            "invoice_line_practitioner_same_org",
        ),
    ]
