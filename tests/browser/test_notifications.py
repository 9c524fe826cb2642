from __future__ import annotations

import re

from playwright.sync_api import expect

from tests.browser.conftest import login


def _notify(persona, n):
    from clinic.core.tenancy import tenant_context
    from clinic.notifications.services import notification_create

    with tenant_context(persona.org.id):
        for i in range(n):
            notification_create(
                user_id=persona.user.id,
                event="staff.delivery_failed",
                context={
                    "recipient_name": f"Patient {i}",
                    "to_address": f"p{i}@example.org",
                    "error": "550 No such user",
                    "channel_label": "Email",
                    "message_subject": "Reminder",
                },
                language="en",
                category="delivery_failures",
                link="/notifications/",
            )


def test_bell_counts_and_notifications_are_marked_read(browser_page, committed_persona):
    owner = committed_persona("owner")
    _notify(owner, 3)
    page = browser_page
    login(page, owner)
    bell = page.locator("#notification-bell")
    expect(bell.locator(".badge")).to_have_text("3")
    expect(bell).to_have_attribute("aria-label", "Notifications: 3 unread")
    bell.click()
    page.wait_for_url(re.compile(r"/notifications/$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Notifications")
    items = page.locator("li.notification.unread")
    expect(items).to_have_count(3)
    first = items.first
    expect(first).to_contain_text("Message not delivered to Patient 2")
    first.get_by_role("button", name=re.compile("^Mark as read")).click()
    expect(items).to_have_count(2)
    expect(page.locator("#notification-bell .badge")).to_have_text("2")  # htmx refresh
    page.get_by_role("button", name="Mark all as read").click()
    expect(page.locator("li.notification.unread")).to_have_count(0)
    expect(page.locator("#notification-bell .badge")).to_have_count(0)


def test_arabic_notification_centre_is_right_to_left(browser_page, committed_persona):
    owner = committed_persona("owner")
    page = browser_page
    login(page, owner)
    page.select_option("#language-select", "ar")
    expect(page.locator("html")).to_have_attribute("dir", "rtl")
    page.goto("/notifications/")
    expect(page.locator("html")).to_have_attribute("dir", "rtl")
    expect(page.locator("#notification-bell")).to_be_visible()
