"""Invoice messages: "invoice issued" (with the PDF link) and overdue reminders.

`invoice_issued_notify(invoice=..., pdf_url=...)` runs inside the transaction that issues the
invoice (subscribed to billing's InvoiceIssued, see handlers.py). Overdue reminders are sent by
the periodic `billing.overdue_scan` job (periodic.py) from billing's `invoices_overdue` selector.
"""

from __future__ import annotations

import datetime

from django.utils import timezone

from clinic.accounts.models import Organization
from clinic.billing.selectors import invoices_overdue
from clinic.core.tenancy import require_org_id
from clinic.notifications import selectors
from clinic.notifications.messages import amount_format, language_pick
from clinic.notifications.services import PlannedSubject, _key, message_plan


def _payer_recipients(invoice, org) -> list[selectors.Recipient]:
    """The invoice's payer contact when there is one, else the patient and the contacts who
    receive the patient's messages."""
    if getattr(invoice, "bill_to_contact_id", None):
        contact = invoice.bill_to_contact
        pref = selectors.contact_preference_get(contact=contact)
        return [
            selectors.Recipient(
                kind="contact",
                record=contact,
                name=contact.display_name,
                email=contact.email,
                phone=contact.phone,
                language=pref.language or contact.preferred_language or org.default_locale,
                preference=pref,
                for_self=False,
            )
        ]
    return selectors.patient_recipients(invoice.patient, default_language=org.default_locale)


def _invoice_context(invoice, language: str, pdf_url: str = "") -> dict:
    from clinic.core.timefmt import local_date

    lang = language_pick(language)
    due = invoice.due_date
    return {
        "invoice_id": str(invoice.pk),
        "invoice_number": invoice.number or "",
        "amount": amount_format(invoice.gross_total, invoice.currency, lang),
        "balance": amount_format(
            getattr(invoice, "balance", invoice.gross_total), invoice.currency, lang
        ),
        "due_date": local_date(due, language=lang) if due else "",
        "pdf_url": pdf_url,
    }


def _plan_per_language(invoice, org, recipients, *, event, key, extra=None, pdf_url=""):
    planned = []
    for recipient in recipients:
        language = language_pick(getattr(invoice, "language", ""), recipient.language)
        recipient.language = language
        planned += message_plan(
            event=event,
            recipients=[recipient],
            context={**_invoice_context(invoice, language, pdf_url), **(extra or {})},
            subject=PlannedSubject("invoice", invoice.pk),
            key=key,
            time_zone=org.time_zone,
        )
    return planned


def _pdf_url(invoice) -> str:
    from django.urls import NoReverseMatch, reverse

    from clinic.notifications.messages import absolute_url

    try:
        return absolute_url(reverse("billing:invoice_pdf", kwargs={"invoice_id": invoice.pk}))
    except NoReverseMatch:
        return ""


def invoice_issued_notify(*, invoice, pdf_url: str = ""):
    """Email the payer that `invoice` was issued (idempotent per invoice)."""
    org = Organization.objects.get(pk=require_org_id())
    return _plan_per_language(
        invoice,
        org,
        _payer_recipients(invoice, org),
        event="invoice.issued",
        key=_key("invoice", invoice.pk, "issued"),
        pdf_url=pdf_url,
    )


def invoices_overdue_remind(*, today: datetime.date | None = None) -> dict:
    """For each open invoice past due, the reminder of the largest configured delay it reached
    (7 and 30 days by default), once each."""
    org = Organization.objects.get(pk=require_org_id())
    today = today or timezone.localdate()
    days = sorted(selectors.notification_settings_get().overdue_reminder_days)
    if not days:
        return {"planned": 0}
    invoices = invoices_overdue(as_of=today)
    planned = 0
    for invoice in invoices:
        if not invoice.due_date:
            continue
        late = (today - invoice.due_date).days
        reached = [d for d in days if late >= d]
        if not reached:
            continue
        step = reached[-1]
        pdf_url = _pdf_url(invoice)
        planned += len(
            _plan_per_language(
                invoice,
                org,
                _payer_recipients(invoice, org),
                event="invoice.overdue",
                key=_key("invoice", invoice.pk, "overdue", step),
                extra={"days_overdue": late},
                pdf_url=pdf_url,
            )
        )
    return {"planned": planned}
