"""Issue 18, defect 5: with the database unreachable, /readyz answers 503 JSON and the API
answers 503 `database_unavailable` with Retry-After (never a 500 page); when the database is
back, the same process serves again without a restart.

The outage is simulated for this process only (its connection pointed at a closed port): the
shared embedded server keeps running for everyone else's tests."""

from __future__ import annotations

import socket

import pytest
from django.test import Client

from tests.conftest import org_create, persona_create, unique_slug


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def persona(live_db):
    return persona_create(org_create(unique_slug("down")), "owner")


@pytest.fixture
def outage(live_db):
    """`with outage():` the default connection cannot reach the database."""
    from contextlib import contextmanager

    from django.db import connections

    conn = connections["default"]

    @contextmanager
    def down():
        saved = {k: conn.settings_dict[k] for k in ("HOST", "PORT")}
        conn.close()
        conn.settings_dict.update(HOST="127.0.0.1", PORT=str(_closed_port()))
        try:
            yield
        finally:
            conn.close()
            conn.settings_dict.update(saved)

    return down


def _assert_unavailable(response):
    assert response.status_code == 503, response.content[:300]
    assert response["Content-Type"].startswith("application/json")
    assert response.json()["error"]["code"] == "database_unavailable"
    assert int(response["Retry-After"]) > 0


def test_readyz_answers_503_json_and_recovers(client, outage):
    with outage():
        response = client.get("/readyz")
        assert response.status_code == 503
        assert response.json()["status"] == "unavailable"
        assert int(response["Retry-After"]) > 0
        assert client.get("/healthz").json() == {"status": "ok"}  # alive, no database needed
    assert client.get("/readyz").json() == {"status": "ok"}


def test_api_answers_503_database_unavailable_and_recovers(persona, outage):
    client = Client()
    with outage():
        _assert_unavailable(client.get("/api/v1/me", **persona.headers))
        _assert_unavailable(
            client.post(
                "/api/v1/auth/tokens",
                data={"name": "down"},
                content_type="application/json",
                **persona.headers,
            )
        )
    assert client.get("/api/v1/me", **persona.headers).status_code == 200


def test_pages_and_probes_with_a_session_cookie_when_down(persona, outage):
    client = Client()
    client.force_login(persona.user)
    with outage():
        _assert_unavailable(client.get("/"))
        assert client.get("/healthz").status_code == 200
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/").status_code in (200, 302)


def test_healthz_with_a_browser_session_cookie(persona):
    """Committed session, autocommit: /healthz never reads the session."""
    client = Client()
    client.force_login(persona.user)
    response = client.get("/healthz")
    assert response.status_code == 200 and response.json() == {"status": "ok"}


def test_a_deadlock_is_not_an_outage():
    import psycopg
    from django.db import OperationalError

    from clinic.core.health import database_unavailable

    def wrapped(cause):
        exc = OperationalError(str(cause))
        exc.__cause__ = cause
        return exc

    assert database_unavailable(wrapped(psycopg.OperationalError("connection refused")))
    assert database_unavailable(wrapped(psycopg.errors.AdminShutdown("terminating")))
    assert not database_unavailable(wrapped(psycopg.errors.DeadlockDetected("deadlock")))
    assert not database_unavailable(wrapped(psycopg.errors.QueryCanceled("timeout")))
