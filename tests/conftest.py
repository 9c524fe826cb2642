"""Test set-up: one PostgreSQL database per xdist worker, migrated as the owner role, used by
the application role — so every test runs under the same row-level security as production."""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

ROOT = Path(__file__).resolve().parent.parent
os.environ.setdefault("CLINIC_HOME", str(ROOT))
os.environ.setdefault("AXES_FAILURE_LIMIT", "5")

PASSWORD = "correct-horse-battery-9"


def _is_controller(config) -> bool:
    return not hasattr(config, "workerinput")


def pytest_configure(config):
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


@pytest.fixture(scope="session")
def django_db_setup(django_db_blocker, worker_id, testrun_uid):
    """Create test_clinic_<run>_<worker> as the owner role and migrate it (RLS included); drop
    it at the end. The run id keeps two test runs on one server (two terminals) apart."""
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connections

    owner = dict(settings.DATABASES["owner"])
    name = f"test_{owner['NAME']}_{testrun_uid[:8]}_{worker_id}"
    with psycopg.connect(_conninfo(owner, "postgres"), autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    for alias in ("default", "owner"):
        settings.DATABASES[alias]["NAME"] = name
        connections[alias].close()
        connections[alias].settings_dict["NAME"] = name
    with django_db_blocker.unblock():
        call_command("migrate", verbosity=0, interactive=False)
        connections["owner"].close()
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
        def _call(self, method, path, persona=None, json=None, headers=None):
            kwargs = dict(persona.headers if persona else {})
            kwargs.update(headers or {})
            url = path if path.startswith("/") else f"/api/v1/{path}"
            if json is not None:
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

        def delete(self, path, persona=None, **kw):
            return self._call("delete", path, persona, **kw)

    return Api()


@pytest.fixture
def tenant(request):
    """Activate a tenant for direct ORM/service calls in a test: `with tenant(org): ...`."""
    from clinic.core.tenancy import tenant_context

    return lambda org, user=None: tenant_context(org.id, getattr(user, "id", user))
