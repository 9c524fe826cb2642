"""References from scheduling rows go through (organization_id, id) too: an appointment can never
point at another clinic's practitioner, patient, service, location, room, series or hold — the
database refuses it, whatever the code does."""

from django.db import migrations

# (table, constraint, column, referenced table)
SAME_ORG_REFERENCES = [
    (table, f"{short}_{column.removesuffix('_id')}_same_org", column, referenced)
    for table, short, columns in (
        (
            "scheduling_appointment",
            "appointment",
            (
                "practitioner_id",
                "patient_id",
                "service_id",
                "location_id",
                "room_id",
                "series_id",
                "hold_id",
            ),
        ),
        (
            "scheduling_appointmentseries",
            "series",
            ("practitioner_id", "patient_id", "service_id", "location_id", "room_id"),
        ),
        ("scheduling_availabilityrule", "availability_rule", ("practitioner_id", "location_id")),
        (
            "scheduling_availabilityexception",
            "availability_exception",
            ("practitioner_id", "location_id"),
        ),
        ("scheduling_icsfeed", "icsfeed", ("practitioner_id",)),
    )
    for column in columns
    for referenced in [
        {
            "practitioner_id": "directory_practitioner",
            "patient_id": "directory_patient",
            "service_id": "directory_service",
            "location_id": "directory_location",
            "room_id": "directory_room",
            "series_id": "scheduling_appointmentseries",
            "hold_id": "scheduling_hold",
        }[column]
    ]
]


def _add(table, name, column, referenced):
    return (
        f"ALTER TABLE {table} ADD CONSTRAINT {name} FOREIGN KEY (organization_id, {column}) "
        f"REFERENCES {referenced} (organization_id, id) DEFERRABLE INITIALLY DEFERRED"
    )


def _drop(table, name, column, referenced):
    return f"ALTER TABLE {table} DROP CONSTRAINT IF EXISTS {name}"


class Migration(migrations.Migration):
    dependencies = [("scheduling", "0001_appointments_availability_holds_feeds")]

    operations = [migrations.RunSQL(_add(*ref), _drop(*ref)) for ref in SAME_ORG_REFERENCES]
