"""Test set-up: one PostgreSQL database per xdist worker, migrated as the owner role, used by
the application role — so every test runs under the same row-level security as production."""

from __future__ import annotations

import hashlib
import os
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

ROOT = Path(__file__).resolve().parent.parent
os.environ.setdefault("CLINIC_HOME", str(ROOT))
os.environ.setdefault("AXES_FAILURE_LIMIT", "5")
# a fixed field-encryption key for the suite (and the processes it starts): the app refuses to
# run without one. pytest-django may have read the settings already, hence both.
TEST_FIELD_KEYS = "test1:" + "dGVzdC1maWVsZC1lbmNyeXB0aW9uLWtleS0zMmJ5dGU="
os.environ.setdefault("FIELD_ENCRYPTION_KEYS", TEST_FIELD_KEYS)

PASSWORD = "correct-horse-battery-9"


def pytest_addoption(parser):
    parser.addoption(
        "--clock",
        default=os.environ.get("CLINIC_TEST_NOW", ""),
        help="run the whole suite as if it were this ISO 8601 instant (time flows from there), "
        "e.g. --clock=2027-03-28T00:30:00+00:00; also CLINIC_TEST_NOW",
    )


def _is_controller(config) -> bool:
    return not hasattr(config, "workerinput")


def pytest_configure(config):
    from django.conf import settings

    if not settings.FIELD_ENCRYPTION_KEYS:
        settings.FIELD_ENCRYPTION_KEYS = os.environ["FIELD_ENCRYPTION_KEYS"]
    # uploads (photos, documents) of tests that do not choose a folder: never the project's var/
    settings.MEDIA_ROOT = tempfile.mkdtemp(prefix="clinic-test-media-")
    if _is_controller(config):
        from clinic.core.i18n import messages_compile

        messages_compile()


def pytest_sessionstart(session):
    from clinic.core import database, embedded

    if database.uses_embedded() and _is_controller(session.config):
        session.config._clinic_started_db = embedded.server_start(ROOT / "var")


def pytest_sessionfinish(session, exitstatus):
    from clinic.core import embedded

    if getattr(session.config, "_clinic_started_db", False):
        from django.db import connections

        connections.close_all()
        embedded.server_stop_if_idle(ROOT / "var")


def _conninfo(settings_dict: dict, dbname: str) -> str:
    parts = {
        "host": settings_dict.get("HOST") or "",
        "port": str(settings_dict.get("PORT") or ""),
        "user": settings_dict.get("USER") or "",
        "password": settings_dict.get("PASSWORD") or "",
        "dbname": dbname,
    }
    return " ".join(f"{k}='{v}'" for k, v in parts.items() if v)


def _schema_fingerprint() -> str:
    """A hash of everything that decides what `migrate` builds (migrations, models, the RLS and
    grant generator, SQL files): a template database migrated from the same sources is reused."""
    src = ROOT / "src" / "clinic"
    files = sorted(
        {
            *src.glob("*/migrations/*.py"),
            *src.glob("*/migrations/*.sql"),
            *src.glob("**/*.sql"),
            *src.glob("*/models.py"),
            *src.glob("*/models/*.py"),
            src / "core" / "security.py",
            src / "core" / "management" / "commands" / "migrate.py",
            src / "settings.py",
        }
    )
    digest = hashlib.sha256()
    for path in files:
        digest.update(str(path.relative_to(src)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


# an arbitrary constant: the advisory lock that lets one worker build the template at a time
_TEMPLATE_LOCK = 7_240_113


def _template_ensure(conn, django_db_blocker) -> str:
    """Migrate a template database for the current schema once (across xdist workers and runs)
    and return its name; the caller holds _TEMPLATE_LOCK. Each worker then clones it with
    CREATE DATABASE … TEMPLATE, which copies tables, RLS policies, grants and triggers in about
    a second instead of migrating for ~40 s."""
    from django.core.management import call_command

    prefix = f"test_tpl_{_schema_fingerprint()}_"
    found = conn.execute(
        "SELECT datname FROM pg_database WHERE starts_with(datname, %s) AND datallowconn",
        [prefix],
    ).fetchone()
    if found:
        return found[0]
    template = f"{prefix}{int(time.time())}"
    building = "test_tpl_building"
    conn.execute(
        sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(building))
    )
    conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(building)))
    _databases_point(building)
    with django_db_blocker.unblock():
        call_command("migrate", verbosity=0, interactive=False)
    _databases_point(None)
    # renamed only once complete: a run killed mid-migration leaves no half-built template
    conn.execute(
        sql.SQL("ALTER DATABASE {} RENAME TO {}").format(
            sql.Identifier(building), sql.Identifier(template)
        )
    )
    _templates_prune(conn)
    return template


