"""The password policy (issue 18, hardening; ASVS 2.1): at least 12 characters, not like the
email or name, not a common password, not only digits — wherever a password is set (accounts
services, the API and the page to change one's own, the CLI, the demo loader). Each refusal
names the broken rule and writes nothing."""

from __future__ import annotations

import pytest
from django.test import Client

from clinic.accounts.models import User
from clinic.audit.models import AuditEvent
from clinic.cli import main
from clinic.core.errors import ValidationFailed
from tests.conftest import PASSWORD, persona_create

TOO_SHORT = "This password is too short. It must contain at least 12 characters."
LIKE_EMAIL = "The password is too similar to the email."
LIKE_NAME = "The password is too similar to the full name."
COMMON = "This password is too common."
NUMERIC = "This password is entirely numeric."

EMAIL = "quartermaster@clinic.example"
REFUSED = [
    ("short-pw-1", TOO_SHORT),
    ("quartermaster1", LIKE_EMAIL),
    ("margarethamilton", LIKE_NAME),
    ("password1234", COMMON),
    ("839201746528", NUMERIC),
]


@pytest.mark.django_db
@pytest.mark.parametrize(("password", "message"), REFUSED)
def test_a_new_user_with_a_refused_password_is_not_created(password, message):
    from clinic.accounts.services import user_get_or_create

    with pytest.raises(ValidationFailed) as refused:
        user_get_or_create(email=EMAIL, password=password, full_name="Margaret Hamilton")
    assert refused.value.status == 422
    assert refused.value.message == message
    assert message in refused.value.details["password"]
    assert not User.objects.filter(email=EMAIL).exists()


@pytest.mark.django_db
def test_every_broken_rule_is_named():
    from clinic.accounts.services import user_get_or_create

    with pytest.raises(ValidationFailed) as refused:
        user_get_or_create(email="x@clinic.example", password="12345")
    assert set(refused.value.details["password"]) == {TOO_SHORT, COMMON, NUMERIC}


@pytest.mark.django_db
def test_a_good_password_and_no_password_are_accepted():
    from clinic.accounts.services import user_get_or_create

    user, created = user_get_or_create(email=EMAIL, password="violet-harbour-lantern")
    assert created and user.check_password("violet-harbour-lantern")
    # None: an account without a usable password (imported practitioners, generated data)
    nobody, created = user_get_or_create(email="nobody@clinic.example", password=None)
    assert created and not nobody.has_usable_password()
    with pytest.raises(ValidationFailed):  # an empty password is a password, and too short
        user_get_or_create(email="empty@clinic.example", password="")


# -- changing one's own password: the API ------------------------------------------------------


@pytest.fixture
def member(org_a):
    return persona_create(org_a, "practitioner", email=EMAIL)


def _changes(member) -> int:
    return AuditEvent.objects.filter(action="auth.password_change", actor_id=member.user.id).count()


@pytest.mark.parametrize(("password", "message"), [r for r in REFUSED if r[1] != LIKE_NAME])
def test_the_api_refuses_a_weak_new_password_with_422(api, member, tenant, password, message):
    response = api.post(
        "me/password", member, json={"current_password": PASSWORD, "new_password": password}
    )
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert error["message"] == message
    assert message in error["details"]["new_password"]
    user = User.objects.get(id=member.user.id)
    assert user.check_password(PASSWORD) and not user.check_password(password)
    with tenant(member.org):
        assert _changes(member) == 0


def test_the_api_asks_for_the_right_current_password(api, member):
    response = api.post(
        "me/password",
        member,
        json={"current_password": "not-the-password", "new_password": "violet-harbour-lantern"},
    )
    assert response.status_code == 422
    assert response.json()["error"]["details"] == {
        "current_password": ["The current password is not right."]
    }
    assert User.objects.get(id=member.user.id).check_password(PASSWORD)
    same = api.post(
        "me/password", member, json={"current_password": PASSWORD, "new_password": PASSWORD}
    )
    assert same.status_code == 422 and "new_password" in same.json()["error"]["details"]


