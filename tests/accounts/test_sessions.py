"""Sessions (issue 18, hardening): idle and absolute limits per organization, one's own sessions
listed and revoked (another user's invisible and 404), all others ended on a password change,
and re-authentication before exports (pages and API; bearer tokens exempt)."""

from __future__ import annotations

import datetime
from datetime import timedelta

import pytest
import time_machine
from django.db import connection
from django.test import Client

from clinic.accounts import user_sessions
from clinic.accounts.models import UserSession
from clinic.audit.models import AuditEvent
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db

FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:140.0) Gecko/20100101 Firefox/140.0"
CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/140.0 Safari/537.36"
)


def sign_in(persona, agent=FIREFOX) -> Client:
    client = Client(HTTP_USER_AGENT=agent)
    response = client.post(
        "/login/",
        {"email": persona.user.email, "password": PASSWORD, "organization": persona.org.slug},
    )
    assert response.status_code == 302, response.content
    return client


def signed_in(client) -> bool:
    return client.get("/").status_code == 200


def rows_of(persona, tenant):
    with tenant(persona.org, persona.user):
        return list(UserSession.objects.filter(user=persona.user).order_by("created_at"))


def events(tenant, org, action):
    with tenant(org):
        return list(AuditEvent.objects.filter(action=action))


def test_sign_in_records_the_session_listed_with_the_current_one_marked(owner_a, tenant):
    first = sign_in(owner_a, FIREFOX)
    second = sign_in(owner_a, CHROME)
    rows = rows_of(owner_a, tenant)
    assert len(rows) == 2
    assert rows[0].user_agent == FIREFOX and rows[0].ip == "127.0.0.1"
    assert rows[0].key_hash == user_sessions.key_digest(first.session.session_key)
    assert first.session.session_key not in str(rows)  # only the digest is kept

    page = first.get("/account/sessions/")
    assert page.status_code == 200
    assert "Firefox on Linux" in page.text and "Chrome on Windows" in page.text
    assert page.text.count("This session") == 1

    listed = second.get("/api/v1/me/sessions").json()
    assert {s["browser"]: s["current"] for s in listed} == {
        "Firefox on Linux": False,
        "Chrome on Windows": True,
    }


def test_no_user_in_context_sees_no_session_rows(owner_a, tenant):
    sign_in(owner_a)
    with tenant(owner_a.org):  # an organization but no user
        assert UserSession.objects.count() == 0
    with tenant(owner_a.org, owner_a.user):
        assert UserSession.objects.count() == 1


def test_idle_timeout_default_30_minutes(owner_a, tenant, clock):
    start = clock.now()
    client = sign_in(owner_a)
    clock.travel(start + timedelta(minutes=20))
    assert signed_in(client)  # used: the idle time starts again
    clock.travel(start + timedelta(minutes=45))
    assert signed_in(client)
    clock.travel(start + timedelta(minutes=76))
    response = client.get("/")
    assert response.status_code == 302 and response["Location"].startswith("/login/")
    assert not signed_in(client)
    (row,) = rows_of(owner_a, tenant)
    assert row.ended_at is not None
    assert row.last_seen_at >= start + timedelta(minutes=45)
    (event,) = events(tenant, owner_a.org, "auth.session_expired")
    assert event.details == {"reason": "idle"}


def test_idle_expiry_answers_the_api_401(owner_a, clock):
    start = clock.now()
    client = sign_in(owner_a)
    assert client.get("/api/v1/me").status_code == 200
    clock.travel(start + timedelta(minutes=31))
    assert client.get("/api/v1/me").status_code == 401


def test_absolute_lifetime_ends_a_session_in_use(owner_a, tenant, clock):
    with tenant(owner_a.org):
        owner_a.org.session_idle_minutes = 480
        owner_a.org.save()
    start = clock.now()
    client = sign_in(owner_a)
    clock.travel(start + timedelta(hours=7))
    assert signed_in(client)
    clock.travel(start + timedelta(hours=11, minutes=59))
    assert signed_in(client)
    clock.travel(start + timedelta(hours=12, minutes=1))
    assert not signed_in(client)
    (event,) = events(tenant, owner_a.org, "auth.session_expired")
    assert event.details == {"reason": "absolute"}


