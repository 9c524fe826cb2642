"""Issue 18, defect 8: the application role cannot read password hashes; logins, password
changes, sessions and bearer tokens still work through SECURITY DEFINER functions."""

from __future__ import annotations

import pytest
from django.db import connection, transaction
from django.test.utils import override_settings

from clinic.accounts.models import Membership, User
from tests.conftest import PASSWORD


def _app_role_fetch(query: str, params=()):
    with transaction.atomic(), connection.cursor() as cur:
        cur.execute(query, params)
        return cur.fetchall()


def test_the_application_role_cannot_select_the_password_column(owner_a):
    with pytest.raises(Exception) as excinfo:
        _app_role_fetch("SELECT password FROM accounts_user")
    assert "permission denied" in str(excinfo.value)
    with pytest.raises(Exception) as excinfo:
        _app_role_fetch("SELECT * FROM accounts_user")
    assert "permission denied" in str(excinfo.value)
    with pytest.raises(Exception) as excinfo:
        _app_role_fetch("SELECT value FROM app_secret")
    assert "permission denied" in str(excinfo.value)
    # the other columns stay readable
    assert _app_role_fetch("SELECT email FROM accounts_user WHERE id = %s", [owner_a.user.id])


def test_no_digest_leaves_the_database(owner_a):
    """The functions give the parameters and salt, never the digest."""
    ((prefix, length),) = _app_role_fetch(
        "SELECT * FROM app_password_params(%s)", [owner_a.user.id]
    )
    assert prefix and length > 0 and prefix.count("$") >= 1
    ((fingerprint,),) = _app_role_fetch("SELECT app_password_fingerprint(%s)", [owner_a.user.id])
    assert len(fingerprint) == 64
    # the tests hash with MD5: the digest is computable here, and is in neither answer
    from django.contrib.auth.hashers import MD5PasswordHasher

    algorithm, salt = prefix.split("$")
    digest = MD5PasswordHasher().encode(PASSWORD, salt).rsplit("$", 1)[1]
    assert algorithm == "md5" and length == len(digest)
    assert digest not in prefix and digest not in fingerprint


def test_the_orm_reads_users_without_the_hash(owner_a):
    user = User.objects.get(id=owner_a.user.id)
    assert user.password is None
    member = Membership.unscoped_objects.select_related("user").filter(user=user)
    with transaction.atomic():
        from clinic.core.tenancy import tenant_activate

        tenant_activate(owner_a.org.id)
        assert member.get().user.email == owner_a.user.email
    # saving a read user keeps the stored hash
    user.full_name = "Renamed"
    user.save()
    assert User.objects.get(id=user.id).full_name == "Renamed"
    assert user.check_password(PASSWORD)
    assert not user.check_password("not-the-password")
    assert user.has_usable_password()


def test_login_password_change_and_sessions(api, client, owner_a):
    assert (
        api.post(
            "auth/token",
            json={
                "email": owner_a.user.email,
                "password": PASSWORD,
                "organization": owner_a.org.slug,
            },
        ).status_code
        == 201
    )
    assert (
        client.post("/login/", {"email": owner_a.user.email, "password": PASSWORD}).status_code
        == 302
    )
    assert client.get("/").status_code == 200
    # the password changes: the old one stops working, the session is ended
    user = User.objects.get(id=owner_a.user.id)
    user.set_password("another-long-password-7")
    user.save()
    assert client.get("/").status_code == 302
    assert (
        api.post(
            "auth/token",
            json={
                "email": owner_a.user.email,
                "password": PASSWORD,
                "organization": owner_a.org.slug,
            },
        ).status_code
        == 401
    )
    ok = api.post(
        "auth/token",
        json={
            "email": owner_a.user.email,
            "password": "another-long-password-7",
            "organization": owner_a.org.slug,
        },
    )
    assert ok.status_code == 201
    # bearer authentication reads the user without the hash
    me = api.get("me", headers={"HTTP_AUTHORIZATION": f"Bearer {ok.json()['token']}"})
    assert me.status_code == 200 and me.json()["user"]["email"] == owner_a.user.email


def test_argon2_hashes_are_checked_and_old_ones_upgraded(owner_a):
    """Production hashes with Argon2 (the tests use MD5 for speed): the candidate is hashed with
    the stored parameters and salt, and a hash from an older algorithm is replaced on login."""
    from django.contrib.auth.hashers import Argon2PasswordHasher, PBKDF2PasswordHasher

    pbkdf2 = PBKDF2PasswordHasher()
    User.objects.filter(id=owner_a.user.id).update(
        password=pbkdf2.encode(PASSWORD, pbkdf2.salt(), 1000)
    )
    user = User.objects.get(id=owner_a.user.id)
    with override_settings(
        PASSWORD_HASHERS=[
            "django.contrib.auth.hashers.Argon2PasswordHasher",
            "django.contrib.auth.hashers.PBKDF2PasswordHasher",
        ]
    ):
        assert user.check_password(PASSWORD)  # and upgraded to Argon2
        params = _app_role_fetch("SELECT prefix FROM app_password_params(%s)", [user.id])
        assert params[0][0].startswith("argon2$")
        fresh = User.objects.get(id=user.id)
        assert fresh.check_password(PASSWORD)
        assert not fresh.check_password(PASSWORD + "x")
        assert Argon2PasswordHasher.algorithm == "argon2"


def test_sessions_are_readable_only_by_their_key(client, owner_a):
    assert (
        client.post("/login/", {"email": owner_a.user.email, "password": PASSWORD}).status_code
        == 302
    )
    key = client.cookies["sessionid"].value
    # with no session key in context the application role sees no session at all (the test's
    # transaction still holds the login request's key: cleared as a new request would be)
    with transaction.atomic(), connection.cursor() as cur:
        cur.execute("SELECT set_config('app.session_key', '', true)")
        cur.execute("SELECT count(*) FROM django_session")
        assert cur.fetchone() == (0,)
    with transaction.atomic(), connection.cursor() as cur:
        cur.execute("SELECT set_config('app.session_key', 'someone-elses-key', true)")
        cur.execute("SELECT count(*) FROM django_session")
        assert cur.fetchone() == (0,)
        cur.execute("SELECT set_config('app.session_key', %s, true)", [key])
        cur.execute("SELECT count(*) FROM django_session")
        assert cur.fetchone() == (1,)
    # the session still works, and logging out ends it
    assert client.get("/").status_code == 200
    assert client.post("/logout/").status_code == 302
    assert client.get("/").status_code == 302


def test_expired_sessions_are_cleared(client, owner_a):
    from django.contrib.sessions.models import Session
    from django.core.management import call_command

    from clinic.accounts.sessions import SessionStore

    store = SessionStore()
    store["x"] = 1
    store.set_expiry(-10)
    store.save()
    call_command("clearsessions")
    assert not SessionStore().exists(store.session_key)
    assert Session.objects.count() == 0  # and the policy hides any other
