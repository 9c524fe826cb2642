"""Two-factor sign-in (issue 18, hardening): TOTP enrolment with a QR code, the second step of
signing in, recovery codes, remembered devices, the organization's requirement, API tokens only
after the second factor, turning it off and an admin's reset; every step audited."""

from __future__ import annotations

import re
import time
from datetime import timedelta

import psycopg
import pytest
from django.db import connection
from django.db.utils import ProgrammingError
from django.test import Client
from django_otp.oath import TOTP
from django_otp.plugins.otp_static.models import StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from clinic.accounts import two_factor
from clinic.audit.models import AuditEvent
from tests.conftest import PASSWORD


@pytest.fixture(autouse=True)
def _no_device_delay(settings):
    # django-otp's own per-device delay (1, 2, 4 … s after a wrong code) is tested on its own
    settings.OTP_TOTP_THROTTLE_FACTOR = 0
    settings.OTP_STATIC_THROTTLE_FACTOR = 0


def code(device: TOTPDevice | str, steps_ahead: int = 0) -> str:
    """The code the user's app shows now (or `steps_ahead` periods later: a code may be used
    once, so a second sign-in in the same 30 s needs the next one, which is still accepted).
    `device` may be the hex secret being set up."""
    key = bytes.fromhex(device) if isinstance(device, str) else device.bin_key
    totp = TOTP(key)
    totp.time = time.time() + steps_ahead * 30
    return f"{totp.token():06d}"


def pending_key(client) -> str:
    """The secret the set-up page shows (kept in a signed cookie until confirmed)."""
    user = client.session["_auth_user_id"]
    value = client.cookies[two_factor.ENROL_COOKIE].value
    return two_factor.enrolment_key_from_cookie(value, type("U", (), {"id": user}))


def device_of(persona, tenant) -> TOTPDevice:
    with tenant(persona.org, persona.user):
        return TOTPDevice.objects.get(user=persona.user, confirmed=True)


def events(tenant, org, action):
    with tenant(org):
        return list(AuditEvent.objects.filter(action=action).order_by("occurred_at"))


def enrol(client, persona, tenant) -> tuple[TOTPDevice, list[str]]:
    """Set up two-factor sign-in through the pages; returns the device and recovery codes."""
    client.force_login(persona.user)
    page = client.get("/account/two-factor/")
    assert page.status_code == 200
    done = client.post("/account/two-factor/", {"code": code(pending_key(client))})
    assert done.status_code == 200, done.content
    codes = re.findall(r"<li>([a-z0-9]{4}-[a-z0-9]{4}-[a-z0-9]{4}-[a-z0-9]{4})</li>", done.text)
    client.logout()
    return device_of(persona, tenant), codes


def password_step(client, persona, **extra):
    return client.post(
        "/login/",
        {"email": persona.user.email, "password": PASSWORD, "organization": persona.org.slug},
        **extra,
    )


def test_enrolment_shows_a_qr_code_and_the_secret_and_is_confirmed_with_a_code(
    client, owner_a, tenant
):
    client.force_login(owner_a.user)
    page = client.get("/account/two-factor/")
    assert page.status_code == 200
    assert page["Cache-Control"] == "no-store"
    assert "<svg" in page.text and "<script" not in page.text.split("<main")[1]
    key = pending_key(client)
    secret = two_factor._secret_b32(key)
    assert secret in page.text  # for typing in by hand
    # the same secret is offered again on reload; nothing is stored before it is confirmed
    assert secret in client.get("/account/two-factor/").text
    with tenant(owner_a.org, owner_a.user):
        assert not TOTPDevice.objects.exists()

    wrong = client.post("/account/two-factor/", {"code": "000000"})
    assert wrong.status_code == 422
    assert "not right" in wrong.text
    assert [e.details["step"] for e in events(tenant, owner_a.org, "auth.two_factor_failed")] == [
        "enrolment"
    ]

    done = client.post("/account/two-factor/", {"code": code(key)})
    assert done.status_code == 200
    codes = re.findall(r"<li>([a-z0-9]{4}-[a-z0-9]{4}-[a-z0-9]{4}-[a-z0-9]{4})</li>", done.text)
    assert len(codes) == 10 and len(set(codes)) == 10
    assert device_of(owner_a, tenant).confirmed
    with tenant(owner_a.org, owner_a.user):
        stored = set(StaticToken.objects.values_list("token", flat=True))
    # stored hashed: no code, nor any part of one, is in the table
    assert stored == {two_factor.recovery_hash(c) for c in codes}
    assert not any(c.replace("-", "") in s or c in s for c in codes for s in stored)
    (enrolled,) = events(tenant, owner_a.org, "auth.two_factor_enrolled")
    assert enrolled.actor_id == owner_a.user.id
    # once on, the page shows its state and never the codes or the secret again
    again = client.get("/account/two-factor/")
    assert "10 recovery codes left" in again.text
    assert secret not in again.text and codes[0] not in again.text


