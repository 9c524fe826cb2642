"""`clinic check --deploy`: Django's deployment checks plus the clinic's (clinic/core/checks.py);
any error exits non-zero."""

from __future__ import annotations

import base64
import os
import secrets

import pytest
from django.core.checks import ERROR, run_checks
from django.test import override_settings

from clinic.cli import main
from clinic.core import checks

pytestmark = pytest.mark.django_db

STRONG_KEY = secrets.token_urlsafe(50)
FIELD_KEYS = (
    f"k2:{base64.b64encode(os.urandom(32)).decode()},k1:{base64.b64encode(os.urandom(32)).decode()}"
)


@pytest.fixture
def production(monkeypatch):
    """A configuration that passes: key from the environment, field keys, HTTPS cookies."""
    monkeypatch.setenv("SECRET_KEY", STRONG_KEY)
    monkeypatch.delenv("FIELD_ENCRYPTION_KEYS", raising=False)
    # set by the live-server and browser tests of this process; Django's async.E001 is an error
    monkeypatch.delenv("DJANGO_ALLOW_ASYNC_UNSAFE", raising=False)
    with override_settings(
        DEBUG=False,
        SECRET_KEY=STRONG_KEY,
        FIELD_ENCRYPTION_KEYS=FIELD_KEYS,
        SESSION_COOKIE_SECURE=True,
        CSRF_COOKIE_SECURE=True,
    ):
        yield


def _clinic_errors() -> dict[str, str]:
    return {
        m.id: m.msg
        for m in run_checks(include_deployment_checks=True)
        if m.id and m.id.startswith("clinic.") and m.level >= ERROR
    }


def test_a_production_configuration_passes(production, capsys):
    assert _clinic_errors() == {}
    assert main(["check", "--deploy"]) == 0
    captured = capsys.readouterr()
    assert "clinic.E" not in captured.out + captured.err


def test_a_development_configuration_fails_with_every_reason(monkeypatch, capsys):
    monkeypatch.delenv("SECRET_KEY", raising=False)
    monkeypatch.delenv("FIELD_ENCRYPTION_KEYS", raising=False)
    with override_settings(
        DEBUG=True,
        SECRET_KEY="per-process-" + secrets.token_urlsafe(50),
        FIELD_ENCRYPTION_KEYS="",
    ):
        errors = _clinic_errors()
        assert set(errors) == {"clinic.E010", "clinic.E012", "clinic.E020"}
        assert main(["check", "--deploy"]) == 1
    err = capsys.readouterr().err
    assert "clinic.E020" in err and "DEBUG is on" in err


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"SESSION_COOKIE_SECURE": False}, "clinic.E021"),
        ({"CSRF_COOKIE_SECURE": False}, "clinic.E021"),
        ({"FIELD_ENCRYPTION_KEYS": "k1:not-base64!"}, "clinic.E012"),
        ({"FIELD_ENCRYPTION_KEYS": "k1:" + base64.b64encode(b"short").decode()}, "clinic.E012"),
    ],
)
def test_each_unsafe_setting_is_an_error(production, overrides, expected):
    with override_settings(**overrides):
        assert set(_clinic_errors()) == {expected}
        assert main(["check", "--deploy"]) == 1


def test_a_weak_secret_key_is_an_error(production, monkeypatch):
    monkeypatch.setenv("SECRET_KEY", "django-insecure-abc")
    with override_settings(SECRET_KEY="django-insecure-abc"):
        assert set(_clinic_errors()) == {"clinic.E011"}


@pytest.mark.django_db(databases=["default", "owner"])
def test_an_app_role_that_owns_the_tables_is_an_error(production, monkeypatch):
    # the owner role stands in for a misconfigured DATABASE_URL
    original = checks._app_role_problem
    monkeypatch.setattr(checks, "_app_role_problem", lambda: original("owner"))
    errors = _clinic_errors()
    assert set(errors) == {"clinic.E001"}
    assert "owns" in errors["clinic.E001"]


def test_the_zones_of_organizations_and_locations_are_checked(production, owner_a, monkeypatch):
    from clinic.accounts.services import organization_create
    from tests.directory import factories as directory

    organization_create(slug="kolkata-checks", name="K", time_zone="Asia/Kolkata")
    directory.location(owner_a, time_zone="America/St_Johns")
    assert {"Asia/Kolkata", "America/St_Johns", "Europe/Paris"} <= checks._zones_in_use()

    monkeypatch.setattr(checks, "_zones_in_use", lambda: {"Mars/Olympus_Mons"})
    errors = _clinic_errors()
    assert set(errors) == {"clinic.E030"} and "Mars/Olympus_Mons" in errors["clinic.E030"]


def test_deployment_checks_do_not_run_without_deploy(monkeypatch):
    monkeypatch.delenv("SECRET_KEY", raising=False)
    with override_settings(DEBUG=True):
        assert not [m for m in run_checks() if m.id and m.id.startswith("clinic.")]


def test_an_unreachable_database_is_an_error(production, monkeypatch):
    from django.db import OperationalError

    def down(using="default"):
        raise OperationalError("connection refused")

    monkeypatch.setattr(checks, "_app_role_problem", down)
    assert "clinic.E002" in _clinic_errors()
