"""Two-factor sign-in in a real browser: set-up from the page (the key shown as text, the code
computed from it as an authenticator app would), the second step of signing in, a remembered
device, and the organization's requirement, in English and Arabic."""

from __future__ import annotations

import re
import time
from base64 import b32decode

from django_otp.oath import TOTP
from playwright.sync_api import expect

from tests.browser.conftest import log_out, user_menu_open
from tests.conftest import PASSWORD

HOME = re.compile(r"^https?://[^/]+/$")


def app_code(secret_b32: str, steps_ahead: int = 0) -> str:
    """What an authenticator app shows for this key (`steps_ahead` periods later: each code is
    accepted once, and the next one is already accepted)."""
    padded = secret_b32 + "=" * (-len(secret_b32) % 8)
    totp = TOTP(b32decode(padded))
    totp.time = time.time() + steps_ahead * 30
    return f"{totp.token():06d}"


def password_step(page, persona) -> None:
    page.goto("/login/")
    page.get_by_label("Email").fill(persona.user.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_label("Organization").fill(persona.org.slug)
    page.get_by_role("button", name="Log in").click()


def set_up(page) -> tuple[str, list[str]]:
    """On the set-up page: read the key, enter a code; returns the key and recovery codes."""
    expect(page.get_by_role("heading", level=1)).to_have_text("Set up two-factor sign-in")
    expect(page.get_by_role("img", name="QR code for your authenticator app")).to_be_visible()
    secret = page.locator("#tf-secret").get_attribute("data-secret")
    assert re.fullmatch(r"[A-Z2-7]{32}", secret)
    page.get_by_label("Code from the app").fill(app_code(secret))
    page.get_by_role("button", name="Turn on").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Recovery codes")
    codes = page.get_by_role("list", name="Recovery codes").locator("li").all_inner_texts()
    assert len(codes) == 10
    return secret, codes


def test_set_up_then_sign_in_with_a_code_and_remember_the_device(browser_page, committed_persona):
    owner = committed_persona("owner")
    page = browser_page
    password_step(page, owner)
    page.wait_for_url(HOME)
    user_menu_open(page)
    page.locator(".who").get_by_role("link", name="Two-factor sign-in").click()
    secret, codes = set_up(page)
    page.get_by_role("link", name="I have saved them").click()
    page.wait_for_url(HOME)
    log_out(page)

    # the password is no longer enough
    password_step(page, owner)
    page.wait_for_url(re.compile(r"/login/two-factor/$"))
    page.get_by_label("Code").fill("000000")
    page.get_by_role("button", name="Verify").click()
    expect(page.get_by_text("That code is not right.")).to_be_visible()
    page.wait_for_timeout(1100)  # django-otp's delay after a wrong code: 1 s, then 2, 4 …
    page.get_by_label("Code").fill(app_code(secret, 1))
    page.get_by_label("Remember this device for 30 days").check()
    page.get_by_role("button", name="Verify").click()
    page.wait_for_url(HOME)
    expect(page.get_by_role("heading", level=1)).to_have_text("Today")
    log_out(page)

    # this browser is remembered: straight in after the password
    password_step(page, owner)
    page.wait_for_url(HOME)
    log_out(page)

    # another browser is not; a recovery code lets it in once
    page.context.clear_cookies(name="clinic_2fa")
    password_step(page, owner)
    page.wait_for_url(re.compile(r"/login/two-factor/$"))
    page.get_by_label("Code").fill(codes[0])
    page.get_by_role("button", name="Verify").click()
    page.wait_for_url(HOME)
    user_menu_open(page)
    page.locator(".who").get_by_role("link", name="Two-factor sign-in").click()
    expect(page.get_by_text("9 recovery codes left.")).to_be_visible()


def test_the_organization_requires_it_and_the_pages_are_in_arabic(browser_page, committed_persona):
    owner = committed_persona("owner")
    assistant = committed_persona("assistant", org=owner.org)
    page = browser_page
    password_step(page, owner)
    page.wait_for_url(HOME)
    nav = page.get_by_role("navigation", name="Main")
    nav.get_by_role("button", name="Administration").click()
    nav.get_by_role("link", name="Members").click()
    page.get_by_label("Two-factor sign-in required for").select_option("everyone")
    page.get_by_role("button", name="Save requirement").click()
    expect(page.get_by_text("The two-factor requirement was saved.")).to_be_visible()
    log_out(page)

    # the assistant is sent to set it up, whatever page they ask for
    password_step(page, assistant)
    page.wait_for_url(re.compile(r"/account/two-factor/$"))
    page.goto("/patients/")
    page.wait_for_url(re.compile(r"/account/two-factor/$"))
    expect(page.get_by_text("Your organization requires two-factor sign-in.")).to_be_visible()

    page.select_option("#language-select", "ar")
    expect(page.locator("html")).to_have_attribute("dir", "rtl")
    # one set-up form: the bell's poll used to swap a second copy of this page into the header
    # (a 302 that htmx followed; now HX-Redirect, or 204 when already here: clinic.core.http)
    page.goto("/account/two-factor/")
    expect(page.locator("form button.btn-primary")).to_have_count(1)
    expect(page.get_by_role("heading", level=1)).to_have_text("إعداد تسجيل الدخول بعاملين")
    secret = page.locator("#tf-secret").get_attribute("data-secret")
    page.get_by_label("الرمز من التطبيق").fill(app_code(secret))
    page.get_by_role("button", name="تفعيل").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("رموز الاسترداد")
    page.goto("/patients/")
    page.wait_for_url(re.compile(r"/patients/$"))