def test_limits_are_the_organizations(owner_a, owner_b, tenant, clock):
    with tenant(owner_a.org):
        owner_a.org.session_idle_minutes = 10
        owner_a.org.session_absolute_hours = 1
        owner_a.org.save()
    start = clock.now()
    a, b = sign_in(owner_a), sign_in(owner_b)
    clock.travel(start + timedelta(minutes=11))
    assert not signed_in(a)  # clinic A: 10 minutes
    assert signed_in(b)  # clinic B: the default 30
    a = sign_in(owner_a)
    for minutes in (9, 18, 27, 36, 45, 54):
        clock.travel(start + timedelta(minutes=11 + minutes))
        assert signed_in(a)
    clock.travel(start + timedelta(minutes=11 + 61))
    assert not signed_in(a)  # an hour after signing in


def test_owner_sets_the_limits_on_the_members_page_after_reauthenticating(owner_a, tenant):
    client = sign_in(owner_a)
    page = client.get("/members/")
    assert 'name="session_idle_minutes"' in page.text and 'value="30"' in page.text
    form = {"session_idle_minutes": "15", "session_absolute_hours": "8"}
    refused = client.post(
        "/organization/sessions/", form, HTTP_REFERER="http://testserver/members/"
    )
    assert refused.status_code == 302
    assert refused["Location"] == "/account/reauthenticate/?next=%2Fmembers%2F"
    back = client.post(refused["Location"], {"password": PASSWORD})
    assert back["Location"] == "/members/"
    assert client.post("/organization/sessions/", form).status_code == 302
    owner_a.org.refresh_from_db()
    assert (owner_a.org.session_idle_minutes, owner_a.org.session_absolute_hours) == (15, 8)
    assert events(tenant, owner_a.org, "organization.session_policy_changed")
    client.post("/organization/sessions/", {**form, "session_idle_minutes": "1"})
    owner_a.org.refresh_from_db()
    assert owner_a.org.session_idle_minutes == 15  # below 5 minutes is refused


def test_practitioner_cannot_set_the_limits(practitioner_a):
    client = sign_in(practitioner_a)
    assert client.post("/organization/sessions/", {}).status_code == 403


def test_revoke_one_session_from_the_page_and_the_api(owner_a, tenant):
    mine, phone, laptop = sign_in(owner_a), sign_in(owner_a, CHROME), sign_in(owner_a)
    rows = rows_of(owner_a, tenant)
    response = mine.post("/account/sessions/revoke/", {"session_id": str(rows[1].id)})
    assert response.status_code == 302
    assert not signed_in(phone) and signed_in(mine) and signed_in(laptop)
    assert mine.delete(f"/api/v1/me/sessions/{rows[2].id}").status_code == 204
    assert not signed_in(laptop) and signed_in(mine)
    # one's own current session is ended by signing out, not here
    assert mine.delete(f"/api/v1/me/sessions/{rows[0].id}").status_code == 422
    assert len(events(tenant, owner_a.org, "auth.session_revoked")) == 2
    listed = mine.get("/api/v1/me/sessions").json()
    assert [s["id"] for s in listed] == [str(rows[0].id)]


def test_revoke_all_others(owner_a, tenant):
    mine, others = sign_in(owner_a), [sign_in(owner_a) for _ in range(3)]
    response = mine.post("/account/sessions/revoke/", {"others": "1"})
    assert response.status_code == 302
    assert signed_in(mine) and not any(signed_in(c) for c in others)
    (event,) = events(tenant, owner_a.org, "auth.sessions_ended")
    assert event.details["count"] == 3
    assert mine.delete("/api/v1/me/sessions").json() == {"ended": 0}


