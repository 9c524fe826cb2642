"""Login throttling (issue 18, defects 2 and 7): the pair account + address is locked tightly,
the account and the address loosely, and X-Forwarded-For is believed only from a trusted proxy."""

from __future__ import annotations

from datetime import timedelta

import pytest
from axes.models import AccessFailureLog
from django.test import RequestFactory
from django.utils import timezone

from clinic.audit.models import AuditEvent
from clinic.core.middleware import client_ip
from tests.conftest import PASSWORD

WRONG = "nope-nope-nope"


def _login(api, persona, password=PASSWORD, org=None, ip="127.0.0.1", **headers):
    return api.post(
        "auth/token",
        json={
            "email": persona.user.email,
            "password": password,
            "organization": org or persona.org.slug,
        },
        headers={"REMOTE_ADDR": ip, **headers},
    )


def test_one_person_behind_a_shared_address_does_not_lock_the_others(api, owner_a, persona_factory):
    """Five wrong passwords for one account lock that account from that address only: the
    clinic's other staff behind the same NAT still sign in."""
    colleague = persona_factory("assistant")
    for _ in range(4):
        assert _login(api, colleague, WRONG, ip="192.0.2.10").status_code == 401
    assert _login(api, colleague, WRONG, ip="192.0.2.10").status_code == 429
    assert _login(api, owner_a, ip="192.0.2.10").status_code == 201
    # the locked pair waits the cool-off, and says how long
    locked = _login(api, colleague, ip="192.0.2.10")
    assert locked.status_code == 429
    assert 60 < int(locked["Retry-After"]) <= 15 * 60
    # the same person from another address is not locked
    assert _login(api, colleague, ip="198.51.100.7").status_code == 201


def test_failures_for_an_account_from_many_addresses_delay_it_without_locking_it(
    api, owner_a, settings
):
    """After LOGIN_ACCOUNT_DELAY_AFTER failures (each address below the pair limit) an attempt
    waits a growing delay after the previous failure: a 429 with a short Retry-After, never the
    15-minute lock; once it has passed, the owner at yet another address gets in."""
    settings.LOGIN_ACCOUNT_DELAY_AFTER = 6
    for i in range(6):
        assert _login(api, owner_a, WRONG, ip=f"203.0.113.{i + 1}").status_code == 401
    delayed = _login(api, owner_a, ip="198.51.100.99")
    assert delayed.status_code == 429
    assert delayed.json()["error"]["code"] == "too_many_attempts"
    assert 1 <= int(delayed["Retry-After"]) <= settings.LOGIN_ACCOUNT_DELAY_MAX_SECONDS
    # the wait elapses (the failures are moved back in time rather than sleeping)
    AccessFailureLog.objects.filter(username=owner_a.user.email).update(
        attempt_time=timezone.now() - timedelta(seconds=2)
    )
    assert _login(api, owner_a, ip="198.51.100.99").status_code == 201


def test_the_delay_grows_and_is_capped(api, owner_a, settings):
    settings.LOGIN_ACCOUNT_DELAY_AFTER = 2
    settings.LOGIN_ACCOUNT_DELAY_MAX_SECONDS = 30
    now = timezone.now()
    waits = []
    for failures in (2, 4, 6, 40):
        AccessFailureLog.objects.filter(username=owner_a.user.email).delete()
        AccessFailureLog.objects.bulk_create(
            AccessFailureLog(
                username=owner_a.user.email,
                ip_address=f"203.0.113.{i % 250 + 1}",
                user_agent="",
                http_accept="",
                path_info="/api/v1/auth/token",
                locked_out=False,
            )
            for i in range(failures - 1)
        )
        # attempt_time is auto_now_add: moved back afterwards
        AccessFailureLog.objects.filter(username=owner_a.user.email).update(
            attempt_time=now - timedelta(minutes=50)
        )
        AccessFailureLog.objects.create(
            username=owner_a.user.email,
            ip_address="203.0.113.251",
            user_agent="",
            http_accept="",
            path_info="/api/v1/auth/token",
            locked_out=False,
        )
        response = _login(api, owner_a, ip="198.51.100.1")
        assert response.status_code == 429
        waits.append(int(response["Retry-After"]))
    assert waits[0] <= waits[1] <= waits[2] <= waits[3] == 30
    assert waits[0] < waits[2]


def test_at_most_100_failures_an_hour_per_account(api, owner_a):
    """ASVS 2.2.1: with 100 failures in the last hour (however spread out) the account takes no
    more attempts until the oldest leaves the window."""
    start = timezone.now() - timedelta(minutes=59)
    AccessFailureLog.objects.bulk_create(
        AccessFailureLog(
            username=owner_a.user.email,
            ip_address=f"203.0.{i // 200}.{i % 200 + 1}",
            user_agent="",
            http_accept="",
            path_info="/api/v1/auth/token",
            locked_out=False,
        )
        for i in range(100)
    )
    # attempt_time is auto_now_add: moved back afterwards
    AccessFailureLog.objects.filter(username=owner_a.user.email).update(attempt_time=start)
    refused = _login(api, owner_a, ip="198.51.100.2")
    assert refused.status_code == 429
    assert int(refused["Retry-After"]) <= 61


def test_an_address_has_a_loose_hourly_limit_over_all_accounts(api, persona_factory, settings):
    settings.LOGIN_IP_FAILURES_PER_HOUR = 6
    people = [persona_factory("assistant") for _ in range(7)]
    for person in people[:6]:
        assert _login(api, person, WRONG, ip="192.0.2.50").status_code == 401
    refused = _login(api, people[6], ip="192.0.2.50")
    assert refused.status_code == 429 and int(refused["Retry-After"]) > 0
    assert _login(api, people[6], ip="192.0.2.51").status_code == 201


