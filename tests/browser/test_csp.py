"""The Content-Security-Policy in a real browser: the main pages and the API docs load in
Chromium without one violation report (securitypolicyviolation events and the console's
"Refused to ..." messages), and what runs on them still works under it: the calendar, an htmx
drawer (the care planner), the select that submits itself, Swagger UI."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from tests.browser.conftest import login
from tests.browser.test_care_planner import _clinic

LISTEN = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__cspViolations.push(
    `${e.violatedDirective} blocked ${e.blockedURI || "inline"} at ${e.sourceFile}:${e.lineNumber}`
  );
});
"""


def _watch(page) -> list[str]:
    """Violations and script errors seen by the page, across navigations."""
    problems: list[str] = []
    page.add_init_script(LISTEN)
    page.on(
        "console",
        lambda m: (
            problems.append(f"console: {m.text}")
            if "Content Security Policy" in m.text or "Refused to" in m.text
            else None
        ),
    )
    page.on("pageerror", lambda exc: problems.append(f"pageerror: {exc}"))
    return problems


def _violations(page) -> list[str]:
    return page.evaluate("window.__cspViolations || []")


def _visit(page, path: str, problems: list[str]) -> None:
    page.goto(path)
    page.wait_for_load_state("networkidle")
    seen = _violations(page)
    assert not seen, f"{path}: {seen}"
    assert not problems, f"{path}: {problems}"


def test_the_listener_sees_a_violation(browser_page, committed_persona):
    """The check below is not vacuous: an inline script added to a page is refused and seen."""
    page = browser_page
    problems = _watch(page)
    page.goto("/login/")
    page.evaluate(
        "() => { const s = document.createElement('script');"
        " s.textContent = 'window.__ran = true'; document.body.append(s); }"
    )
    page.wait_for_function("window.__cspViolations.length > 0")
    assert "script-src" in _violations(page)[0]
    assert page.evaluate("window.__ran === undefined")
    assert any("Content Security Policy" in p for p in problems)


def test_main_pages_load_without_a_violation(browser_page, committed_persona):
    owner, plan = _clinic(committed_persona)
    page = browser_page
    problems = _watch(page)
    page.goto("/login/")
    assert not _violations(page) and not problems
    login(page, owner)
    assert not _violations(page) and not problems, (_violations(page), problems)

    for path in (
        "/",
        "/calendar/",
        "/patients/",
        f"/patients/{plan.patient_id}/",
        "/plans/",
        f"/plans/{plan.id}/",
        "/billing/invoices/",
        "/practitioners/",
        "/services/",
        "/account/password/",
    ):
        _visit(page, path, problems)

    # the calendar drew itself (event-calendar sets its sizes through the CSSOM, which the
    # policy allows; style attributes in markup it would refuse)
    page.goto("/calendar/")
    expect(page.locator("#calendar .ec-toolbar, #calendar .ec-header").first).to_be_visible()
    expect(page.locator("#calendar .ec-body")).to_be_visible()
    page.select_option("#cal-practitioner", index=0)
    page.wait_for_load_state("networkidle")

    # an htmx drawer: the care planner opens, its week navigation swaps fragments
    page.goto(f"/plans/{plan.id}/")
    page.get_by_role("link", name="Plan consultations").click()
    drawer = page.locator("#planner")
    expect(drawer).to_be_visible()
    before = drawer.locator("input[name=week]").first.get_attribute("value")
    drawer.locator("#next-week").click()
    expect(drawer.locator("input[name=week]").first).not_to_have_value(before)

    # a select that submits its form (app.js, in place of onchange="...")
    page.select_option("#language-select", "fr")
    page.wait_for_load_state()
    expect(page.locator("html")).to_have_attribute("lang", "fr")
    page.select_option("#language-select", "en")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    page.wait_for_load_state("networkidle")

    assert not _violations(page), _violations(page)
    assert not problems, problems


def test_api_docs_render_under_the_policy(browser_page, committed_persona):
    owner = committed_persona("owner")
    page = browser_page
    problems = _watch(page)
    login(page, owner)
    page.goto("/api/v1/docs")
    # the page fetches /api/v1/openapi.json, built on request: slow on a busy machine
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("Clinic API", timeout=60_000)
    expect(page.locator(".opblock").first).to_be_visible()
    page.wait_for_load_state("networkidle")
    assert not _violations(page), _violations(page)
    assert not problems, problems
    # everything it loaded came from this server
    origins = page.evaluate(
        "performance.getEntriesByType('resource').map(e => new URL(e.name).origin)"
    )
    assert set(origins) <= {re.sub(r"/$", "", page.url.split("/api/")[0])}, set(origins)
