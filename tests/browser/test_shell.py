from __future__ import annotations

import re

from playwright.sync_api import expect

from tests.browser.conftest import login, user_menu_open


def test_login_switch_to_arabic_and_log_out(browser_page, committed_persona):
    owner = committed_persona("owner")
    page = browser_page
    login(page, owner)
    expect(page.get_by_role("heading", level=1)).to_have_text("Today")
    expect(page.locator("html")).to_have_attribute("dir", "ltr")

    page.select_option("#language-select", "ar")
    page.wait_for_load_state()
    expect(page.locator("html")).to_have_attribute("dir", "rtl")
    expect(page.locator("html")).to_have_attribute("lang", "ar")
    expect(page.get_by_role("heading", level=1)).to_have_text("اليوم")
    # the navigation starts on the right in a right-to-left page
    nav = page.locator(".brand").bounding_box()
    assert nav["x"] > page.viewport_size["width"] / 2

    user_menu_open(page)
    page.get_by_role("button", name="تسجيل الخروج").click()
    page.wait_for_url(re.compile(r"/login/"))
    expect(page.get_by_role("heading", level=1)).to_be_visible()


def test_practitioner_does_not_see_admin_navigation(browser_page, committed_persona):
    owner = committed_persona("owner")
    practitioner = committed_persona("practitioner", org=owner.org)
    page = browser_page
    login(page, practitioner)
    nav = page.get_by_role("navigation", name="Main")
    expect(nav.get_by_role("link", name="Today")).to_be_visible()
    expect(nav.get_by_role("link", name="Audit log")).to_have_count(0)
    expect(nav.get_by_role("link", name="Members")).to_have_count(0)
    page.goto("/audit/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Not allowed")


def test_owner_sees_admin_navigation_and_uses_the_keyboard(browser_page, committed_persona):
    owner = committed_persona("owner")
    page = browser_page
    login(page, owner)
    page.keyboard.press("Tab")  # the skip link comes first
    expect(page.locator(".skip-link")).to_be_focused()
    nav = page.get_by_role("navigation", name="Main")
    # the Administration menu opens from the keyboard and its entries are reached by arrows
    nav.get_by_role("button", name="Administration").focus()
    page.keyboard.press("Enter")
    expect(nav.get_by_role("link", name="Audit log")).to_be_visible()
    for _ in range(3):  # Messages, Members, Audit log
        page.keyboard.press("ArrowDown")
    expect(nav.get_by_role("link", name="Audit log")).to_be_focused()
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/audit/$"))
    expect(page.locator("#audit-entries")).to_contain_text("signed in")


def test_wrong_password_shows_the_error_next_to_the_field(browser_page, committed_persona):
    owner = committed_persona("owner")
    page = browser_page
    login_page = page.goto("/login/")
    assert login_page.status == 200
    page.get_by_label("Email").fill(owner.user.email)
    page.get_by_label("Password").fill("not-the-password")
    page.get_by_role("button", name="Log in").click()
    expect(page.locator("#id_password_error")).to_have_text(
        "Invalid email, password or organization."
    )
