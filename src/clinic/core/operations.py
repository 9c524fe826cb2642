"""`clinic backup`, `clinic restore`, `clinic check --deploy` and `clinic keys rotate`: the
operations commands.

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

    s = sub.add_parser("keys", help="field-encryption keys")
    keys = s.add_subparsers(dest="keys_command", required=True)
    r = keys.add_parser(
        "rotate",
        help="re-encrypt every stored value and document under the first key of "
        "FIELD_ENCRYPTION_KEYS (in batches; run it again to resume)",
    )
    r.add_argument("--batch", type=int, default=500, help="rows per transaction (default 500)")
    r.add_argument("--org", action="append", help="only this organization's data (slug; repeat)")


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


def cmd_keys(args) -> int:
    from clinic.core.keys import keys_rotate, organization_ids_for

    if args.batch < 1:
        print("error: --batch must be at least 1", file=sys.stderr)
        return 2
    org_ids = None
    if args.org:
        found = organization_ids_for(args.org)
        unknown = sorted(set(args.org) - set(found))
        if unknown:
            print(f"error: no organization {', '.join(unknown)}", file=sys.stderr)
            return 2
        org_ids = list(found.values())
    report = keys_rotate(
        batch=args.batch, progress=lambda line: print(line, flush=True), organization_ids=org_ids
    )
    print(
        f"Every encrypted value is under key {report.key_id!r} "
        f"({report.total} re-encrypted now). Old keys may be removed from "
        "FIELD_ENCRYPTION_KEYS once every copy of the data (backups included) is rotated.",
        flush=True,
    )
    return 0


COMMANDS = {"backup": cmd_backup, "restore": cmd_restore, "check": cmd_check, "keys": cmd_keys}
