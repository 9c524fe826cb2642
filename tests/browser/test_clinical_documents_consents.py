"""Documents, consents and break-glass in a browser: a PDF uploaded from the chart (the progress
path) and previewed in the page's frame, an image shown; a consent signed by drawing on the
pad at tablet size and shown with its signature; a practitioner opening emergency access to a
record outside their caseload. axe finds nothing serious, in English and in Arabic (RTL)."""

from __future__ import annotations

from playwright.sync_api import expect

from tests.browser.conftest import axe_violations, login

PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n2 0 obj << /Type /Pages /Kids [] /Count 0 >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"  # noqa: E501


def _setup(committed_persona):
    from tests.clinical.factories import setup_build

    owner = committed_persona("owner")
    doc = committed_persona("practitioner", org=owner.org)
    return setup_build(owner, doc)


def _arabic(page, live_server_url):
    page.context.add_cookies([{"name": "django_language", "value": "ar", "url": live_server_url}])


def test_upload_and_preview_documents(browser_page, live_server_url, committed_persona, tmp_path):
    from tests.clinical.test_documents import png_bytes

    setup = _setup(committed_persona)
    page = browser_page
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    login(page, setup.practitioner)
    page.goto(f"/patients/{setup.patient.id}/")
    card = page.locator("#documents")
    expect(card.locator("#no-documents")).to_be_visible()
    assert axe_violations(page) == []

    pdf = tmp_path / "referral.pdf"
    pdf.write_bytes(PDF)
    card.locator("#document-file").set_input_files(str(pdf))
    card.locator("#document-title").fill("Referral from Dr Lee")
    card.locator("#document-category").select_option("referral")
    card.locator("#document-save").click()
    expect(page.locator("#document-list")).to_contain_text("Referral from Dr Lee")
    expect(page.locator(".alert-success, .toast, [role=status]").first).to_be_visible()

    # a file that is not a document: refused in words, the form keeps its title
    text = tmp_path / "notes.pdf"
    text.write_text("just text pretending to be a PDF")
    page.locator("#document-add summary").click()  # closed once the list has a document
    page.locator("#document-file").set_input_files(str(text))
    page.locator("#document-title").fill("Fake")
    page.locator("#document-save").click()
    expect(page.locator("#document-error")).to_contain_text("PDF")
    expect(page.locator("#document-title")).to_have_value("Fake")

    image = tmp_path / "wound.png"
    image.write_bytes(png_bytes())
    page.locator("#document-file").set_input_files(str(image))
    page.locator("#document-title").fill("Wound, day 3")
    page.locator("#document-category").select_option("image")
    page.locator("#document-save").click()
    expect(page.locator("#document-list")).to_contain_text("Wound, day 3")

    page.locator("#document-list a", has_text="Referral from Dr Lee").click()
    expect(page.locator("#document-frame")).to_be_visible()
    assert axe_violations(page) == []
    page.go_back()
    page.locator("#document-list a", has_text="Wound, day 3").click()
    # the image is fetched from the authorised view after the page: wait for it to load
    page.wait_for_function(
        "() => { const i = document.getElementById('document-image');"
        " return i && i.complete && i.naturalWidth > 0; }"
    )
    assert page.locator("#document-image").evaluate("img => img.naturalWidth") == 4
    assert not [p for p in problems if "Content Security Policy" in p], problems

    _arabic(page, live_server_url)
    page.goto(f"/patients/{setup.patient.id}/")
    expect(page.locator("html")).to_have_attribute("dir", "rtl")
    expect(page.locator("#documents")).to_contain_text("المستندات")
    assert axe_violations(page) == []


def test_sign_a_consent_by_drawing_on_a_tablet(chromium, live_server_url, committed_persona):
    from clinic.clinical import services
    from clinic.core.tenancy import tenant_context
    from tests.clinical.factories import actor_of

    setup = _setup(committed_persona)
    with tenant_context(setup.owner.org.id, setup.owner.user.id):
        services.consent_template_create(
            actor=actor_of(setup.owner),
            data={
                "name": "Dry needling",
                "text": "I agree to dry needling of the affected muscles.",
                "risks": "Bruising, soreness for 24-48 hours.",
                "validity_days": 365,
                "service_ids": [str(setup.clinic.consult.id)],
            },
        )
    context = chromium.new_context(
        base_url=live_server_url,
        locale="en-GB",
        viewport={"width": 820, "height": 1180},
        has_touch=True,
    )
    page = context.new_page()
    page.set_default_timeout(10_000)
    try:
        login(page, setup.practitioner)
        page.goto(f"/patients/{setup.patient.id}/")
        expect(page.locator("#no-consents")).to_be_visible()
        page.locator("#consent-new").click()
        expect(page.locator("#consent-text")).to_contain_text("Bruising")
        assert axe_violations(page) == []

        # an empty pad is refused before anything is sent
        page.locator("#consent-submit").click()
        expect(page.locator("#signature-error")).to_be_visible()
        box = page.locator("#signature-pad").bounding_box()
        page.mouse.move(box["x"] + 30, box["y"] + 150)
        page.mouse.down()
        for x, y in ((120, 60), (220, 160), (320, 80), (420, 140)):
            page.mouse.move(box["x"] + x, box["y"] + y, steps=5)
        page.mouse.up()
        page.locator("#witness-name").fill("Front desk")
        page.locator("#consent-submit").click()
        expect(page.locator("#consent-status")).to_contain_text("Valid")
        page.wait_for_function(
            "() => { const i = document.getElementById('consent-signature');"
            " return i && i.complete && i.naturalWidth > 0; }"
        )
        expect(page.locator("main")).to_contain_text("Witness: Front desk")
        assert axe_violations(page) == []

        _arabic(page, live_server_url)
        page.reload()
        expect(page.locator("html")).to_have_attribute("dir", "rtl")
        expect(page.locator("#consent-status")).to_contain_text("سارية")
        assert axe_violations(page) == []
    finally:
        context.close()


def test_break_glass_from_the_chart(browser_page, committed_persona):
    setup = _setup(committed_persona)
    page = browser_page
    login(page, setup.practitioner)
    page.goto(f"/patients/{setup.stranger.id}/")
    expect(page.locator("#clinical-summary")).to_have_count(0)
    card = page.locator("#break-glass")
    expect(card).to_be_visible()
    assert axe_violations(page) == []
    card.locator("#break-glass-start").click()
    card.locator("#break-glass-reason").fill("Patient collapsed in the gym, own physio away")
    card.locator("#break-glass-confirm").click()
    expect(page.locator("#break-glass-open")).to_be_visible()
    expect(page.locator("#clinical-summary")).to_be_visible()
    assert axe_violations(page) == []