def test_devices_are_visible_only_to_their_user(client, owner_a, owner_b, tenant):
    enrol(client, owner_a, tenant)
    with tenant(owner_a.org):  # the organization, but no user in context
        assert TOTPDevice.objects.count() == 0
        assert StaticToken.objects.count() == 0
    with tenant(owner_b.org, owner_b.user):
        assert TOTPDevice.objects.count() == 0
        assert TOTPDevice.objects.filter(user=owner_a.user).update(confirmed=False) == 0
    with tenant(owner_a.org, owner_a.user):
        assert TOTPDevice.objects.count() == 1
        assert StaticToken.objects.count() == 10
    # nor can a row be written for someone else
    with pytest.raises(ProgrammingError), tenant(owner_b.org, owner_b.user):
        TOTPDevice.objects.create(user=owner_a.user, name="planted")


def test_sign_in_asks_for_the_code_after_the_password(client, owner_a, tenant):
    device, _codes = enrol(client, owner_a, tenant)
    first = password_step(client, owner_a)
    assert first.status_code == 302 and first.url == "/login/two-factor/"
    # no session yet: the pages still send to the login
    assert client.get("/").status_code == 302
    assert client.get("/api/v1/me").status_code == 401

    wrong = client.post("/login/two-factor/", {"code": "123456"})
    assert wrong.status_code == 401
    assert client.get("/").status_code == 302
    failed = events(tenant, owner_a.org, "auth.two_factor_failed")
    assert [e.details["step"] for e in failed] == ["sign-in"]
    assert failed[0].actor_id == owner_a.user.id

    right = client.post("/login/two-factor/", {"code": code(device, 1)})
    assert right.status_code == 302
    assert client.get("/").status_code == 200
    verified = events(tenant, owner_a.org, "auth.two_factor_verified")
    assert [e.details["method"] for e in verified] == ["totp"]


def test_a_code_is_used_once(client, owner_a, tenant):
    device, _codes = enrol(client, owner_a, tenant)
    password_step(client, owner_a)
    used = code(device, 1)
    assert client.post("/login/two-factor/", {"code": used}).status_code == 302
    client.logout()
    password_step(client, owner_a)
    assert client.post("/login/two-factor/", {"code": used}).status_code == 401


def test_the_password_step_expires(client, owner_a, tenant, clock):
    device, _codes = enrol(client, owner_a, tenant)
    password_step(client, owner_a)
    clock.travel(clock.now() + timedelta(seconds=301))
    late = client.post("/login/two-factor/", {"code": code(device)})
    assert late.status_code == 302 and late.url == "/login/"
    assert client.get("/").status_code == 302


def test_a_recovery_code_works_once(client, owner_a, tenant):
    _device, codes = enrol(client, owner_a, tenant)
    password_step(client, owner_a)
    assert client.post("/login/two-factor/", {"code": codes[3].upper()}).status_code == 302
    assert client.get("/").status_code == 200
    (used,) = events(tenant, owner_a.org, "auth.recovery_code_used")
    assert used.details["codes_left"] == 9
    client.logout()

    password_step(client, owner_a)
    again = client.post("/login/two-factor/", {"code": codes[3]})
    assert again.status_code == 401
    assert events(tenant, owner_a.org, "auth.two_factor_failed")[-1].details["step"] == (
        "recovery code"
    )
    assert client.post("/login/two-factor/", {"code": codes[4]}).status_code == 302