def test_another_users_session_is_invisible_and_cannot_be_revoked(
    owner_a, practitioner_a, owner_b, tenant
):
    victim = sign_in(practitioner_a)
    (row,) = rows_of(practitioner_a, tenant)
    for attacker in (owner_a, owner_b):  # the victim's own owner, and another clinic's
        client = sign_in(attacker)
        assert str(row.id) not in client.get("/account/sessions/").text
        assert str(row.id) not in client.get("/api/v1/me/sessions").text
        assert client.delete(f"/api/v1/me/sessions/{row.id}").status_code == 404
        page = client.post("/account/sessions/revoke/", {"session_id": str(row.id)})
        assert page.status_code == 404
        assert client.post("/account/sessions/revoke/", {"session_id": "nonsense"}).status_code == (
            404
        )
        # by token too
        assert (
            client.delete(
                f"/api/v1/me/sessions/{row.id}", HTTP_AUTHORIZATION=f"Bearer {attacker.token}"
            ).status_code
            == 404
        )
    assert signed_in(victim)
    # even calling the database function directly with the row id ends nothing
    with tenant(owner_a.org, owner_a.user), connection.cursor() as cur:
        cur.execute("SELECT app_user_sessions_end(ARRAY[%s]::uuid[], now())", [row.id])
        assert cur.fetchone() == (0,)
    assert signed_in(victim)


def test_sessions_end_for_user_keeps_only_the_given_key(owner_a, tenant):
    mine, others = sign_in(owner_a), [sign_in(owner_a) for _ in range(2)]
    count = user_sessions.sessions_end_for_user(
        owner_a.user, keep_key=mine.session.session_key, reason="password changed"
    )
    assert count == 2
    assert signed_in(mine) and not any(signed_in(c) for c in others)
    (event,) = events(tenant, owner_a.org, "auth.sessions_ended")
    assert event.details == {"count": 2, "reason": "password changed", "kept_current": True}


def test_a_rotated_key_keeps_its_row(owner_a, tenant):
    client = sign_in(owner_a)
    (row,) = rows_of(owner_a, tenant)
    from importlib import import_module

    from django.conf import settings

    store = import_module(settings.SESSION_ENGINE).SessionStore(client.session.session_key)
    store.load()
    store.cycle_key()
    client.cookies[settings.SESSION_COOKIE_NAME] = store.session_key
    assert signed_in(client)
    (row,) = rows_of(owner_a, tenant)
    assert row.key_hash == user_sessions.key_digest(store.session_key)
    assert row.ended_at is None


def test_sign_out_ends_the_row(owner_a, tenant):
    client = sign_in(owner_a)
    client.post("/logout/")
    (row,) = rows_of(owner_a, tenant)
    assert row.ended_at is not None


# --- re-authentication -----------------------------------------------------------------------


def test_page_export_asks_for_the_password_then_comes_back_until_it_expires(owner_a, tenant, clock):
    start = clock.now()
    client = sign_in(owner_a)
    asked = client.get("/patients/export.csv")
    assert asked.status_code == 302
    assert asked["Location"] == "/account/reauthenticate/?next=%2Fpatients%2Fexport.csv"
    form = client.get(asked["Location"])
    assert form.status_code == 200 and 'name="password"' in form.text
    assert 'name="code"' not in form.text  # no authenticator: the password alone
    wrong = client.post(asked["Location"], {"password": "not-the-password"})
    assert wrong.status_code == 400
    assert events(tenant, owner_a.org, "auth.reauthentication_failed")
    right = client.post(asked["Location"], {"password": PASSWORD})
    assert right.status_code == 302 and right["Location"] == "/patients/export.csv"
    assert client.get("/patients/export.csv").status_code == 200
    assert events(tenant, owner_a.org, "auth.reauthenticated")
    clock.travel(start + timedelta(minutes=9))
    assert client.get("/services/export.csv").status_code == 200
    clock.travel(start + timedelta(minutes=11))
    assert client.get("/services/export.csv").status_code == 302


def test_reauthenticate_page_refuses_an_outside_next(owner_a):
    client = sign_in(owner_a)
    response = client.post(
        "/account/reauthenticate/?next=https://evil.example/", {"password": PASSWORD}
    )
    assert response.status_code == 302 and response["Location"] == "/"


