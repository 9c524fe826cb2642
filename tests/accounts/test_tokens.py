from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from clinic.accounts.models import ApiToken
from tests.conftest import PASSWORD


def _login(api, persona, password=PASSWORD, org=None, **headers):
    return api.post(
        "auth/token",
        json={
            "email": persona.user.email,
            "password": password,
            "organization": org or persona.org.slug,
        },
        headers=headers,
    )


def test_token_lifecycle(api, owner_a, tenant):
    response = _login(api, owner_a)
    assert response.status_code == 201
    body = response.json()
    raw = body["token"]
    assert raw.startswith("clk_") and body["expires_at"]
    auth = {"HTTP_AUTHORIZATION": f"Bearer {raw}"}

    me = api.get("me", headers=auth).json()
    assert me["user"]["email"] == owner_a.user.email
    assert me["organization"]["slug"] == owner_a.org.slug
    assert "audit.view" in me["permissions"]

    with tenant(owner_a.org):
        stored = ApiToken.objects.get(prefix=raw[:12])
        assert stored.key_hash != raw and raw not in stored.key_hash
    listed = api.get("auth/tokens", headers=auth).json()
    assert {t["prefix"] for t in listed["items"]} >= {raw[:12]}
    assert all("token" not in t and "key_hash" not in t for t in listed["items"])

    assert api.delete("auth/token", headers=auth).status_code == 204
    refused = api.get("me", headers=auth)
    assert refused.status_code == 401
    assert refused.json()["error"]["code"] == "not_authenticated"


def test_revoke_a_listed_token(api, owner_a):
    other = api.post("auth/tokens", owner_a, json={"name": "integration"}).json()["token"]
    items = api.get("auth/tokens", owner_a).json()["items"]
    token_id = next(t["id"] for t in items if t["prefix"] == other[:12])
    assert api.delete(f"auth/tokens/{token_id}", owner_a).status_code == 204
    assert api.get("me", headers={"HTTP_AUTHORIZATION": f"Bearer {other}"}).status_code == 401
    assert api.get("me", owner_a).status_code == 200


def test_expired_token_is_refused(api, owner_a, tenant):
    with tenant(owner_a.org):
        ApiToken.objects.filter(membership=owner_a.membership).update(
            created_at=timezone.now() - timedelta(days=2),
            expires_at=timezone.now() - timedelta(seconds=1),
        )
    assert api.get("me", owner_a).status_code == 401


def test_a_token_is_scoped_to_one_organization(api, org_b, owner_a):
    from tests.conftest import persona_create

    # the same person is also a member of clinic B
    in_b = persona_create(org_b, "practitioner", email=owner_a.user.email)
    assert api.get("me", owner_a).json()["organization"]["id"] == str(owner_a.org.id)
    me_b = api.get("me", in_b).json()
    assert me_b["organization"]["id"] == str(org_b.id) and me_b["role"] == "practitioner"
    token_b = _login(api, owner_a, org=org_b.slug).json()["token"]
    assert (
        api.get("me", headers={"HTTP_AUTHORIZATION": f"Bearer {token_b}"}).json()["organization"][
            "slug"
        ]
        == org_b.slug
    )


@pytest.mark.parametrize(
    ("field", "value"), [("password", "wrong-password-1"), ("organization", "no-such-clinic")]
)
def test_bad_credentials_are_401(api, owner_a, field, value):
    kwargs = {field: value} if field == "password" else {"org": value}
    response = _login(api, owner_a, **kwargs)
    assert response.status_code == 401
    assert response.json()["error"]["message"] == "Invalid email, password or organization."


def test_member_of_another_org_cannot_get_a_token_for_it(api, owner_a, owner_b):
    assert _login(api, owner_a, org=owner_b.org.slug).status_code == 401


def test_failed_logins_lock_the_account(api, owner_a, settings):
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert _login(api, owner_a, password="nope-nope-nope").status_code == 401
    # the attempt that reaches the limit is refused with the lockout message
    assert _login(api, owner_a, password="nope-nope-nope").status_code == 429
    locked = _login(api, owner_a)  # even the right password, while locked
    assert locked.status_code == 429
    assert locked.json()["error"]["code"] == "too_many_attempts"
    assert "Try again in" in locked.json()["error"]["message"]
    assert int(locked["Retry-After"]) > 0


def test_bearer_authentication_is_one_statement_and_keeps_the_request_context(
    api, owner_a, tenant, django_assert_num_queries
):
    """The token, its membership, user and organization, the tenant and the audit metadata come
    from one round trip (`app_token_authenticate`); writes still carry the request's context."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        me = api.get("me", owner_a)
    assert me.status_code == 200 and me.json()["organization"]["slug"] == owner_a.org.slug
    statements = [
        q["sql"]
        for q in captured.captured_queries
        if q["sql"] not in ("BEGIN", "COMMIT") and "SAVEPOINT" not in q["sql"]
    ]
    assert statements[0].startswith("SELECT * FROM app_token_authenticate(")
    assert not any("accounts_apitoken" in s or "set_config" in s for s in statements[1:])

    created = api.post(
        "locations",
        owner_a,
        json={"name": "Annex", "time_zone": "Europe/Paris"},
        headers={"HTTP_USER_AGENT": "token-agent", "HTTP_X_REQUEST_ID": "req-token-1234"},
    )
    assert created.status_code == 201, created.content
    from clinic.audit.models import AuditEvent

    with tenant(owner_a.org):
        event = AuditEvent.objects.get(object_type="directory_location", action="insert")
    assert event.request_id == "req-token-1234" and event.user_agent == "token-agent"
    assert event.actor_id == owner_a.user.id and event.ip == "127.0.0.1"


@pytest.mark.parametrize("header", ["Bearer ", "Bearer not-a-token"])
def test_an_unknown_or_empty_bearer_token_leaves_no_tenant(api, owner_a, tenant, header):
    assert api.get("me", headers={"HTTP_AUTHORIZATION": header}).status_code == 401
    assert api.get("locations", headers={"HTTP_AUTHORIZATION": header}).status_code == 401


def test_a_token_of_a_deactivated_membership_is_refused(api, owner_a, tenant):
    with tenant(owner_a.org):
        type(owner_a.membership).objects.filter(id=owner_a.membership.id).update(is_active=False)
    assert api.get("me", owner_a).status_code == 401
