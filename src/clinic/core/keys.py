"""`clinic keys rotate`: re-encrypt every stored value (and every sealed file) that is not under
the current key — the first of FIELD_ENCRYPTION_KEYS.

In batches, each its own transaction, so a rotation can be stopped and run again: it picks up
what is left (rows still under another key id), and the app keeps serving meanwhile (rows being
rotated are skipped by a concurrent run, `SKIP LOCKED`). Runs as the owner role, organization by
organization (tenant tables force row-level security on their owner too), and declares itself
(`app.key_rotation`) so the clinical guards let it replace a signed note's ciphertext — and
nothing else (clinical migration 0005).

Modules with sealed files register how to rotate them (`rotator_register`): clinical documents.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from django.db import connections
from psycopg import sql

from clinic.core.fields import PREFIX, decrypt, encrypt, encrypted_columns, key_id_current
from clinic.core.tenancy import tenant_context

DEFAULT_BATCH = 500
Progress = Callable[[str], None]
# name -> fn(org_id, current_kid, batch) -> number rotated in this batch (0: nothing left)
_ROTATORS: dict[str, Callable[[object, str, int], int]] = {}


def rotator_register(name: str, fn: Callable[[object, str, int], int]) -> None:
    _ROTATORS[name] = fn


@dataclass
class RotationReport:
    key_id: str
    rotated: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.rotated.values())


def organization_ids_for(slugs: list[str]) -> dict[str, object]:
    """The ids of the organizations of these slugs (those found), for `--org`."""
    with connections["owner"].cursor() as cur:
        cur.execute("SELECT slug, id FROM accounts_organization WHERE slug = ANY(%s)", [slugs])
        return dict(cur.fetchall())


def _organization_ids() -> list:
    with connections["owner"].cursor() as cur:
        cur.execute("SELECT id FROM accounts_organization ORDER BY id")
        return [row[0] for row in cur.fetchall()]


def _column_batch(org_id, table: str, pk: str, column: str, current: str, batch: int) -> int:
    """Re-encrypt up to `batch` values of one column of one organization; how many."""
    query = sql.SQL(
        "SELECT {pk}, {c} FROM {t} WHERE starts_with({c}, %s) AND NOT starts_with({c}, %s) "
        "ORDER BY {pk} LIMIT %s FOR UPDATE SKIP LOCKED"
    ).format(t=sql.Identifier(table), pk=sql.Identifier(pk), c=sql.Identifier(column))
    update = sql.SQL("UPDATE {t} SET {c} = %s WHERE {pk} = %s").format(
        t=sql.Identifier(table), pk=sql.Identifier(pk), c=sql.Identifier(column)
    )
    with tenant_context(org_id, using="owner"):
        with connections["owner"].cursor() as cur:
            cur.execute("SELECT set_config('app.key_rotation', 'on', true)")
            cur.execute(query, [f"{PREFIX}:", f"{PREFIX}:{current}:", batch])
            rows = cur.fetchall()
            for row_id, stored in rows:
                cur.execute(update, [encrypt(decrypt(stored)), row_id])
    return len(rows)


def keys_rotate(
    *, batch: int = DEFAULT_BATCH, progress: Progress | None = None, organization_ids=None
) -> RotationReport:
    """Move every encrypted value and sealed file (of every organization, or of those given)
    to the current key; a report of how many were moved per column/rotator."""
    current = key_id_current()
    report = RotationReport(key_id=current)
    say = progress or (lambda _line: None)
    jobs: list[tuple[str, Callable[[object], int]]] = [
        (
            f"{table}.{column}",
            lambda org, t=table, p=pk, c=column: _column_batch(org, t, p, c, current, batch),
        )
        for table, pk, column in encrypted_columns()
    ]
    jobs += [(name, lambda org, fn=fn: fn(org, current, batch)) for name, fn in _ROTATORS.items()]
    for org_id in organization_ids if organization_ids is not None else _organization_ids():
        for name, run in jobs:
            while moved := run(org_id):
                report.rotated[name] = report.rotated.get(name, 0) + moved
                say(f"{name}: {report.rotated[name]} re-encrypted")
    return report
