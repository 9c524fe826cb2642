"""`clinic backup`, `clinic restore` and `clinic check --deploy`: the operations commands.

`clinic.cli` registers them (`parsers_add`, `COMMANDS`) and sets Django up (and starts the
embedded server) before a command runs.
"""

from __future__ import annotations

import sys
from pathlib import Path

SUPERUSER_HELP = (
    "superuser connection to the server (external databases; default: DATABASE_SUPERUSER_URL). "
    "Tenant tables force row-level security even on their owner, so pg_dump runs as a superuser"
)


def parsers_add(sub) -> None:
    s = sub.add_parser(
        "backup",
        help="back up the database into one file (pg_dump custom format + manifest, in a tar)",
    )
    s.add_argument("--to", type=Path, help="file to write (default: var/backups/<db>-<UTC>.tar)")
    s.add_argument("--superuser-url", help=SUPERUSER_HELP)

    s = sub.add_parser("restore", help="restore a backup made by `clinic backup`")
    s.add_argument("file", type=Path)
    s.add_argument(
        "--force", action="store_true", help="drop the database first if it is not empty"
    )
    s.add_argument("--superuser-url", help=SUPERUSER_HELP)

    s = sub.add_parser("check", help="system checks; --deploy adds the deployment checks")
    s.add_argument("--deploy", action="store_true", help="Django's and the clinic's deploy checks")
    s.add_argument(
        "--fail-level",
        default="ERROR",
        choices=["CRITICAL", "ERROR", "WARNING", "INFO", "DEBUG"],
        help="exit non-zero on messages of this level or above (default: ERROR)",
    )


def _var_dir() -> Path:
    from django.conf import settings

    return Path(settings.VAR_DIR)


def cmd_backup(args) -> int:
    from clinic.core.backup import backup_create, configured_target, default_backup_path

    target = configured_target(args.superuser_url, _var_dir())
    dest = args.to or default_backup_path(_var_dir(), target.dbname)
    manifest = backup_create(target, dest)
    applied = sum(len(v) for v in manifest["migrations"].values())
    print(
        f"Backed up database {target.dbname!r} to {dest} "
        f"({manifest['dump']['bytes']} bytes dump, {applied} migrations, "
        f"sha256 {manifest['dump']['sha256'][:16]}…).",
        flush=True,
    )
    return 0


def cmd_restore(args) -> int:
    from clinic.core.backup import backup_restore, configured_target

    target = configured_target(args.superuser_url, _var_dir())
    report = backup_restore(args.file, target, force=args.force)
    for line in report.messages:
        print(line, flush=True)
    made = report.manifest
    print(
        f"Restored {args.file} (made {made['created_at']} by version {made['app_version']}) "
        f"into database {target.dbname!r}.",
        flush=True,
    )
    if report.migrations_unknown:
        print(
            "error: the backup has migrations this code does not know (it is older than the "
            "backup): " + ", ".join(report.migrations_unknown),
            file=sys.stderr,
        )
        return 1
    if report.migrations_pending:
        print(
            f"The backup lacks {len(report.migrations_pending)} migrations of this code; run "
            "`clinic migrate` (it re-applies the security set-up too).",
            file=sys.stderr,
        )
        return 1
    print("Migrations match this code.", flush=True)
    return 0


def cmd_check(args) -> int:
    from django.core.management import call_command
    from django.core.management.base import SystemCheckError

    try:
        call_command("check", deploy=args.deploy, fail_level=args.fail_level)
    except SystemCheckError as exc:
        print(exc, file=sys.stderr)
        return 1
    return 0


COMMANDS = {"backup": cmd_backup, "restore": cmd_restore, "check": cmd_check}
