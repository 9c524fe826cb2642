from __future__ import annotations

import pytest

from clinic.cli import main


@pytest.mark.django_db
def test_demo_creates_one_user_per_role_and_is_idempotent(capsys):
    assert main(["demo", "--org-slug", "demo-cli", "--password", "a-demo-password-1"]) == 0
    out = capsys.readouterr().out
    for role in ("owner", "admin", "manager", "practitioner", "assistant", "patient"):
        assert f"{role}@demo-cli.example" in out
    assert "Password" not in out  # given, so not printed
    assert main(["demo", "--org-slug", "demo-cli"]) == 0
    assert "already exists; nothing changed" in capsys.readouterr().out


@pytest.mark.django_db
def test_demo_prints_a_generated_password_once(capsys, monkeypatch):
    monkeypatch.delenv("DEMO_PASSWORD", raising=False)
    assert main(["demo", "--org-slug", "demo-gen"]) == 0
    assert "Password for all demo users (shown once):" in capsys.readouterr().out


@pytest.mark.django_db
def test_createorg_createuser_and_token(capsys, api):
    assert (
        main(
            [
                "createorg",
                "--slug",
                "cli-org",
                "--name",
                "CLI Org",
                "--owner-email",
                "boss@cli.example",
                "--owner-password",
                "a-long-password-1",
            ]
        )
        == 0
    )
    assert (
        main(["createuser", "--org", "cli-org", "--email", "pat@cli.example", "--role", "patient"])
        == 0
    )
    capsys.readouterr()
    assert main(["token", "create", "--org", "cli-org", "--email", "pat@cli.example"]) == 0
    token = capsys.readouterr().out.strip()
    assert token.startswith("clk_") and "\n" not in token
    me = api.get("me", headers={"HTTP_AUTHORIZATION": f"Bearer {token}"}).json()
    assert me["role"] == "patient" and me["organization"]["slug"] == "cli-org"


@pytest.mark.django_db
def test_cli_errors_are_clear(capsys):
    assert (
        main(
            [
                "createorg",
                "--slug",
                "bad-tz",
                "--name",
                "X",
                "--owner-email",
                "x@x.example",
                "--time-zone",
                "Mars/Olympus",
            ]
        )
        == 2
    )
    assert "time_zone" in capsys.readouterr().err
    assert main(["createuser", "--org", "nope", "--email", "a@b.example", "--role", "admin"]) == 2
