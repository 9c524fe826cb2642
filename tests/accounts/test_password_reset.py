"""Password reset by email (issue 11, section 6): Django's views and tokens with our templates;
the same answer whatever the email (no user enumeration), throttled, audited, single use, and
every session of the user ends. The existing password change stays audited."""

from __future__ import annotations

import re

import pytest
from django.core.cache import cache
from django.test import Client

from clinic.audit.models import AuditEvent
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "amber-meadow-compass-73"


@pytest.fixture(autouse=True)
def fresh_throttle():
    cache.clear()
    yield
    cache.clear()


def _link(mail) -> str:
    return re.search(r"https?://[^/\s]+(/account/password/reset/\S+/)", mail.body).group(1)


def test_reset_end_to_end(owner_a, tenant, mailoutbox):
    other = Client()
    other.force_login(owner_a.user)
    assert other.get("/").status_code == 200

    browser = Client()
    asked = browser.post("/account/password/reset/", {"email": owner_a.user.email.upper()})
    assert asked.status_code == 302 and asked["Location"] == "/account/password/reset/sent/"
    (mail,) = mailoutbox
    assert mail.to == [owner_a.user.email]
    link = _link(mail)
    form = browser.get(link, follow=True)
    assert form.status_code == 200 and "Choose a new password" in form.text
    set_url = form.redirect_chain[-1][0]
    weak = browser.post(set_url, {"new_password1": "short", "new_password2": "short"})
    assert weak.status_code == 200 and "12 characters" in weak.text
    done = browser.post(set_url, {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD})
    assert done.status_code == 302 and done["Location"] == "/account/password/reset/complete/"

    # the new password signs in, the old does not, the other session has ended
    assert other.get("/").status_code == 302
    login = {"email": owner_a.user.email, "organization": owner_a.org.slug}
    assert Client().post("/login/", {**login, "password": PASSWORD}).status_code == 401
    assert Client().post("/login/", {**login, "password": NEW_PASSWORD}).status_code == 302
    # the link was good once
    again = Client().get(link, follow=True)
    assert "no longer valid" in again.text
    with tenant(owner_a.org):
        actions = list(AuditEvent.objects.values_list("action", flat=True))
    assert "auth.password_reset_requested" in actions and "auth.password_reset" in actions


def test_same_answer_for_unknown_and_known_emails(owner_a, mailoutbox):
    known = Client().post("/account/password/reset/", {"email": owner_a.user.email})
    unknown = Client().post("/account/password/reset/", {"email": "nobody@example.org"})
    assert known.status_code == unknown.status_code == 302
    assert known["Location"] == unknown["Location"]
    assert len(mailoutbox) == 1


def test_reset_requests_are_throttled(owner_a, mailoutbox):
    browser = Client()
    codes = [
        browser.post("/account/password/reset/", {"email": owner_a.user.email}).status_code
        for _ in range(4)
    ]
    assert codes == [302] * 4
    assert len(mailoutbox) == 3  # a fourth message to one email in an hour is quietly not sent
    for i in range(6):
        browser.post("/account/password/reset/", {"email": f"x{i}@example.org"})
    refused = browser.post("/account/password/reset/", {"email": "y@example.org"})
    assert refused.status_code == 429 and refused["Retry-After"]


def test_password_change_is_audited(owner_a, tenant):
    browser = Client()
    browser.force_login(owner_a.user)
    changed = browser.post(
        "/account/password/", {"current_password": PASSWORD, "new_password": NEW_PASSWORD}
    )
    assert changed.status_code == 302
    with tenant(owner_a.org):
        assert AuditEvent.objects.filter(action="auth.password_change").exists()


def test_login_page_links_to_the_reset(db):
    assert 'href="/account/password/reset/"' in Client().get("/login/").text


def test_the_link_is_built_from_site_url_never_the_host_header(owner_a, mailoutbox, settings):
    settings.SITE_URL = "https://clinic.example.org"
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "evil.example"]
    Client().post(
        "/account/password/reset/", {"email": owner_a.user.email}, HTTP_HOST="evil.example"
    )
    (mail,) = mailoutbox
    assert "https://clinic.example.org/account/password/reset/" in mail.body
    assert "evil.example" not in mail.body