def test_api_export_by_session_needs_reauthentication_and_tokens_are_exempt(owner_a, clock):
    start = clock.now()
    client = sign_in(owner_a)
    refused = client.get("/api/v1/patients/export.csv")
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "reauthentication_required"
    by_token = client.get(
        "/api/v1/patients/export.csv", HTTP_AUTHORIZATION=f"Bearer {owner_a.token}"
    )
    assert by_token.status_code == 200
    csrf = client.get("/account/sessions/").cookies.get("csrftoken") or client.cookies["csrftoken"]
    wrong = client.post(
        "/api/v1/me/reauthenticate",
        {"password": "nope"},
        content_type="application/json",
        HTTP_X_CSRFTOKEN=csrf.value,
    )
    assert wrong.status_code == 422
    assert wrong.json()["error"]["details"] == {"password": ["Your password is not right."]}
    ok = client.post(
        "/api/v1/me/reauthenticate",
        {"password": PASSWORD},
        content_type="application/json",
        HTTP_X_CSRFTOKEN=csrf.value,
    )
    assert ok.status_code == 204
    assert client.get("/api/v1/services/export.csv").status_code == 200
    clock.travel(start + timedelta(minutes=11))
    assert client.get("/api/v1/services/export.csv").status_code == 403


# at 5 s into a 30 s code period, and frozen: the codes used one after the other never straddle a
# period's end (which made this test fail now and then)
@time_machine.travel(datetime.datetime(2026, 12, 1, 10, 0, 5, tzinfo=datetime.UTC), tick=False)
def test_reauthentication_with_two_factor_needs_the_code(owner_a, tenant):
    from tests.accounts.test_two_factor import code, enrol

    enroller = Client()
    device, _codes = enrol(enroller, owner_a, tenant)
    client = Client()
    client.post(
        "/login/",
        {"email": owner_a.user.email, "password": PASSWORD, "organization": owner_a.org.slug},
    )
    assert client.post("/login/two-factor/", {"code": code(device, 1)}).status_code == 302
    page = client.get("/account/reauthenticate/?next=/patients/export.csv")
    assert 'name="code"' in page.text
    assert client.post(page.request["PATH_INFO"], {"password": PASSWORD}).status_code == 400
    response = client.post(
        "/account/reauthenticate/?next=/patients/export.csv",
        {"password": PASSWORD, "code": code(device, steps_ahead=2)},
    )
    assert response.status_code == 302 and response["Location"] == "/patients/export.csv"
    assert client.get("/patients/export.csv").status_code == 200


def test_password_change_ends_the_other_sessions_and_rotates_this_one(owner_a, tenant):
    mine, others = sign_in(owner_a), [sign_in(owner_a, CHROME) for _ in range(2)]
    old_key = mine.session.session_key
    response = mine.post(
        "/api/v1/me/password",
        {"current_password": PASSWORD, "new_password": "a much longer passphrase 42"},
        content_type="application/json",
    )
    assert response.status_code == 204, response.content
    assert signed_in(mine) and not any(signed_in(c) for c in others)
    new_key = mine.session.session_key
    assert new_key != old_key
    rows = {r.key_hash: r for r in rows_of(owner_a, tenant)}
    assert rows[user_sessions.key_digest(new_key)].ended_at is None
    assert sum(r.ended_at is None for r in rows.values()) == 1
    (event,) = events(tenant, owner_a.org, "auth.sessions_ended")
    assert event.details == {"count": 2, "reason": "password changed", "kept_current": True}


def test_token_creation_by_a_browser_session_needs_reauthentication(owner_a):
    client = sign_in(owner_a)
    refused = client.post("/api/v1/auth/tokens", {"name": "ci"}, content_type="application/json")
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "reauthentication_required"
    by_token = client.post(
        "/api/v1/auth/tokens",
        {"name": "ci"},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {owner_a.token}",
    )
    assert by_token.status_code == 201
    reauth = client.post(
        "/api/v1/me/reauthenticate", {"password": PASSWORD}, content_type="application/json"
    )
    assert reauth.status_code == 204
    created = client.post("/api/v1/auth/tokens", {"name": "ci"}, content_type="application/json")
    assert created.status_code == 201
