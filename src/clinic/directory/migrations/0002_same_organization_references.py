"""References between directory rows also go through (organization_id, id): a room cannot sit at
another clinic's location, a link cannot join one clinic's patient to another's contact — the
database refuses it, whatever the code does. (Django's own single-column foreign keys stay.)"""

from django.db import migrations

# (table, constraint, column, referenced table)
SAME_ORG_REFERENCES = [
    ("directory_room", "room_location_same_org", "location_id", "directory_location"),
    (
        "directory_practitioner",
        "practitioner_location_same_org",
        "default_location_id",
        "directory_location",
    ),
    (
        "directory_practitionerservice",
        "practitioner_service_practitioner_same_org",
        "practitioner_id",
        "directory_practitioner",
    ),
    (
        "directory_practitionerservice",
        "practitioner_service_service_same_org",
        "service_id",
        "directory_service",
    ),
    (
        "directory_patientcontact",
        "patient_contact_patient_same_org",
        "patient_id",
        "directory_patient",
    ),
    (
        "directory_patientcontact",
        "patient_contact_contact_same_org",
        "contact_id",
        "directory_contact",
    ),
]


def _add(table, name, column, referenced):
    return (
        f"ALTER TABLE {table} ADD CONSTRAINT {name} FOREIGN KEY (organization_id, {column}) "
        f"REFERENCES {referenced} (organization_id, id) DEFERRABLE INITIALLY DEFERRED"
    )


def _drop(table, name, column, referenced):
    return f"ALTER TABLE {table} DROP CONSTRAINT IF EXISTS {name}"


class Migration(migrations.Migration):
    dependencies = [("directory", "0001_directory_records")]

    operations = [migrations.RunSQL(_add(*ref), _drop(*ref)) for ref in SAME_ORG_REFERENCES]