def test_new_recovery_codes_replace_the_old(client, owner_a, tenant):
    device, codes = enrol(client, owner_a, tenant)
    client.force_login(owner_a.user)
    page = client.post("/account/two-factor/recovery-codes/", {"codes-code": code(device, 1)})
    assert page.status_code == 200
    fresh = re.findall(r"<li>([a-z0-9-]{19})</li>", page.text)
    assert len(fresh) == 10 and not set(fresh) & set(codes)
    assert events(tenant, owner_a.org, "auth.recovery_codes_regenerated")
    client.logout()
    password_step(client, owner_a)
    assert client.post("/login/two-factor/", {"code": codes[0]}).status_code == 401
    assert client.post("/login/two-factor/", {"code": fresh[0]}).status_code == 302


def test_wrong_codes_are_throttled_like_wrong_passwords(client, owner_a, tenant):
    enrol(client, owner_a, tenant)
    password_step(client, owner_a)
    statuses = [client.post("/login/two-factor/", {"code": "111111"}).status_code for _ in range(5)]
    assert statuses == [401, 401, 401, 401, 429]
    locked = client.post("/login/two-factor/", {"code": "111111"})
    assert locked.status_code == 429 and int(locked["Retry-After"]) > 60
    assert len(events(tenant, owner_a.org, "auth.two_factor_failed")) == 5


def test_the_device_delays_after_a_wrong_code(client, owner_a, tenant, settings):
    settings.OTP_TOTP_THROTTLE_FACTOR = 30
    device, _codes = enrol(client, owner_a, tenant)
    password_step(client, owner_a)
    assert client.post("/login/two-factor/", {"code": "222222"}).status_code == 401
    waiting = client.post("/login/two-factor/", {"code": code(device, 1)})
    assert waiting.status_code == 429
    assert 1 <= int(waiting["Retry-After"]) <= 30


def test_the_organization_can_require_it_of_owners_and_admins(
    client, api, owner_a, persona_factory, tenant
):
    practitioner = persona_factory("practitioner")
    client.force_login(owner_a.user)
    saved = client.post("/organization/two-factor/", {"two_factor_required": "admins"})
    assert saved.status_code == 302
    (changed,) = events(tenant, owner_a.org, "organization.two_factor_policy")
    assert changed.details == {"before": "nobody", "after": "admins"}
    client.logout()

    # an owner without an authenticator is sent to set one up before anything else
    assert password_step(client, owner_a).status_code == 302
    for path in ("/", "/members/", "/patients/"):
        response = client.get(path)
        assert response.status_code == 302 and response.url == "/account/two-factor/", path
    refused = client.get("/api/v1/me")
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "two_factor_required"
    assert client.get("/account/two-factor/").status_code == 200
    # and gets no API token (asked for without the session)
    token = Client().post(
        "/api/v1/auth/token",
        {"email": owner_a.user.email, "password": PASSWORD, "organization": owner_a.org.slug},
        content_type="application/json",
    )
    assert token.status_code == 403
    assert token.json()["error"]["code"] == "two_factor_enrolment_required"
    assert api.post("auth/tokens", owner_a, json={"name": "more"}).status_code == 403
    # once set up, the owner goes on
    assert (
        client.post("/account/two-factor/", {"code": code(pending_key(client))}).status_code == 200
    )
    assert client.get("/").status_code == 200
    client.logout()

    # a practitioner is not asked
    assert password_step(client, practitioner).status_code == 302
    assert client.get("/").status_code == 200


def test_everyone_means_every_role(client, owner_a, persona_factory):
    assistant = persona_factory("assistant")
    client.force_login(owner_a.user)
    client.post("/organization/two-factor/", {"two_factor_required": "everyone"})
    client.logout()
    password_step(client, assistant)
    assert client.get("/").url == "/account/two-factor/"


