"""`clinic audit partitions` and `clinic audit detach YYYY-MM`: the audit log's months.

Detaching turns a month into a table of its own (same name), out of the application's reach
(no grant, no policy: nothing but the owner reads it) — dump it for the archive
(`clinic db psql` / `pg_dump -t audit_auditevent_p202601`), then drop it. Runs as the owner role.
"""

from __future__ import annotations

import re


def parsers_add(sub) -> None:
    s = sub.add_parser("audit", help="the audit log's monthly partitions")
    asub = s.add_subparsers(dest="audit_action", required=True)
    asub.add_parser("partitions", help="list the months with their row counts")
    d = asub.add_parser("detach", help="detach one month for archive (owner role)")
    d.add_argument("month", help="YYYY-MM, a month before the current one")


def partitions_list() -> list[tuple[str, int]]:
    from django.db import connections

    with connections["owner"].cursor() as cur:
        cur.execute(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = 'audit_auditevent'::regclass ORDER BY c.relname"
        )
        names = [row[0] for row in cur.fetchall()]
        rows = []
        for name in names:
            cur.execute(f'SELECT count(*) FROM "{name}"')  # names come from the catalog
            rows.append((name, cur.fetchone()[0]))
    return rows


def partition_detach(month: str) -> str:
    """Detach `YYYY-MM` (never the current month or a later one, never the default)."""
    from django.db import connections, transaction
    from django.utils import timezone

    from clinic.core.errors import ValidationFailed

    found = re.fullmatch(r"(\d{4})-(\d{2})", month or "")
    if not found or not 1 <= int(found[2]) <= 12:
        raise ValidationFailed("Give the month as YYYY-MM.", details={"month": ["YYYY-MM"]})
    if (int(found[1]), int(found[2])) >= (timezone.now().year, timezone.now().month):
        raise ValidationFailed(
            "Only a past month can be detached.", details={"month": ["a past month"]}
        )
    name = f"audit_auditevent_p{found[1]}{found[2]}"
    if name not in dict(partitions_list()):
        raise ValidationFailed(f"No partition {name}.", details={"month": ["no such partition"]})
    with transaction.atomic(using="owner"), connections["owner"].cursor() as cur:
        cur.execute(f'ALTER TABLE audit_auditevent DETACH PARTITION "{name}"')
    return name


def cmd_audit(args) -> int:
    if args.audit_action == "partitions":
        for name, count in partitions_list():
            print(f"{name}\t{count}")
        return 0
    name = partition_detach(args.month)
    print(f"Detached {name}: archive it (pg_dump -t {name}), then DROP TABLE {name}.")
    return 0


COMMANDS = {"audit": cmd_audit}
