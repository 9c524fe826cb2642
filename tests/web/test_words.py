"""Words, languages and numbers: every msgid the app uses is translated in French and Arabic;
phone numbers, emails, codes and amounts are isolated from right-to-left text; an overdue
invoice says so."""

from __future__ import annotations

import datetime as dt
import re
import shutil
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

import clinic
from tests.billing import factories as f
from tests.directory import factories as directory

SOURCE = Path(clinic.__file__).parent
LANGUAGES = ("fr", "ar")


@pytest.fixture(scope="module")
def used_msgids(tmp_path_factory):
    """The catalogue Django's makemessages extracts from the source (a copy: the real .po files
    are never touched), as a Babel catalogue."""
    from django.core.management import call_command
    from django.test import override_settings

    if shutil.which("xgettext") is None:
        pytest.skip("GNU gettext (xgettext) is not installed")
    root = tmp_path_factory.mktemp("messages")
    shutil.copytree(
        SOURCE,
        root / "clinic",
        ignore=shutil.ignore_patterns("locale", "migrations", "__pycache__", "static"),
    )
    (root / "locale").mkdir()
    cwd = Path.cwd()
    try:
        import os

        os.chdir(root)
        with override_settings(LOCALE_PATHS=[str(root / "locale")]):
            call_command("makemessages", locale=["fr"], verbosity=0, no_obsolete=True)
    finally:
        os.chdir(cwd)
    with open(root / "locale" / "fr" / "LC_MESSAGES" / "django.po", "rb") as fh:
        return read_po(fh)


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_msgid_the_app_uses_is_translated(used_msgids, language):
    with open(SOURCE / "locale" / language / "LC_MESSAGES" / "django.po", "rb") as fh:
        catalogue = read_po(fh)
    missing = []
    for message in used_msgids:
        if not message.id:
            continue
        found = catalogue.get(message.id, message.context)
        strings = found.string if found is not None else None
        if isinstance(strings, tuple | list):
            complete = all(strings)
        else:
            complete = bool(strings)
        if found is None or not complete or found.fuzzy:
            where = message.locations[0] if message.locations else ("?", 0)
            missing.append(f"{message.context or ''}|{message.id!r} ({where[0]}:{where[1]})")
    assert not missing, f"{len(missing)} msgids without a {language} translation:\n" + "\n".join(
        missing
    )


# --- right to left --------------------------------------------------------------------------


def _arabic(client, persona):
    client.force_login(persona.user)
    client.post("/i18n/setlang/", {"language": "ar", "next": "/"})
    return client


def _isolated(html: str, value: str) -> bool:
    """Every time `value` is an element's whole text, the element is a <bdi dir="ltr">."""
    return html.count(f">{value}<") > 0 and html.count(f">{value}<") == html.count(
        f'<bdi dir="ltr">{value}<'
    )


@pytest.mark.django_db
def test_arabic_pages_isolate_numbers_emails_codes_and_amounts(client, owner_a):
    patient = directory.patient(owner_a, phone="+33 6 12 34 56 78", email="emma@example.com")
    invoice = f.issued_invoice(owner_a, patient)
    _arabic(client, owner_a)
    html = client.get("/patients/").content.decode()
    assert 'dir="rtl"' in html
    assert _isolated(html, patient.mrn)
    html = client.get("/billing/invoices/").content.decode()
    assert _isolated(html, invoice.number)
    assert _isolated(html, f"{invoice.gross_total}".replace(".", ",")) or _isolated(
        html, str(invoice.gross_total)
    )
    html = client.get(f"/billing/invoices/{invoice.id}/").content.decode()
    assert re.search(r'data-total="balance"><strong><bdi dir="ltr">', html)


@pytest.mark.django_db
def test_an_overdue_invoice_says_overdue(client, owner_a, clock):
    clock.travel("2031-03-01T10:00:00+01:00")
    patient = directory.patient(owner_a)
    late = f.issued_invoice(owner_a, patient, issue_date=dt.date(2031, 1, 1))
    fresh = f.issued_invoice(owner_a, patient, issue_date=dt.date(2031, 2, 28))
    client.force_login(owner_a.user)
    listing = client.get("/billing/invoices/").content.decode()
    late_row = listing.split(late.number, 1)[1].split("</tr>", 1)[0]
    fresh_row = listing.split(fresh.number, 1)[1].split("</tr>", 1)[0]
    badge = 'invoice-overdue">Overdue<'
    assert badge in late_row and badge not in fresh_row
    assert badge in client.get(f"/billing/invoices/{late.id}/").content.decode()
    assert badge not in client.get(f"/billing/invoices/{fresh.id}/").content.decode()
