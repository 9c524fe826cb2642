"""The task worker's bookkeeping moves from notifications to core with the worker itself (issue
20, item 5): the tables are renamed, their rows kept; notifications 0002 forgets the models."""

from django.db import migrations, models

RENAMES = [
    ("notifications_periodicjobstate", "core_periodicjobstate"),
    ("notifications_workerheartbeat", "core_workerheartbeat"),
]


class Migration(migrations.Migration):
    dependencies = [
        ("core", "0004_idempotency_key_per_membership"),
        ("notifications", "0001_notifications_deliveries_worker"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[
                migrations.RunSQL(
                    f"ALTER TABLE {old} RENAME TO {new}",
                    reverse_sql=f"ALTER TABLE {new} RENAME TO {old}",
                )
                for old, new in RENAMES
            ],
            state_operations=[
                migrations.CreateModel(
                    name="PeriodicJobState",
                    fields=[
                        (
                            "name",
                            models.CharField(max_length=100, primary_key=True, serialize=False),
                        ),
                        ("last_run_at", models.DateTimeField(blank=True, null=True)),
                        ("next_run_at", models.DateTimeField()),
                        ("last_fanout", models.PositiveIntegerField(default=0)),
                        ("skipped_runs", models.PositiveIntegerField(default=0)),
                    ],
                ),
                migrations.CreateModel(
                    name="WorkerHeartbeat",
                    fields=[
                        (
                            "worker_id",
                            models.CharField(max_length=64, primary_key=True, serialize=False),
                        ),
                        ("hostname", models.CharField(max_length=255)),
                        ("pid", models.PositiveIntegerField()),
                        ("concurrency", models.PositiveSmallIntegerField()),
                        ("started_at", models.DateTimeField()),
                        ("last_seen_at", models.DateTimeField()),
                        ("tasks_done", models.PositiveIntegerField(default=0)),
                        ("tasks_failed", models.PositiveIntegerField(default=0)),
                    ],
                ),
            ],
        ),
    ]
