"""Staff administration in a real browser (issue 11, section 6): an owner invites someone from
the members page, the invitation arrives at a real SMTP server on loopback, the invitee opens
the link from that email, sets a name and password and is signed in as the new member."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from tests.browser.conftest import login
from tests.notifications.conftest import smtp  # noqa: F401 - a real SMTP server on loopback

HOME = re.compile(r"^https?://[^/]+/$")


def test_invite_open_the_emailed_link_set_a_password_and_sign_in(
    browser_page,
    committed_persona,
    live_server_url,
    smtp,  # noqa: F811 - the fixture imported above
    chromium,
):
    owner = committed_persona("owner")
    page = browser_page
    login(page, owner)
    page.goto("/members/")
    expect(page.get_by_text("No pending invitations")).to_be_visible()
    page.get_by_label("Email").fill("new.colleague@example.org")
    page.get_by_label("Role", exact=True).select_option("assistant")
    page.get_by_role("button", name="Send invitation").click()
    expect(page.get_by_text("Invitation sent to new.colleague@example.org.")).to_be_visible()
    expect(page.get_by_role("cell", name="new.colleague@example.org", exact=True)).to_be_visible()

    assert smtp.count() == 1
    (message,) = smtp.parsed()
    assert message["To"] == "new.colleague@example.org"
    path = re.search(r"https?://\S+?(/invitations/accept/\S+/)", message.get_content()).group(1)

    invitee = chromium.new_context(base_url=live_server_url, locale="en-GB")
    try:
        tab = invitee.new_page()
        tab.set_default_timeout(10_000)
        tab.goto(path)
        expect(tab.get_by_role("heading", level=1)).to_have_text("Accept the invitation")
        expect(tab.get_by_text(f"You are invited to join {owner.org.name}")).to_be_visible()
        tab.get_by_label("Your name").fill("Nadia Colleague")
        tab.get_by_label("Choose a password").fill("short")
        tab.get_by_role("button", name="Join").click()
        expect(tab.locator("#id_password_error")).to_contain_text("too short")
        tab.get_by_label("Choose a password").fill("sunlit-orchard-ledger-58")
        tab.get_by_role("button", name="Join").click()
        tab.wait_for_url(HOME)
        expect(tab.get_by_text("new.colleague@example.org").first).to_be_visible()
        # the link was single use
        tab.goto(path)
        expect(tab.get_by_text("This invitation was already used")).to_be_visible()
    finally:
        invitee.close()

    page.goto("/members/")
    expect(page.get_by_text("No pending invitations")).to_be_visible()
    expect(page.get_by_role("cell", name="Nadia Colleague", exact=True)).to_be_visible()
