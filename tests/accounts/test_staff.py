"""Staff administration (issue 11, section 6): invitations (send, resend, revoke, accept,
expiry, single use), members' roles and deactivation with their rules (last owner, own role,
what a manager may grant), through the services and the API; nothing written on a refusal."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.test import Client, RequestFactory

from clinic.accounts import services
from clinic.accounts.models import ApiToken, Invitation, Membership, User
from clinic.audit.models import AuditEvent
from clinic.core.errors import Conflict, Gone, PermissionDenied, ValidationFailed
from tests.conftest import PASSWORD, reauthenticated
from tests.notifications.conftest import smtp  # noqa: F401 - a real SMTP server on loopback

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "violet-harbour-lantern-42"


def _token_from(body: str) -> str:
    return re.search(r"/invitations/accept/([\w-]+)/", body).group(1)


def _invite(persona, tenant, email="new.person@example.org", role="practitioner"):
    with tenant(persona.org, persona.user):
        return services.invitation_send(actor=persona.membership, email=email, role=role)


def _accept(tenant, raw, password=NEW_PASSWORD, name="Nora New"):
    from django.db import transaction

    with transaction.atomic():
        return services.invitation_accept(
            request=RequestFactory().post("/"), token=raw, password=password, name=name
        )


# --- services ------------------------------------------------------------------------------------


def test_invitation_is_stored_hashed_and_accepting_makes_a_member(owner_a, tenant, mailoutbox):
    issued = _invite(owner_a, tenant)
    with tenant(owner_a.org):
        row = Invitation.objects.get()
    assert row.token_hash != issued.raw and issued.raw not in row.token_hash
    assert row.expires_at - row.sent_at == timedelta(days=7)
    (mail,) = mailoutbox
    assert mail.to == ["new.person@example.org"]
    assert owner_a.org.name in mail.subject and issued.path in mail.body

    membership = _accept(tenant, issued.raw)
    assert membership.role == "practitioner"
    assert membership.user.full_name == "Nora New"
    with tenant(owner_a.org):
        row.refresh_from_db()
        assert row.accepted_at is not None and row.accepted_by_id == membership.user_id
        actions = set(AuditEvent.objects.values_list("action", flat=True))
    assert {"invitation.sent", "invitation.accepted"} <= actions


def test_an_invitation_works_once(owner_a, tenant):
    issued = _invite(owner_a, tenant)
    _accept(tenant, issued.raw)
    with pytest.raises(Gone) as used:
        _accept(tenant, issued.raw, password="another-long-password-77")
    assert used.value.code == "invitation_used"


def test_an_invitation_expires_after_seven_days(owner_a, tenant, clock):
    clock.travel("2031-03-03T09:00:00+00:00")
    issued = _invite(owner_a, tenant)
    clock.travel("2031-03-10T08:59:00+00:00")
    with tenant(owner_a.org):
        assert services.invitation_usable(Invitation.objects.get()) is not None
    clock.travel("2031-03-10T09:00:01+00:00")
    with pytest.raises(Gone) as expired:
        _accept(tenant, issued.raw)
    assert expired.value.code == "invitation_expired"
    assert not User.objects.filter(email="new.person@example.org").exists()


def test_resend_gives_a_new_link_and_the_old_one_dies(owner_a, tenant, clock):
    clock.travel("2031-03-03T09:00:00+00:00")
    first = _invite(owner_a, tenant)
    clock.travel("2031-03-09T09:00:00+00:00")
    with tenant(owner_a.org, owner_a.user):
        again = services.invitation_resend(actor=owner_a.membership, invitation=first.invitation)
    assert again.raw != first.raw
    with pytest.raises(services.DomainError) as old:
        _accept(tenant, first.raw)
    assert old.value.code == "invitation_invalid"
    clock.travel("2031-03-15T09:00:00+00:00")  # 12 days after the first sending: still valid
    assert _accept(tenant, again.raw).role == "practitioner"


def test_revoked_invitation_cannot_be_accepted(owner_a, tenant):
    issued = _invite(owner_a, tenant)
    with tenant(owner_a.org, owner_a.user):
        services.invitation_revoke(actor=owner_a.membership, invitation=issued.invitation)
    with pytest.raises(Gone) as revoked:
        _accept(tenant, issued.raw)
    assert revoked.value.code == "invitation_revoked"


def test_one_live_invitation_per_email_and_none_for_members(owner_a, practitioner_a, tenant):
    _invite(owner_a, tenant, email="twice@example.org")
    with pytest.raises(Conflict) as pending:
        _invite(owner_a, tenant, email="TWICE@example.org")
    assert pending.value.code == "invitation_pending"
    with pytest.raises(Conflict) as member:
        _invite(owner_a, tenant, email=practitioner_a.user.email)
    assert member.value.code == "already_member"


def test_an_expired_invitation_is_replaced_by_a_new_one(owner_a, tenant, clock):
    clock.travel("2031-03-03T09:00:00+00:00")
    _invite(owner_a, tenant, email="late@example.org")
    clock.travel("2031-03-20T09:00:00+00:00")
    _invite(owner_a, tenant, email="late@example.org")
    with tenant(owner_a.org):
        states = sorted(
            i.state_at(clock.now()) for i in Invitation.objects.filter(email="late@example.org")
        )
    assert states == ["pending", "revoked"]


def test_an_existing_user_joins_with_their_own_password(api, owner_a, owner_b, tenant):
    issued = _invite(owner_a, tenant, email=owner_b.user.email, role="admin")
    wrong = api.post(
        "invitations/accept", json={"token": issued.raw, "password": "not-their-password-at-all"}
    )
    assert wrong.status_code == 422
    assert wrong.json()["error"]["code"] == "password_incorrect"
    joined = api.post("invitations/accept", json={"token": issued.raw, "password": PASSWORD})
    assert joined.status_code == 201, joined.content
    assert joined.json()["user"]["id"] == str(owner_b.user.id)
    assert joined.json()["role"] == "admin"
    assert User.objects.filter(email=owner_b.user.email).count() == 1


def test_weak_password_names_the_rule_and_writes_nothing(owner_a, tenant):
    issued = _invite(owner_a, tenant)
    with pytest.raises(ValidationFailed) as weak:
        _accept(tenant, issued.raw, password="short")
    assert "12 characters" in weak.value.message
    assert not User.objects.filter(email="new.person@example.org").exists()


def test_manager_cannot_grant_owner_or_admin(persona_factory, tenant):
    manager = persona_factory("manager")
    for role in ("owner", "admin"):
        with pytest.raises(PermissionDenied):
            _invite(manager, tenant, email=f"{role}@example.org", role=role)
    assert _invite(manager, tenant, email="desk@example.org", role="assistant").raw
    admin = persona_factory("admin")
    with tenant(manager.org, manager.user), pytest.raises(PermissionDenied):
        services.member_update(actor=manager.membership, target=admin.membership, active=False)
    assistant = persona_factory("assistant")
    with tenant(manager.org, manager.user), pytest.raises(PermissionDenied):
        services.member_update(actor=manager.membership, target=assistant.membership, role="admin")


def test_roles_without_membership_manage_cannot_invite(practitioner_a, tenant):
    with pytest.raises(PermissionDenied):
        _invite(practitioner_a, tenant, role="assistant")


def test_nobody_changes_their_own_role(persona_factory, owner_a, tenant):
    admin = persona_factory("admin")
    with tenant(admin.org, admin.user), pytest.raises(PermissionDenied) as own:
        services.member_update(actor=admin.membership, target=admin.membership, role="manager")
    assert own.value.code in {"own_membership", "role_not_grantable"}
    manager = persona_factory("manager")
    with tenant(manager.org, manager.user), pytest.raises(PermissionDenied):
        services.member_update(actor=manager.membership, target=manager.membership, role="owner")


def test_the_last_owner_stays(owner_a, persona_factory, tenant):
    with tenant(owner_a.org, owner_a.user):
        for change in ({"role": "admin"}, {"active": False}):
            with pytest.raises(Conflict) as last:
                services.member_update(
                    actor=owner_a.membership, target=owner_a.membership, **change
                )
            assert last.value.code == "last_owner"
    second = persona_factory("owner")
    with tenant(owner_a.org, owner_a.user):
        services.member_update(actor=owner_a.membership, target=second.membership, role="admin")
        assert Membership.objects.get(id=second.membership.id).role == "admin"


# --- the API -------------------------------------------------------------------------------------


def _writes(tenant, org):
    with tenant(org):
        return (
            Invitation.objects.count(),
            list(Membership.objects.order_by("id").values_list("role", "is_active")),
        )


def test_api_invite_list_resend_revoke(api, owner_a, tenant, mailoutbox):
    created = api.post("invitations", owner_a, json={"email": "Api@Example.org", "role": "manager"})
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["email"] == "api@example.org" and body["state"] == "pending"
    assert body["invited_by"] == owner_a.user.email
    listed = api.get("invitations", owner_a).json()
    assert [i["id"] for i in listed["items"]] == [body["id"]]
    first_token = _token_from(mailoutbox[0].body)
    resent = api.post(f"invitations/{body['id']}/resend", owner_a)
    assert resent.status_code == 200 and len(mailoutbox) == 2
    assert _token_from(mailoutbox[1].body) != first_token
    revoked = api.post(f"invitations/{body['id']}/revoke", owner_a)
    assert revoked.status_code == 200 and revoked.json()["state"] == "revoked"
    assert api.get("invitations", owner_a).json()["items"] == []
    again = api.post(f"invitations/{body['id']}/revoke", owner_a)
    assert again.status_code == 409 and again.json()["error"]["code"] == "invitation_closed"


@pytest.mark.parametrize(
    ("payload", "status", "field"),
    [
        ({"email": "not-an-email", "role": "assistant"}, 422, "email"),
        ({"email": "x@example.org", "role": "boss"}, 422, "role"),
        ({"email": "x@example.org", "role": "patient"}, 422, "role"),
        ({"email": "x@example.org"}, 422, "role"),
    ],
)
def test_api_invitation_refusals_write_nothing(api, owner_a, tenant, payload, status, field):
    before = _writes(tenant, owner_a.org)
    response = api.post("invitations", owner_a, json=payload)
    assert response.status_code == status, response.content
    assert field in str(response.json()["error"]["details"])
    assert _writes(tenant, owner_a.org) == before


def test_api_invitation_by_a_practitioner_is_403(api, practitioner_a, tenant):
    before = _writes(tenant, practitioner_a.org)
    response = api.post(
        "invitations", practitioner_a, json={"email": "a@b.org", "role": "assistant"}
    )
    assert response.status_code == 403
    assert _writes(tenant, practitioner_a.org) == before


def test_api_accept_is_public_and_says_why_it_refuses(api, owner_a, tenant, clock):
    clock.travel("2031-03-03T09:00:00+00:00")
    issued = _invite(owner_a, tenant)
    unknown = api.post("invitations/accept", json={"token": "inv_nope", "password": NEW_PASSWORD})
    assert unknown.status_code == 400
    assert unknown.json()["error"]["code"] == "invitation_invalid"
    weak = api.post("invitations/accept", json={"token": issued.raw, "password": "password123456"})
    assert weak.status_code == 422 and "password" in weak.json()["error"]["details"]
    assert "common" in weak.json()["error"]["message"]
    assert not User.objects.filter(email="new.person@example.org").exists()
    ok = api.post(
        "invitations/accept",
        json={"token": issued.raw, "password": NEW_PASSWORD, "name": "Nora New"},
    )
    assert ok.status_code == 201, ok.content
    assert ok.json()["role"] == "practitioner"
    assert ok.json()["organization"]["slug"] == owner_a.org.slug
    used = api.post("invitations/accept", json={"token": issued.raw, "password": NEW_PASSWORD})
    assert used.status_code == 410 and used.json()["error"]["code"] == "invitation_used"
    later = _invite(owner_a, tenant, email="later@example.org")
    clock.travel("2031-03-11T09:00:00+00:00")
    expired = api.post("invitations/accept", json={"token": later.raw, "password": NEW_PASSWORD})
    assert expired.status_code == 410
    assert expired.json()["error"]["code"] == "invitation_expired"


def test_api_accept_is_throttled(api, db, settings):
    from django.core.cache import cache

    cache.clear()
    codes = [
        api.post("invitations/accept", json={"token": f"inv_{i}", "password": "x"}).status_code
        for i in range(31)
    ]
    assert codes[:30] == [400] * 30 and codes[30] == 429
    cache.clear()


def test_api_member_patch_and_its_refusals(api, owner_a, persona_factory, tenant):
    assistant = persona_factory("assistant")
    changed = api.patch(f"members/{assistant.membership.id}", owner_a, json={"role": "manager"})
    assert changed.status_code == 200 and changed.json()["role"] == "manager"
    before = _writes(tenant, owner_a.org)
    own = api.patch(f"members/{owner_a.membership.id}", owner_a, json={"role": "admin"})
    assert own.status_code == 409 and own.json()["error"]["code"] == "last_owner"
    admin = persona_factory("admin")
    practitioner = persona_factory("practitioner")
    before = _writes(tenant, owner_a.org)
    raise_self = api.patch(f"members/{admin.membership.id}", admin, json={"role": "owner"})
    assert raise_self.status_code == 403
    demote_owner = api.patch(f"members/{owner_a.membership.id}", admin, json={"active": False})
    assert demote_owner.status_code == 403
    unknown = api.patch(f"members/{assistant.membership.id}", owner_a, json={"role": "king"})
    assert unknown.status_code == 422 and "role" in unknown.json()["error"]["details"]
    empty = api.patch(f"members/{assistant.membership.id}", owner_a, json={})
    assert empty.status_code == 422
    by_practitioner = api.patch(
        f"members/{assistant.membership.id}",
        practitioner,
        json={"active": False},
    )
    assert by_practitioner.status_code == 403
    assert _writes(tenant, owner_a.org) == before


def test_api_members_list(api, owner_a, practitioner_a):
    items = api.get("members", owner_a).json()["items"]
    assert {i["user"]["email"]: i["role"] for i in items} == {
        owner_a.user.email: "owner",
        practitioner_a.user.email: "practitioner",
    }


def test_deactivation_stops_a_token_and_a_session_at_once(api, owner_a, practitioner_a, tenant):
    browser = Client()
    assert (
        browser.post(
            "/login/",
            {
                "email": practitioner_a.user.email,
                "password": PASSWORD,
                "organization": owner_a.org.slug,
            },
        ).status_code
        == 302
    )
    assert browser.get("/").status_code == 200
    assert api.get("me", practitioner_a).status_code == 200

    off = api.patch(f"members/{practitioner_a.membership.id}", owner_a, json={"active": False})
    assert off.status_code == 200 and off.json()["active"] is False
    assert api.get("me", practitioner_a).status_code == 401
    page = browser.get("/")
    assert page.status_code == 302 and page["Location"].startswith("/login/")
    with tenant(owner_a.org):
        assert not ApiToken.objects.filter(
            membership=practitioner_a.membership, revoked_at__isnull=True
        ).exists()
        assert AuditEvent.objects.filter(action="membership.updated").exists()

    on = api.patch(f"members/{practitioner_a.membership.id}", owner_a, json={"active": True})
    assert on.status_code == 200 and on.json()["active"] is True
    assert api.get("me", practitioner_a).status_code == 401  # old tokens stay revoked


def test_browser_session_needs_reauthentication_for_member_changes(owner_a, practitioner_a):
    browser = Client()
    browser.force_login(owner_a.user)
    url = f"/api/v1/members/{practitioner_a.membership.id}"
    refused = browser.patch(url, data={"role": "assistant"}, content_type="application/json")
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "reauthentication_required"
    reauthenticated(browser)
    allowed = browser.patch(url, data={"role": "assistant"}, content_type="application/json")
    assert allowed.status_code == 200


# --- pages ---------------------------------------------------------------------------------------


def test_members_page_invites_and_changes_roles(owner_a, practitioner_a, tenant, mailoutbox):
    browser = Client()
    browser.force_login(owner_a.user)
    page = browser.get("/members/")
    assert page.status_code == 200 and "Invite someone" in page.text
    assert "No pending invitations" in page.text
    sent = browser.post("/members/invite/", {"email": "page@example.org", "role": "assistant"})
    assert sent.status_code == 302
    page = browser.get("/members/")
    assert "page@example.org" in page.text and "Resend" in page.text
    # a role change asks for the password first
    url = f"/members/{practitioner_a.membership.id}/update/"
    asked = browser.post(url, {"role": "manager"}, HTTP_REFERER="http://testserver/members/")
    assert asked.status_code == 302 and "/account/reauthenticate/" in asked["Location"]
    reauthenticated(browser)
    done = browser.post(url, {"role": "manager"})
    assert done.status_code == 302
    with tenant(owner_a.org):
        assert Membership.objects.get(id=practitioner_a.membership.id).role == "manager"


def test_acceptance_page_signs_the_new_member_in(owner_a, tenant):
    issued = _invite(owner_a, tenant)
    browser = Client()
    page = browser.get(issued.path)
    assert page.status_code == 200 and owner_a.org.name in page.text
    weak = browser.post(issued.path, {"name": "Nora", "password": "short"})
    assert weak.status_code == 422 and "12 characters" in weak.text
    joined = browser.post(issued.path, {"name": "Nora New", "password": NEW_PASSWORD})
    assert joined.status_code == 302
    assert browser.get("/").status_code == 200
    gone = Client().get(issued.path)
    assert gone.status_code == 410 and "already used" in gone.text


def test_invitation_email_arrives_by_smtp_in_the_organizations_language(
    owner_a,
    tenant,
    smtp,  # noqa: F811
):
    owner_a.org.default_locale = "fr"
    owner_a.org.save(update_fields=["default_locale"])
    owner_a.membership.organization = owner_a.org
    issued = _invite(owner_a, tenant, email="smtp@example.org")
    assert smtp.count() == 1
    (msg,) = smtp.parsed()
    assert msg["To"] == "smtp@example.org"
    assert owner_a.org.name in msg["Subject"]
    body = msg.get_content()
    assert issued.path in body
    assert "Clinic A" in body and "&#x27;" not in body
    assert "vous invite à rejoindre" in body  # in the organization's language (fr)


# --- review findings ------------------------------------------------------------------------------


def test_the_request_log_never_holds_an_invitation_link(owner_a, tenant, capsys):
    issued = _invite(owner_a, tenant)
    assert Client().get(issued.path).status_code == 200
    logged = capsys.readouterr().out
    assert "/invitations/accept/[redacted]/" in logged
    assert issued.raw not in logged


def test_an_existing_account_with_two_factor_gives_its_code_after_accepting(
    owner_a, owner_b, tenant
):
    from tests.accounts.test_two_factor import enrol

    enrol(Client(), owner_b, tenant)
    issued = _invite(owner_a, tenant, email=owner_b.user.email, role="assistant")
    browser = Client()
    joined = browser.post(issued.path, {"password": PASSWORD})
    assert joined.status_code == 302 and joined["Location"] == "/login/two-factor/"
    # no session yet: the page asks for the second factor first
    assert "_auth_user_id" not in browser.session
    assert browser.get("/").status_code == 302


def test_a_member_changed_meanwhile_is_not_overwritten(owner_a, persona_factory, tenant):
    manager = persona_factory("manager")
    practitioner = persona_factory("practitioner")
    stale = Membership.objects.get(id=practitioner.membership.id)  # read before the change
    with tenant(owner_a.org, owner_a.user):
        services.member_update(actor=owner_a.membership, target=stale, active=False)
    with tenant(owner_a.org, manager.user):
        services.member_update(actor=manager.membership, target=stale, role="assistant")
    with tenant(owner_a.org):
        row = Membership.objects.get(id=practitioner.membership.id)
    assert (row.role, row.is_active) == ("assistant", False)  # still deactivated


def test_a_removed_members_invitations_are_withdrawn(owner_a, persona_factory, tenant):
    admin = persona_factory("admin")
    issued = _invite(admin, tenant, email="friend@example.org", role="admin")
    with tenant(owner_a.org, owner_a.user):
        services.member_update(actor=owner_a.membership, target=admin.membership, active=False)
        assert Invitation.objects.get(id=issued.invitation.id).revoked_at is not None
    with pytest.raises(Gone) as refused:
        _accept(tenant, issued.raw)
    assert refused.value.code == "invitation_revoked"
    assert not User.objects.filter(email="friend@example.org").exists()


def test_an_invitation_dies_with_its_inviters_authority(owner_a, persona_factory, tenant):
    # demoted by a direct write (no service): acceptance still checks the inviter's role
    admin = persona_factory("admin")
    issued = _invite(admin, tenant, email="friend@example.org", role="admin")
    with tenant(owner_a.org):
        Membership.objects.filter(id=admin.membership.id).update(role="assistant")
    with pytest.raises(Gone) as refused:
        _accept(tenant, issued.raw)
    assert refused.value.code == "invitation_revoked"


def test_inviting_an_owner_or_admin_asks_for_the_password_again(owner_a, tenant):
    browser = Client()
    browser.force_login(owner_a.user)
    refused = browser.post(
        "/api/v1/invitations",
        data={"email": "boss@example.org", "role": "owner"},
        content_type="application/json",
    )
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "reauthentication_required"
    page = browser.post("/members/invite/", {"email": "boss@example.org", "role": "admin"})
    assert page.status_code == 302 and "/account/reauthenticate/" in page["Location"]
    with tenant(owner_a.org):
        assert not Invitation.objects.filter(email="boss@example.org").exists()
    # a practitioner's invitation needs no second password
    sent = browser.post("/members/invite/", {"email": "doc@example.org", "role": "practitioner"})
    assert sent.status_code == 302 and sent["Location"] == "/members/"


def test_revoking_an_accepted_invitation_is_a_409_not_a_500(api, owner_a, tenant):
    issued = _invite(owner_a, tenant)
    _accept(tenant, issued.raw)
    refused = api.post(f"invitations/{issued.invitation.id}/revoke", owner_a)
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "invitation_closed"
    resent = api.post(f"invitations/{issued.invitation.id}/resend", owner_a)
    assert resent.status_code == 409