def test_a_fragment_request_is_sent_to_set_up_as_a_whole_page(client, owner_a, persona_factory):
    """htmx fragments (the bell's poll) got a 302 that htmx followed and swapped the set-up page
    into the header: seen as the form twice on the page in the browser test."""
    assistant = persona_factory("assistant")
    client.force_login(owner_a.user)
    client.post("/organization/two-factor/", {"two_factor_required": "everyone"})
    client.logout()
    password_step(client, assistant)
    fragment = client.get("/notifications/bell/", headers={"HX-Request": "true"})
    assert fragment.status_code == 200
    assert fragment["HX-Redirect"] == "/account/two-factor/"
    assert client.get("/notifications/bell/").url == "/account/two-factor/"  # plain: a 302
    on_set_up = client.get(
        "/notifications/bell/",
        headers={"HX-Request": "true", "HX-Current-URL": "http://testserver/account/two-factor/"},
    )
    assert on_set_up.status_code == 204  # already there: no reload loop
    client.logout()
    signed_out = client.get(
        "/notifications/bell/",
        headers={"HX-Request": "true", "HX-Current-URL": "http://testserver/patients/?q=a"},
    )
    # back to the page being read after signing in, not to the bell's fragment
    assert signed_out["HX-Redirect"] == "/login/?next=/patients/%3Fq%3Da"


def test_only_owners_and_admins_set_the_requirement(client, owner_a, persona_factory):
    practitioner = persona_factory("practitioner")
    client.force_login(practitioner.user)
    assert (
        client.post("/organization/two-factor/", {"two_factor_required": "everyone"}).status_code
        == 403
    )
    owner_a.org.refresh_from_db()
    assert owner_a.org.two_factor_required == "nobody"


def test_api_token_only_after_the_second_factor(client, api, owner_a, tenant):
    device, codes = enrol(client, owner_a, tenant)
    creds = {"email": owner_a.user.email, "password": PASSWORD, "organization": owner_a.org.slug}

    missing = api.post("auth/token", json=creds)
    assert missing.status_code == 401
    assert missing.json()["error"]["code"] == "two_factor_required"
    wrong = api.post("auth/token", json={**creds, "code": "654321"})
    assert wrong.status_code == 401
    assert wrong.json()["error"]["code"] == "invalid_two_factor_code"
    assert events(tenant, owner_a.org, "auth.two_factor_failed")[-1].details["step"] == "sign-in"
    # a wrong password with a right code still fails on the password
    assert (
        api.post(
            "auth/token", json={**creds, "password": "x" * 12, "code": code(device)}
        ).status_code
        == 401
    )

    issued = api.post("auth/token", json={**creds, "code": code(device, 1)})
    assert issued.status_code == 201
    raw = issued.json()["token"]
    assert api.get("me", headers={"HTTP_AUTHORIZATION": f"Bearer {raw}"}).status_code == 200
    by_recovery = api.post("auth/token", json={**creds, "code": codes[0]})
    assert by_recovery.status_code == 201


def test_a_remembered_device_skips_the_step(client, owner_a, tenant):
    device, _codes = enrol(client, owner_a, tenant)
    password_step(client, owner_a)
    done = client.post("/login/two-factor/", {"code": code(device, 1), "remember": "on"})
    assert done.status_code == 302
    cookie = done.cookies[two_factor.REMEMBER_COOKIE]
    assert cookie["httponly"] and cookie["max-age"] == 30 * 24 * 3600
    client.logout()  # the test client forgets every cookie; a browser keeps this one
    client.cookies[two_factor.REMEMBER_COOKIE] = cookie.value

    again = password_step(client, owner_a)
    assert again.status_code == 302 and again.url == "/"
    assert client.get("/").status_code == 200
    assert events(tenant, owner_a.org, "auth.two_factor_remembered")
    client.logout()

    # a tampered cookie, or another user's, is not believed
    client.cookies[two_factor.REMEMBER_COOKIE] = cookie.value[:-2] + "xx"
    assert password_step(client, owner_a).url == "/login/two-factor/"


def test_a_remembered_device_is_forgotten_when_the_authenticator_changes(
    client, owner_a, persona_factory, tenant
):
    other_owner = persona_factory("owner")  # only an owner resets an owner's sign-in
    device, _codes = enrol(client, owner_a, tenant)
    password_step(client, owner_a)
    done = client.post("/login/two-factor/", {"code": code(device, 1), "remember": "on"})
    remembered = done.cookies[two_factor.REMEMBER_COOKIE].value
    client.logout()

    client.force_login(other_owner.user)
    assert client.post(f"/members/{owner_a.membership.id}/two-factor/reset/").status_code == 302
    client.logout()
    device, _codes = enrol(client, owner_a, tenant)
    client.cookies[two_factor.REMEMBER_COOKIE] = remembered
    assert password_step(client, owner_a).url == "/login/two-factor/"


