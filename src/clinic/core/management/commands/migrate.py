"""`migrate` runs as the owner role, then applies RLS policies, grants and audit triggers."""

from django.core.management.commands.migrate import Command as DjangoMigrate

from clinic.core.database import MigrateAsOwnerRouter
from clinic.core.security import database_secure


class Command(DjangoMigrate):
    def handle(self, *args, **options):
        if options.get("database") in (None, "default"):
            options["database"] = "owner"
        MigrateAsOwnerRouter.migrating_alias = options["database"]
        try:
            super().handle(*args, **options)
        finally:
            MigrateAsOwnerRouter.migrating_alias = None
        database_secure(using=options["database"])
        if options.get("verbosity", 1):
            self.stdout.write("Row-level security, grants and audit triggers applied.")
