from django.contrib.postgres.operations import (
    BtreeGistExtension,
    TrigramExtension,
    UnaccentExtension,
)
from django.db import migrations


class Migration(migrations.Migration):
    """Trusted extensions: the database owner may create them (PostgreSQL ≥ 13)."""

    initial = True
    dependencies = []
    operations = [BtreeGistExtension(), TrigramExtension(), UnaccentExtension()]