def _databases_point(name: str | None) -> None:
    """Point the default and owner aliases at database `name` (None: close them only)."""
    from django.conf import settings
    from django.db import connections

    for alias in ("default", "owner"):
        connections[alias].close()
        if name is not None:
            settings.DATABASES[alias]["NAME"] = name
            connections[alias].settings_dict["NAME"] = name


def _templates_prune(conn, *, older_than_hours: float = 12) -> None:
    """Drop templates of older schemas (their name ends with their creation time); a recent one
    may belong to another checkout testing other code on the same server, so it is kept."""
    cutoff = time.time() - older_than_hours * 3600
    rows = conn.execute(
        "SELECT datname FROM pg_database WHERE datname ~ '^test_tpl_[0-9a-f]+_[0-9]+$'"
    ).fetchall()
    for (name,) in rows:
        if int(name.rsplit("_", 1)[1]) < cutoff:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


@pytest.fixture(scope="session")
def django_db_setup(django_db_blocker, worker_id, testrun_uid):
    """Create test_clinic_<run>_<worker> as the owner role from the migrated template (RLS
    included); drop it at the end. The run id keeps two test runs on one server apart."""
    from django.conf import settings
    from django.db import connections

    owner = dict(settings.DATABASES["owner"])
    name = f"test_{owner['NAME']}_{testrun_uid[:8]}_{worker_id}"
    with psycopg.connect(_conninfo(owner, "postgres"), autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
        # one worker at a time builds or clones (CREATE DATABASE … TEMPLATE refuses while any
        # other session is connected to the template)
        conn.execute("SELECT pg_advisory_lock(%s)", [_TEMPLATE_LOCK])
        try:
            template = _template_ensure(conn, django_db_blocker)
            conn.execute(
                sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                    sql.Identifier(name), sql.Identifier(template)
                )
            )
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", [_TEMPLATE_LOCK])
    _databases_point(name)
    yield
    for alias in ("default", "owner"):
        connections[alias].close()
    if not os.environ.get("CLINIC_KEEP_TEST_DB"):
        with psycopg.connect(_conninfo(owner, "postgres"), autocommit=True) as conn:
            try:
                conn.execute(
                    sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
                )
            except psycopg.errors.InsufficientPrivilege:
                # an app-role connection (a live-server thread) is still open and this owner
                # role may not end it (see README: pg_signal_backend); leave the database
                pass


@pytest.fixture(scope="session", autouse=True)
def password_hasher_fast():
    """Argon2 costs ~50 ms a hash by design; tests create thousands of users. Production keeps
    Argon2 (settings.py); a user made in a test signs in only to this process's app."""
    from django.conf import settings
    from django.test.utils import override_settings

    with override_settings(
        PASSWORD_HASHERS=[
            "django.contrib.auth.hashers.MD5PasswordHasher",
            *settings.PASSWORD_HASHERS,
        ]
    ):
        yield


@pytest.fixture
def live_db(django_db_setup, django_db_blocker):
    """Database access in autocommit, for tests whose work must be committed and seen by other
    threads (concurrency, live server). No flush afterwards: such tests use their own orgs."""
    with django_db_blocker.unblock():
        yield


# --- personas ---------------------------------------------------------------------------------


@dataclass
class Persona:
    org: object
    user: object
    membership: object
    token: str

    @property
    def headers(self) -> dict:
        return {"HTTP_AUTHORIZATION": f"Bearer {self.token}"}