def test_turning_it_off_needs_the_password_and_a_code(client, owner_a, tenant, clock):
    device, _codes = enrol(client, owner_a, tenant)
    password_step(client, owner_a)
    client.post("/login/two-factor/", {"code": code(device, 1)})

    no_password = client.post(
        "/account/two-factor/disable/", {"off-password": "wrong-password-1", "off-code": "1"}
    )
    assert no_password.status_code == 422
    assert device_of(owner_a, tenant)
    no_code = client.post(
        "/account/two-factor/disable/", {"off-password": PASSWORD, "off-code": "999999"}
    )
    assert no_code.status_code == 422
    assert device_of(owner_a, tenant)
    steps = [e.details["step"] for e in events(tenant, owner_a.org, "auth.two_factor_failed")]
    assert steps == ["disable: password", "sign-in"]

    clock.travel(clock.now() + timedelta(seconds=90))  # the next code the app shows
    off = client.post(
        "/account/two-factor/disable/", {"off-password": PASSWORD, "off-code": code(device)}
    )
    assert off.status_code == 302
    with tenant(owner_a.org, owner_a.user):
        assert not TOTPDevice.objects.exists() and not StaticToken.objects.exists()
    assert events(tenant, owner_a.org, "auth.two_factor_disabled")
    client.logout()
    assert password_step(client, owner_a).url == "/"


def test_an_admin_resets_a_members_two_factor(client, owner_a, persona_factory, tenant):
    member = persona_factory("practitioner")
    enrol(client, member, tenant)
    client.force_login(owner_a.user)
    members = client.get("/members/")
    assert members.status_code == 200
    assert f"/members/{member.membership.id}/two-factor/reset/" in members.text

    done = client.post(f"/members/{member.membership.id}/two-factor/reset/")
    assert done.status_code == 302
    with tenant(member.org, member.user):
        assert not TOTPDevice.objects.exists() and not StaticToken.objects.exists()
    (reset,) = events(tenant, owner_a.org, "auth.two_factor_reset")
    assert reset.actor_id == owner_a.user.id and reset.object_id == str(member.user.id)
    client.logout()
    assert password_step(client, member).url == "/"


def test_a_reset_is_refused_to_others(client, owner_a, owner_b, persona_factory, tenant):
    member = persona_factory("practitioner")
    colleague = persona_factory("assistant")
    enrol(client, member, tenant)
    # another clinic's owner: not found
    client.force_login(owner_b.user)
    assert client.post(f"/members/{member.membership.id}/two-factor/reset/").status_code == 404
    # a colleague without the right
    client.force_login(colleague.user)
    assert client.post(f"/members/{member.membership.id}/two-factor/reset/").status_code == 403
    device_of(member, tenant)  # still there
    # and the database refuses the function to anyone but an owner/admin of the member's clinic
    for persona in (colleague, owner_b):
        with pytest.raises((ProgrammingError, psycopg.errors.InsufficientPrivilege)):
            with tenant(persona.org, persona.user), connection.cursor() as cur:
                cur.execute("SELECT app_two_factor_reset(%s)", [member.user.id])
    device_of(member, tenant)


def test_an_admin_cannot_reset_an_owners_two_factor_sign_in(
    client, owner_a, persona_factory, tenant
):
    from clinic.accounts.models import Membership
    from clinic.core.errors import PermissionDenied

    admin = persona_factory("admin")
    enrol(client, owner_a, tenant)
    with tenant(owner_a.org, admin.user):
        actor = Membership.objects.select_related("organization", "user").get(
            id=admin.membership.id
        )
        target = Membership.objects.get(id=owner_a.membership.id)
        with pytest.raises(PermissionDenied) as refused:
            two_factor.reset(actor=actor, target=target)
    assert refused.value.code == "role_not_grantable"
    assert device_of(owner_a, tenant)  # still there