def test_x_forwarded_for_is_ignored_without_a_trusted_proxy(api, owner_a, settings):
    settings.TRUSTED_PROXIES = []
    for i in range(5):
        _login(api, owner_a, WRONG, ip="192.0.2.60", HTTP_X_FORWARDED_FOR=f"203.0.113.{i}")
    # rotating the header does not escape the pair lock of the real address
    assert (
        _login(api, owner_a, ip="192.0.2.60", HTTP_X_FORWARDED_FOR="203.0.113.99").status_code
        == 429
    )


def test_x_forwarded_for_of_a_trusted_proxy_names_the_client(api, owner_a, settings):
    settings.TRUSTED_PROXIES = ["10.0.0.0/8"]
    for _ in range(5):
        _login(api, owner_a, WRONG, ip="10.0.0.2", HTTP_X_FORWARDED_FOR="203.0.113.7")
    assert _login(api, owner_a, ip="10.0.0.2", HTTP_X_FORWARDED_FOR="203.0.113.7").status_code == (
        429
    )
    # another client behind the same proxy is not the locked pair
    assert _login(api, owner_a, ip="10.0.0.2", HTTP_X_FORWARDED_FOR="203.0.113.8").status_code == (
        201
    )


@pytest.mark.parametrize(
    ("trusted", "remote", "forwarded", "expected"),
    [
        ([], "192.0.2.1", "203.0.113.5", "192.0.2.1"),
        (["10.0.0.1"], "192.0.2.1", "203.0.113.5", "192.0.2.1"),
        (["10.0.0.1"], "10.0.0.1", "203.0.113.5", "203.0.113.5"),
        # the client wrote the left-most entry itself: the proxy's own entry counts
        (["10.0.0.1"], "10.0.0.1", "1.2.3.4, 203.0.113.5", "203.0.113.5"),
        (["10.0.0.0/8"], "10.0.0.1", "203.0.113.5, 10.0.0.9", "203.0.113.5"),
        (["10.0.0.1"], "10.0.0.1", "", "10.0.0.1"),
        (["10.0.0.1"], "10.0.0.1", "garbage", "10.0.0.1"),
        (["::1"], "::1", "[2001:db8::5]:443", "2001:db8::5"),
    ],
)
def test_client_ip(settings, trusted, remote, forwarded, expected):
    settings.TRUSTED_PROXIES = trusted
    request = RequestFactory().get("/", REMOTE_ADDR=remote, HTTP_X_FORWARDED_FOR=forwarded)
    assert client_ip(request) == expected


def test_the_login_page_locks_the_pair_not_the_address(client, owner_a, persona_factory):
    colleague = persona_factory("assistant")
    ip = {"REMOTE_ADDR": "192.0.2.70"}
    for _ in range(4):
        response = client.post("/login/", {"email": colleague.user.email, "password": WRONG}, **ip)
        assert response.status_code == 401
    locked = client.post("/login/", {"email": colleague.user.email, "password": WRONG}, **ip)
    assert locked.status_code == 429
    assert locked["Content-Type"].startswith("text/html") and int(locked["Retry-After"]) > 0
    assert b"Try again in" in locked.content
    ok = client.post("/login/", {"email": owner_a.user.email, "password": PASSWORD}, **ip)
    assert ok.status_code == 302


# --- defect 7 -----------------------------------------------------------------------------------


def test_attempts_with_an_unknown_organization_are_throttled(api, owner_a, tenant):
    for _ in range(4):
        assert _login(api, owner_a, org="no-such-clinic", ip="192.0.2.80").status_code == 401
    assert _login(api, owner_a, org="no-such-clinic", ip="192.0.2.80").status_code == 429
    assert _login(api, owner_a, org="no-such-clinic", ip="192.0.2.80").status_code == 429
    # refused attempts are not recorded (nor audited): the failures stay at the limit
    assert AccessFailureLog.objects.filter(username=owner_a.user.email).count() == 5
    # an unknown organization belongs to no clinic: no clinic's log shows it
    with tenant(owner_a.org):
        assert not AuditEvent.objects.filter(details__organization="no-such-clinic").exists()


def test_the_right_password_for_another_clinic_leaks_nothing_into_its_log(
    api, owner_a, owner_b, tenant
):
    assert _login(api, owner_a, org=owner_b.org.slug).status_code == 401
    with tenant(owner_b.org):
        (failed,) = AuditEvent.objects.filter(action="auth.login_failed")
    assert failed.actor_id is None
    assert owner_a.user.email not in str(failed.details)
    assert str(owner_a.user.id) not in str(failed.details)
    assert failed.details["organization"] == owner_b.org.slug
    # a wrong password for the other clinic is recorded in the very same shape
    assert _login(api, owner_a, WRONG, org=owner_b.org.slug).status_code == 401
    with tenant(owner_b.org):
        first, second = AuditEvent.objects.filter(action="auth.login_failed").order_by(
            "occurred_at"
        )
    assert (first.actor_id, first.details) == (second.actor_id, second.details)


def test_the_right_password_for_another_clinic_counts_as_a_failure(api, owner_a, owner_b):
    for _ in range(4):
        assert _login(api, owner_a, org=owner_b.org.slug, ip="192.0.2.90").status_code == 401
    assert _login(api, owner_a, org=owner_b.org.slug, ip="192.0.2.90").status_code == 429


def test_a_members_failed_login_names_them_in_their_clinic_log(api, owner_a, tenant):
    assert _login(api, owner_a, WRONG).status_code == 401
    with tenant(owner_a.org):
        (failed,) = AuditEvent.objects.filter(action="auth.login_failed")
    assert failed.actor_id == owner_a.user.id
    assert failed.details["email"] == owner_a.user.email
