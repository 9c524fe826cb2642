"""The worker's tables now belong to core (core 0005 renamed them): forget the models here."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("core", "0005_worker_bookkeeping"),
        ("notifications", "0001_notifications_deliveries_worker"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.DeleteModel(name="PeriodicJobState"),
                migrations.DeleteModel(name="WorkerHeartbeat"),
            ],
        ),
    ]