def test_the_api_changes_the_password(api, member, tenant):
    response = api.post(
        "me/password",
        member,
        json={"current_password": PASSWORD, "new_password": "violet-harbour-lantern"},
    )
    assert response.status_code == 204
    user = User.objects.get(id=member.user.id)
    assert user.check_password("violet-harbour-lantern") and not user.check_password(PASSWORD)
    with tenant(member.org):
        assert _changes(member) == 1


def test_the_api_documents_the_rules():
    from clinic.api.main import api as ninja_api

    schema = ninja_api.get_openapi_schema()
    assert "post" in schema["paths"]["/api/v1/me/password"]
    field = schema["components"]["schemas"]["PasswordChange"]["properties"]["new_password"]
    assert "at least 12 characters" in field["description"]


# -- changing one's own password: the page -----------------------------------------------------


def test_the_page_shows_each_refusal_next_to_its_field(client, member):
    client.force_login(member.user)
    assert client.get("/account/password/").status_code == 200
    response = client.post(
        "/account/password/", {"current_password": PASSWORD, "new_password": "password1234"}
    )
    assert response.status_code == 422
    html = response.content.decode()
    assert f'<p class="error" id="id_new_password_error">{COMMON}</p>' in html
    response = client.post(
        "/account/password/", {"current_password": PASSWORD, "new_password": "quartermaster1"}
    )
    assert f'<p class="error" id="id_new_password_error">{LIKE_EMAIL}</p>' in (
        response.content.decode()
    )
    response = client.post(
        "/account/password/", {"current_password": "wrong-one", "new_password": "violet-harbour"}
    )
    assert response.status_code == 422
    assert 'id="id_current_password_error">The current password is not right.' in (
        response.content.decode()
    )
    assert User.objects.get(id=member.user.id).check_password(PASSWORD)


def test_the_page_changes_the_password_and_ends_the_other_sessions(client, member):
    elsewhere = Client()
    elsewhere.force_login(member.user)
    assert elsewhere.get("/").status_code == 200
    client.force_login(member.user)
    response = client.post(
        "/account/password/",
        {"current_password": PASSWORD, "new_password": "violet-harbour-lantern"},
    )
    assert response.status_code == 302 and response["Location"] == "/"
    assert client.get("/").status_code == 200  # this session goes on
    assert elsewhere.get("/").status_code == 302  # the other one has ended
    assert User.objects.get(id=member.user.id).check_password("violet-harbour-lantern")


# -- the command line and the demo loader --------------------------------------------------------


@pytest.mark.django_db
def test_the_cli_refuses_a_weak_password_and_writes_nothing(capsys):
    from clinic.accounts.models import Organization

    argv = ["createorg", "--slug", "weak-org", "--name", "Weak", "--owner-email", EMAIL]
    assert main([*argv, "--owner-password", "short-pw-1"]) == 2
    assert TOO_SHORT in capsys.readouterr().err
    assert not Organization.objects.filter(slug="weak-org").exists()
    assert not User.objects.filter(email=EMAIL).exists()

    assert main([*argv, "--owner-password", "a-long-password-1"]) == 0
    capsys.readouterr()
    user = ["createuser", "--org", "weak-org", "--email", "desk@clinic.example"]
    assert main([*user, "--role", "assistant", "--password", "839201746528"]) == 2
    assert NUMERIC in capsys.readouterr().err
    assert not User.objects.filter(email="desk@clinic.example").exists()


@pytest.mark.django_db
def test_the_demo_loader_refuses_a_weak_password_and_writes_nothing(capsys):
    from clinic.accounts.models import Organization

    assert main(["demo", "--org-slug", "demo-weak", "--password", "password1234"]) == 2
    assert COMMON in capsys.readouterr().err
    assert not Organization.objects.filter(slug="demo-weak").exists()
    assert not User.objects.filter(email__endswith="@demo-weak.example").exists()