def unique_slug(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def org_create(slug: str | None = None, name: str = "Clinic", time_zone: str = "Europe/Paris"):
    from clinic.accounts.services import organization_create

    return organization_create(slug=slug or unique_slug("org"), name=name, time_zone=time_zone)


def persona_create(org, role: str, email: str | None = None) -> Persona:
    from clinic.accounts.services import membership_create, token_create, user_get_or_create
    from clinic.core.tenancy import tenant_context

    with tenant_context(org.id):
        user, _ = user_get_or_create(
            email=email or f"{role}-{uuid.uuid4().hex[:6]}@{org.slug}.example", password=PASSWORD
        )
        membership = membership_create(organization=org, user=user, role=role)
        token = token_create(membership=membership).raw
    return Persona(org=org, user=user, membership=membership, token=token)


@pytest.fixture
def org_a(db):
    return org_create(unique_slug("clinic-a"), "Clinic A")


@pytest.fixture
def org_b(db):
    return org_create(unique_slug("clinic-b"), "Clinic B", time_zone="America/New_York")


@pytest.fixture
def owner_a(org_a):
    return persona_create(org_a, "owner")


@pytest.fixture
def practitioner_a(org_a):
    return persona_create(org_a, "practitioner")


@pytest.fixture
def owner_b(org_b):
    return persona_create(org_b, "owner")


@pytest.fixture
def persona_factory(org_a):
    def make(role: str, org=None) -> Persona:
        return persona_create(org or org_a, role)

    return make


@pytest.fixture
def api(client, db):
    """JSON helpers over Django's test client: api.get(path, persona) etc."""

    class Api:
        def _call(self, method, path, persona=None, json=None, headers=None, files=None):
            kwargs = dict(persona.headers if persona else {})
            kwargs.update(headers or {})
            url = path if path.startswith("/") else f"/api/v1/{path}"
            if files is not None:  # multipart: {"field": (name, bytes, content type)}
                from django.core.files.uploadedfile import SimpleUploadedFile
                from django.test.client import BOUNDARY, MULTIPART_CONTENT, encode_multipart

                parts = {k: SimpleUploadedFile(*v) for k, v in files.items()}
                kwargs["data"] = encode_multipart(BOUNDARY, parts)
                kwargs["content_type"] = MULTIPART_CONTENT
            elif json is not None:
                import json as _json

                kwargs["data"] = json if isinstance(json, str | bytes) else _json.dumps(json)
                kwargs["content_type"] = "application/json"
            return getattr(client, method)(url, **kwargs)

        def get(self, path, persona=None, **kw):
            return self._call("get", path, persona, **kw)

        def post(self, path, persona=None, json=None, **kw):
            return self._call("post", path, persona, json=json if json is not None else {}, **kw)

        def patch(self, path, persona=None, json=None, **kw):
            return self._call("patch", path, persona, json=json if json is not None else {}, **kw)

        def put(self, path, persona=None, json=None, **kw):
            return self._call("put", path, persona, json=json if json is not None else {}, **kw)

        def delete(self, path, persona=None, **kw):
            return self._call("delete", path, persona, **kw)

    return Api()


@pytest.fixture
def tenant(request):
    """Activate a tenant for direct ORM/service calls in a test: `with tenant(org): ...`."""
    from clinic.core.tenancy import tenant_context

    return lambda org, user=None: tenant_context(org.id, getattr(user, "id", user))


# --- the clock ----------------------------------------------------------------------------------


def _instant(value) -> datetime:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value.tzinfo is None:
        raise ValueError(f"the clock needs an aware instant, got {value!r}")
    return value


@pytest.fixture(scope="session", autouse=True)
def clock_session(request):
    """`--clock=ISO` (or CLINIC_TEST_NOW): the whole run starts at that instant. time-machine
    patches the C-level clocks, so the live server's threads and `date.today()` follow too."""
    chosen = request.config.getoption("--clock")
    if not chosen:
        yield None
        return
    import time_machine

    with time_machine.travel(_instant(chosen), tick=True):
        yield _instant(chosen)


class Clock:
    """`clock.travel(instant)`: from now on the test runs at `instant`, time flowing from there;
    `clock.now()`; undone at the end of the test. Browser pages follow (see browser_page)."""

    def __init__(self):
        self._traveller = None
        self._followers: list = []

    def travel(self, instant) -> datetime:
        import time_machine

        if self._traveller is not None:
            self._traveller.stop()
        self._traveller = time_machine.travel(_instant(instant), tick=True)
        self._traveller.start()
        for follow in self._followers:
            follow(_instant(instant))
        return _instant(instant)

    def follow(self, callback) -> None:
        """Call `callback(instant)` on every travel (a browser context sets its clock)."""
        self._followers.append(callback)

    @staticmethod
    def now() -> datetime:
        return datetime.now(UTC)

    def stop(self) -> None:
        if self._traveller is not None:
            self._traveller.stop()
            self._traveller = None


@pytest.fixture
def clock():
    c = Clock()
    yield c
    c.stop()


def reauthenticated(client):
    """Mark a test client's session as having just re-entered its password (sensitive pages
    such as exports ask for it again otherwise; clinic.accounts.user_sessions)."""
    import time

    from clinic.accounts.user_sessions import SESSION_REAUTH

    session = client.session
    session[SESSION_REAUTH] = time.time()
    session.save()
    return client
