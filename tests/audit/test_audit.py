from __future__ import annotations

import pytest
from django.db import transaction

from clinic.audit.models import AuditEvent
from tests.conftest import PASSWORD


def _events(tenant, org, **filters):
    with tenant(org):
        return list(AuditEvent.objects.filter(**filters).order_by("occurred_at"))


def test_membership_creation_is_audited_with_after_image(owner_a, tenant):
    (event,) = _events(
        tenant, owner_a.org, object_type="accounts_membership", object_id=str(owner_a.membership.id)
    )
    assert event.action == "insert"
    assert event.before is None
    assert event.after["role"] == "owner"
    assert event.after["user_id"] == str(owner_a.user.id)


def test_update_records_before_and_after_and_secrets_are_redacted(owner_a, tenant):
    from clinic.accounts.models import Membership

    with tenant(owner_a.org, owner_a.user):
        Membership.objects.filter(id=owner_a.membership.id).update(role="admin")
    update = _events(tenant, owner_a.org, object_type="accounts_membership", action="update")[-1]
    assert update.before["role"] == "owner" and update.after["role"] == "admin"
    assert update.actor_id == owner_a.user.id
    for token_event in _events(tenant, owner_a.org, object_type="accounts_apitoken"):
        assert "key_hash" not in (token_event.after or {})
    for user_event in _events(tenant, owner_a.org, object_type="accounts_user"):
        assert "password" not in (user_event.after or {})


def test_logins_and_token_creation_are_audited_with_request_context(api, owner_a, tenant):
    ok = api.post(
        "auth/token",
        json={"email": owner_a.user.email, "password": PASSWORD, "organization": owner_a.org.slug},
        headers={"HTTP_USER_AGENT": "pytest-agent", "HTTP_X_REQUEST_ID": "req-12345678"},
    )
    assert ok.status_code == 201
    assert ok["X-Request-ID"] == "req-12345678"
    bad = api.post(
        "auth/token",
        json={
            "email": owner_a.user.email,
            "password": "wrong-wrong-1",
            "organization": owner_a.org.slug,
        },
    )
    assert bad.status_code == 401
    login = _events(tenant, owner_a.org, action="auth.login")[-1]
    assert login.actor_id == owner_a.user.id
    assert login.user_agent == "pytest-agent" and login.request_id == "req-12345678"
    assert login.ip == "127.0.0.1"
    created = _events(tenant, owner_a.org, action="token.create")[-1]
    assert created.request_id == "req-12345678"
    failed = _events(tenant, owner_a.org, action="auth.login_failed")
    assert failed and failed[-1].details["email"] == owner_a.user.email


def test_audit_rows_are_immutable_for_the_application(owner_a, tenant):
    with pytest.raises(Exception) as excinfo, transaction.atomic(), tenant(owner_a.org):
        AuditEvent.objects.update(action="tampered")
    assert "permission denied" in str(excinfo.value)


def test_audit_api_lists_filters_and_gets(api, owner_a, practitioner_a):
    page = api.get(
        f"audit-events?object_type=accounts_membership&object_id={practitioner_a.membership.id}",
        owner_a,
    ).json()
    assert page["count"] == 1
    (item,) = page["items"]
    assert item["action"] == "insert" and item["after"]["role"] == "practitioner"
    one = api.get(f"audit-events/{item['id']}", owner_a)
    assert one.status_code == 200 and one.json()["id"] == item["id"]
    by_actor = api.get(
        f"audit-events?actor_id={owner_a.user.id}&action=token.create", owner_a
    ).json()
    assert by_actor["count"] >= 0
    since = api.get("audit-events?since=2999-01-01T00:00:00Z", owner_a).json()
    assert since["count"] == 0


def test_audit_api_is_for_owners_and_admins_only(api, practitioner_a):
    response = api.get("audit-events", practitioner_a)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "permission_denied"


def test_audit_api_never_shows_another_clinic(api, owner_a, owner_b):
    items = api.get("audit-events?page_size=200", owner_a).json()["items"]
    assert items
    assert all(
        str(owner_b.org.id) not in str(i) and owner_b.user.email not in str(i) for i in items
    )
