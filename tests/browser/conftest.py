"""Browser tests: the real app served on loopback, driven through Debian's Chromium with
Playwright for Python. Screenshots of failing tests go to test-artifacts/."""

from __future__ import annotations

import os
import re
import shutil
import threading
from pathlib import Path
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import pytest

from tests.conftest import PASSWORD

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"

# Playwright's sync API runs an event loop in this thread; the ORM calls the tests make for
# set-up are still synchronous and safe.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/browser/" in str(item.fspath):
            item.add_marker(pytest.mark.browser)


@pytest.hookimpl(tryfirst=True, hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="session")
def live_server_url(django_db_setup, django_db_blocker):
    """The whole app (middleware, static files) on a free loopback port, in this process,
    against the test database. Data the tests create must be committed (`live_db`)."""
    from django.conf import settings
    from django.core.wsgi import get_wsgi_application

    settings.SESSION_COOKIE_SECURE = False
    settings.CSRF_COOKIE_SECURE = False
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "127.0.0.1", "localhost", "testserver"]
    app = get_wsgi_application()

    def application(environ, start_response):
        from django.db import connections

        try:
            return app(environ, start_response)
        finally:
            connections.close_all()

    server = make_server(
        "127.0.0.1", 0, application, server_class=_ThreadingServer, handler_class=_QuietHandler
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    with django_db_blocker.unblock():
        thread.start()
        yield f"http://127.0.0.1:{server.server_port}"
        server.shutdown()


@pytest.fixture(scope="session")
def chromium():
    if not Path(CHROMIUM).exists() and not shutil.which("chromium"):
        pytest.fail(f"Chromium not found at {CHROMIUM}: install Debian's chromium (see .ci/run)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        yield browser
        browser.close()


@pytest.fixture
def browser_page(chromium, live_server_url, live_db, request, clock):
    context = chromium.new_context(base_url=live_server_url, locale="en-GB")
    _browser_clock_follow(context, clock)
    page = context.new_page()
    page.set_default_timeout(10_000)
    yield page
    failed = getattr(request.node, "rep_call", None)
    if failed is not None and failed.failed:
        ARTIFACTS.mkdir(exist_ok=True)
        name = re.sub(r"[^\w.-]+", "_", request.node.nodeid)[-150:]
        page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
    context.close()


def _browser_clock_follow(context, clock) -> None:
    """The page's clock follows the test's: at a travelled instant when the run or the test
    travels (--clock, clock.travel), the real one otherwise."""
    from datetime import UTC, datetime

    from time_machine import escape_hatch

    installed = False

    def follow(instant):
        nonlocal installed
        if installed:
            context.clock.set_system_time(instant)
        else:
            context.clock.install(time=instant)
            installed = True

    if escape_hatch.is_travelling():
        follow(datetime.now(UTC))
    clock.follow(follow)


def login(page, persona, password: str = PASSWORD) -> None:
    """Log in through the real login form."""
    page.goto("/login/")
    page.get_by_label("Email").fill(persona.user.email)
    page.get_by_label("Password").fill(password)
    page.get_by_label("Organization").fill(persona.org.slug)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(re.compile(r"/$"))


@pytest.fixture
def committed_persona(live_db):
    """A persona in a fresh organization, committed so the live server sees it."""
    from tests.conftest import org_create, persona_create, unique_slug

    def make(role: str = "owner", org=None):
        return persona_create(org or org_create(unique_slug("web")), role)

    return make


PHONE = {"width": 390, "height": 844}
AXE = Path(__file__).resolve().parents[2] / "node_modules" / "axe-core" / "axe.min.js"


@pytest.fixture
def phone_page(chromium, live_server_url, live_db, request, clock):
    """A page the size of a phone (390 × 844, touch), otherwise like `browser_page`."""
    context = chromium.new_context(
        base_url=live_server_url, locale="en-GB", viewport=PHONE, has_touch=True, is_mobile=True
    )
    _browser_clock_follow(context, clock)
    page = context.new_page()
    page.set_default_timeout(10_000)
    yield page
    failed = getattr(request.node, "rep_call", None)
    if failed is not None and failed.failed:
        ARTIFACTS.mkdir(exist_ok=True)
        name = re.sub(r"[^\w.-]+", "_", request.node.nodeid)[-150:]
        page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
    context.close()


def menu_open(page) -> None:
    """Open the collapsed main menu when the page is narrow enough to have one."""
    toggler = page.locator(".navbar-toggler")
    if toggler.is_visible() and toggler.get_attribute("aria-expanded") != "true":
        toggler.click()
        page.locator("#topbar-menu.show").wait_for()


def user_menu_open(page) -> None:
    """Open the signed-in person's menu (password, two-factor, sessions, log out)."""
    menu_open(page)
    page.locator(".who .dropdown-toggle").click()
    page.locator(".who .dropdown-menu.show").wait_for()


def log_out(page) -> None:
    user_menu_open(page)
    page.locator(".who").get_by_role("button").last.click()
    page.wait_for_url(re.compile(r"/login/"))


def axe_violations(page, impacts=("critical", "serious")) -> list[dict]:
    """axe-core (npm) run in the page: the violations of the given impacts, each with its rule
    and the first offending elements. The script is evaluated through the DevTools protocol,
    so the page's Content-Security-Policy (no inline script) does not stop it."""
    page.evaluate(AXE.read_text())
    result = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
    return [
        {
            "rule": v["id"],
            "impact": v["impact"],
            "help": v["help"],
            "nodes": [n["target"] for n in v["nodes"][:3]],
        }
        for v in result["violations"]
        if v["impact"] in impacts
    ]
