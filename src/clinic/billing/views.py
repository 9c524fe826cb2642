"""Billing pages (htmx): invoice list with filters and totals, invoice editor with live totals,
invoice view with PDF download, payment entry with allocation, payer account (balance, aging,
statement download), overdue list. Thin: every rule is in services/selectors."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_http_methods, require_POST

from clinic.accounts.user_sessions import reauth_fresh, reauth_redirect
from clinic.api.pagination import MAX_PAGE
from clinic.billing import calculations as calc
from clinic.billing import exports, pdf, selectors, services
from clinic.billing.models import InvoiceStatus, PaymentMethod
from clinic.core import numbers, timefmt
from clinic.core.errors import DomainError, ValidationFailed
from clinic.directory import selectors as directory_selectors
from clinic.directory.models import Contact, Patient
from clinic.web.access import page_requires

PAGE_SIZE = 50


def _date_or_none(value: str | None) -> dt.date | None:
    try:
        return dt.date.fromisoformat(value) if value else None
    except ValueError:
        return None


def _error_response(request, exc: DomainError, template: str, context: dict, status=None):
    context = {**context, "errors": exc.details or {}, "error_message": exc.message}
    return render(request, template, context, status=status or exc.status)


# --- invoice list ------------------------------------------------------------------------------


@page_requires("invoice.view")
def invoices(request):
    filters = {
        "status": request.GET.get("status") or None,
        "search": request.GET.get("search") or None,
        "date_from": _date_or_none(request.GET.get("date_from")),
        "date_to": _date_or_none(request.GET.get("date_to")),
        "overdue": request.GET.get("overdue") == "1" or None,
        "patient_id": request.GET.get("patient") or None,
    }
    try:
        qs = selectors.invoices_list(actor=request.membership, **filters)
    except ValidationFailed as exc:
        messages.error(request, exc.message)
        qs = selectors.invoices_list(actor=request.membership)
    try:
        page = min(max(int(request.GET.get("page", "1")), 1), MAX_PAGE)
    except ValueError:
        page = 1
    rows = list(qs[(page - 1) * PAGE_SIZE : page * PAGE_SIZE])
    today = _clinic_today()
    for row in rows:
        row.is_overdue = selectors.invoice_is_overdue(row, today)
    context = {
        "rows": rows,
        "totals": selectors.invoices_totals(qs),
        "filters": request.GET,
        "statuses": InvoiceStatus.choices,
        "page": page,
        "has_next": len(rows) == PAGE_SIZE,
        "query": request.GET.urlencode(),
    }
    template = "billing/invoices.html#results" if request.htmx else "billing/invoices.html"
    return render(request, template, context)


@page_requires("invoice.view")
def overdue(request):
    as_of = _date_or_none(request.GET.get("as_of")) or timezone.localdate()
    visible = selectors.invoices_visible_to(request.membership).values("id")
    rows = list(selectors.invoices_overdue(as_of).filter(id__in=visible)[:500])
    total = sum((r.balance for r in rows), Decimal("0.00"))
    return render(request, "billing/overdue.html", {"rows": rows, "as_of": as_of, "total": total})


# --- invoice editor and view -------------------------------------------------------------------


def _patients_for_picker():
    return Patient.objects.filter(archived_at__isnull=True).order_by("family_name", "given_name")[
        :500
    ]


PATIENT_RESULTS = 15


def _patient_matches(request, query: str) -> list:
    """The directory's ranked patient search (active patients the user may see)."""
    if not query.strip():
        return []
    return list(
        directory_selectors.patients_list(actor=request.membership, search=query, status="active")[
            :PATIENT_RESULTS
        ]
    )


def _patient_chosen(request, patient_id: str | None):
    try:
        return directory_selectors.patient_for_actor(request.membership, patient_id)
    except DomainError:
        return None


@page_requires("invoice.manage")
@require_http_methods(["GET", "POST"])
def invoice_new(request):
    """A draft for a patient found by search (htmx results as one types; without JavaScript the
    search button reloads the page with them)."""
    source = request.POST if request.method == "POST" else request.GET
    query = source.get("q", "")
    chosen_id = source.get("patient_id") or source.get("patient")
    context = {
        "query": query,
        "matches": _patient_matches(request, query),
        "chosen": _patient_chosen(request, chosen_id) if chosen_id else None,
        "contacts": Contact.objects.filter(archived_at__isnull=True).order_by("family_name")[:500],
        "values": source,
    }
    if request.htmx and request.method == "GET":
        return render(request, "billing/invoice_new.html#patient-results", context)
    if request.method == "POST":
        data = {"patient_id": request.POST.get("patient_id") or None, "lines": []}
        if request.POST.get("bill_to_contact_id"):
            data["bill_to_contact_id"] = request.POST["bill_to_contact_id"]
        try:
            invoice = services.invoice_create(actor=request.membership, data=data)
        except ValidationFailed as exc:
            return _error_response(request, exc, "billing/invoice_new.html", context)
        return redirect("billing:invoice", invoice_id=invoice.id)
    return render(request, "billing/invoice_new.html", context)


def _clinic_today() -> dt.date:
    return timefmt.localize(timezone.now()).date()


def _invoice_context(request, invoice, **extra) -> dict:
    membership = request.membership
    invoice.is_overdue = selectors.invoice_is_overdue(invoice, _clinic_today())
    return {
        "invoice": invoice,
        "tax_rates": list(selectors.tax_rates_list(active=True)) if invoice.is_draft else [],
        "services": (
            list(selectors_services())
            if invoice.is_draft and membership.has("invoice.manage")
            else []
        ),
        "can_edit": invoice.is_draft and membership.has("invoice.manage"),
        "billable_appointments": (
            selectors.appointments_to_invoice(invoice)
            if invoice.is_draft and membership.has("invoice.manage")
            else []
        ),
        "can_issue": invoice.is_draft and membership.has("invoice.issue"),
        "can_correct": (
            not invoice.is_draft and invoice.status != "void" and membership.has("invoice.void")
        ),
        "can_pay": invoice.status in ("issued", "partially_paid")
        and membership.has("payment.create"),
        "line": {},
        "errors": {},
        **extra,
    }


def selectors_services():
    from clinic.directory.models import Service

    return Service.objects.filter(is_active=True).order_by("name")[:500]


@page_requires("invoice.view")
def invoice(request, invoice_id):
    try:
        obj = selectors.invoice_detail(request.membership, invoice_id)
    except DomainError:
        return render(request, "web/not_found.html", status=404)
    return render(request, "billing/invoice.html", _invoice_context(request, obj))


def _typed_numbers(data: dict, fields) -> dict:
    """Numbers typed in the page's locale ("12,50" in French) rewritten as the services' "12.50";
    {field: [message]} for those that are not numbers (left as typed)."""
    locale = timefmt.locale_for()
    errors = {}
    for field in fields:
        value = data.get(field)
        if not isinstance(value, str) or not value.strip():
            continue
        try:
            data[field] = format(numbers.typed_decimal(value, locale), "f")
        except numbers.NumberUnreadable:
            errors[field] = [
                _("“%(value)s” is not an amount: type it like %(example)s.")
                % {"value": value, "example": numbers.typed_amount_example(locale)}
            ]
    return errors


def _typed_failure(errors: dict) -> ValidationFailed:
    return ValidationFailed(_("Some amounts could not be read."), details=errors)


def _line_data(post) -> dict:
    data = {}
    for name in ("service_id", "description", "quantity", "unit_price", "tax_rate_id"):
        if post.get(name):
            data[name] = post[name]
    kind, value = post.get("discount_kind", "percent"), post.get("discount")
    if value:
        data["discount_percent" if kind == "percent" else "discount_amount"] = value
    return data


_LINE_NUMBERS = ("quantity", "unit_price", "discount_percent", "discount_amount")


def _editor(request, invoice_id, status=200, **extra):
    obj = selectors.invoice_detail(request.membership, invoice_id)
    return render(
        request,
        "billing/invoice.html#editor",
        _invoice_context(request, obj, **extra),
        status=status,
    )


@page_requires("invoice.manage")
@require_POST
def invoice_line_add(request, invoice_id):
    obj = selectors.invoice_for_actor(request.membership, invoice_id)
    data = _line_data(request.POST)
    try:
        typed_errors = _typed_numbers(data, _LINE_NUMBERS)
        if typed_errors:
            raise _typed_failure(typed_errors)
        services.invoice_line_add(actor=request.membership, invoice=obj, data=data)
    except DomainError as exc:
        # The form keeps what was typed; the errors sit next to the fields. (200 so htmx swaps.)
        return _editor(
            request,
            invoice_id,
            line=request.POST,
            errors=exc.details or {},
            error_message=exc.message,
        )
    return _editor(request, invoice_id)


@page_requires("invoice.manage")
@require_POST
def invoice_line_remove(request, invoice_id, line_id):
    obj = selectors.invoice_for_actor(request.membership, invoice_id)
    try:
        services.invoice_line_remove(actor=request.membership, invoice=obj, line_id=line_id)
    except DomainError as exc:
        return _editor(request, invoice_id, error_message=exc.message)
    return _editor(request, invoice_id)


@page_requires("invoice.manage")
@require_POST
def invoice_line_preview(request, invoice_id):
    """Live totals while a line is typed: the line's amounts and the invoice's new totals,
    computed by calculations.py, nothing written."""
    obj = selectors.invoice_detail(request.membership, invoice_id)
    data = _line_data(request.POST)
    preview, errors = None, _typed_numbers(data, _LINE_NUMBERS)
    if not errors and (data.get("description") or data.get("service_id")):
        line, errors = services.line_preview(data)
        if line is not None:
            amounts = [
                calc.LineAmounts(
                    li.subtotal, li.discount, li.net_amount, li.tax_amount, li.gross_amount
                )
                for li in obj.line_list
            ]
            new = calc.LineAmounts(
                line.subtotal, line.discount, line.net_amount, line.tax_amount, line.gross_amount
            )
            preview = {"line": new, "totals": calc.invoice_totals([*amounts, new])}
    return render(
        request,
        "billing/invoice.html#preview",
        {
            "invoice": obj,
            "preview": preview,
            "preview_errors": errors,
        },
    )


@page_requires("invoice.manage")
@require_POST
def invoice_appointments_add(request, invoice_id):
    """The chosen completed appointments become lines (htmx: the editor comes back in place;
    a refusal, e.g. an appointment billed meanwhile, is said above the lines with its 4xx)."""
    obj = selectors.invoice_for_actor(request.membership, invoice_id)
    try:
        lines = services.invoice_appointments_add(
            actor=request.membership,
            invoice=obj,
            appointment_ids=request.POST.getlist("appointment_id"),
        )
    except DomainError as exc:
        if request.htmx:
            return _editor(request, invoice_id, status=exc.status, error_message=exc.message)
        messages.error(request, exc.message)
        return redirect("billing:invoice", invoice_id=invoice_id)
    if request.htmx:
        return _editor(request, invoice_id)
    count = len(lines)
    messages.success(
        request,
        ngettext("%(n)d appointment added.", "%(n)d appointments added.", count) % {"n": count},
    )
    return redirect("billing:invoice", invoice_id=invoice_id)


@page_requires("invoice.issue")
@require_http_methods(["GET", "POST"])
def invoice_issue(request, invoice_id):
    """Issuing asks first: the payer, total and due date are shown (a fragment under the
    button with htmx, a page without) and only the confirming POST (`confirm=yes`) issues."""
    try:
        detail = selectors.invoice_detail(request.membership, invoice_id)
    except DomainError:
        return render(request, "web/not_found.html", status=404)
    if request.method == "GET" or request.POST.get("confirm") != "yes":
        if not detail.is_draft:
            return redirect("billing:invoice", invoice_id=invoice_id)
        context = {
            "invoice": detail,
            "summary": selectors.invoice_issue_summary(request.membership, detail),
        }
        template = "billing/invoice_issue.html"
        if request.htmx:
            template += "#confirm"
        return render(request, template, context)
    try:
        issued = services.invoice_issue(actor=request.membership, invoice=detail)
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("Invoice %(number)s issued.") % {"number": issued.number})
    return redirect("billing:invoice", invoice_id=invoice_id)


@page_requires("invoice.manage")
@require_POST
def invoice_delete(request, invoice_id):
    obj = selectors.invoice_for_actor(request.membership, invoice_id)
    try:
        services.invoice_delete(actor=request.membership, invoice=obj)
    except DomainError as exc:
        messages.error(request, exc.message)
        return redirect("billing:invoice", invoice_id=invoice_id)
    messages.success(request, _("Draft deleted."))
    return redirect("billing:invoices")


@page_requires("invoice.void")
@require_POST
def invoice_credit(request, invoice_id):
    """A credit note (amount empty: everything that can still be credited)."""
    obj = selectors.invoice_for_actor(request.membership, invoice_id)
    typed = {"amount": request.POST.get("amount") or None}
    try:
        typed_errors = _typed_numbers(typed, ("amount",))
        if typed_errors:
            raise _typed_failure(typed_errors)
        note = services.credit_note_create(
            actor=request.membership,
            invoice=obj,
            amount=typed["amount"],
            reason=request.POST.get("reason"),
        )
    except DomainError as exc:
        detail = selectors.invoice_detail(request.membership, invoice_id)
        return _error_response(
            request,
            exc,
            "billing/invoice.html",
            _invoice_context(request, detail, credit_values=request.POST),
            status=200,
        )
    messages.success(request, _("Credit note %(number)s issued.") % {"number": note.number})
    return redirect("billing:invoice", invoice_id=invoice_id)


@page_requires("invoice.view")
def invoice_pdf(request, invoice_id):
    try:
        obj = selectors.invoice_detail(request.membership, invoice_id)
    except DomainError:
        return render(request, "web/not_found.html", status=404)
    body = pdf.invoice_pdf(
        obj,
        organization=request.membership.organization,
        language=request.GET.get("language") or None,
    )
    response = HttpResponse(body, content_type="application/pdf")
    name = obj.number or "draft"
    response["Content-Disposition"] = f'attachment; filename="{name}.pdf"'
    return response


# --- payment entry -----------------------------------------------------------------------------


def _payer_open_invoices(request, patient_id, contact_id):
    if not (patient_id or contact_id):
        return []
    try:
        account = selectors.account_for_actor(
            request.membership, patient_id=patient_id or None, contact_id=contact_id or None
        )
    except DomainError:
        return []
    return selectors.account_balance(account).open_invoices


@page_requires("payment.create")
@require_http_methods(["GET", "POST"])
def payment_new(request):
    source = request.POST if request.method == "POST" else request.GET
    patient_id, contact_id = source.get("patient_id", ""), source.get("contact_id", "")
    context = {
        "patients": _patients_for_picker(),
        "contacts": Contact.objects.filter(archived_at__isnull=True).order_by("family_name")[:500],
        "methods": PaymentMethod.choices,
        "values": source,
        "open_invoices": _payer_open_invoices(request, patient_id, contact_id),
        "errors": {},
    }
    if request.htmx and request.method == "GET":
        return render(request, "billing/payment_new.html#allocations", context)
    if request.method == "POST":
        data = {
            "amount": request.POST.get("amount"),
            "method": request.POST.get("method"),
            "reference": request.POST.get("reference") or "",
        }
        if patient_id:
            data["patient_id"] = patient_id
        if contact_id:
            data["contact_id"] = contact_id
        chosen = [
            {"invoice_id": inv.id, "amount": request.POST.get(f"alloc_{inv.id}")}
            for inv in context["open_invoices"]
            if request.POST.get(f"alloc_{inv.id}")
        ]
        if chosen:
            data["allocations"] = chosen
        elif request.POST.get("allocate") == "none":
            data["allocate"] = "none"
        typed_errors = _typed_numbers(data, ("amount",))
        for i, allocation in enumerate(chosen):
            for message in _typed_numbers(allocation, ("amount",)).values():
                typed_errors[f"allocations.{i}.amount"] = message
        try:
            if typed_errors:
                raise _typed_failure(typed_errors)
            payment = services.payment_record(actor=request.membership, data=data)
        except ValidationFailed as exc:
            return _error_response(request, exc, "billing/payment_new.html", context)
        messages.success(
            request,
            _("Payment of %(amount)s recorded; %(left)s left as credit.")
            % {
                "amount": numbers.typed_amount_example(timefmt.locale_for(), payment.amount),
                "left": numbers.typed_amount_example(timefmt.locale_for(), payment.unallocated),
            },
        )
        kind, pid = ("contact", contact_id) if contact_id else ("patient", patient_id)
        return redirect("billing:account", kind=kind, payer_id=pid)
    return render(request, "billing/payment_new.html", context)


# --- accounts ------------------------------------------------------------------------------------


@page_requires("statement.view")
def account(request, kind, payer_id):
    try:
        acc = selectors.account_for_actor(
            request.membership,
            patient_id=payer_id if kind == "patient" else None,
            contact_id=payer_id if kind == "contact" else None,
        )
    except DomainError:
        return render(request, "web/not_found.html", status=404)
    balance = selectors.account_balance(acc)
    recent = list(
        selectors.payments_list(
            actor=request.membership,
            patient_id=acc.id if kind == "patient" else None,
            contact_id=acc.id if kind == "contact" else None,
        )[:20]
    )
    today = timezone.localdate()
    return render(
        request,
        "billing/account.html",
        {
            "account": acc,
            "balance": balance,
            "payments": recent,
            "default_from": today.replace(month=1, day=1),
            "default_to": today,
        },
    )


@page_requires("statement.view")
def account_statement(request, kind, payer_id):
    try:
        acc = selectors.account_for_actor(
            request.membership,
            patient_id=payer_id if kind == "patient" else None,
            contact_id=payer_id if kind == "contact" else None,
        )
    except DomainError:
        return render(request, "web/not_found.html", status=404)
    date_from = _date_or_none(request.GET.get("date_from"))
    date_to = _date_or_none(request.GET.get("date_to"))
    if not date_from or not date_to or date_to < date_from:
        messages.error(request, _("Choose a period (from, to)."))
        return redirect("billing:account", kind=kind, payer_id=payer_id)
    statement = selectors.statement_build(acc, date_from=date_from, date_to=date_to)
    language = (
        request.GET.get("language")
        or acc.language
        or request.membership.organization.default_locale
    )
    stem = f"statement-{date_from:%Y%m%d}-{date_to:%Y%m%d}"
    if request.GET.get("format") == "csv":
        if not reauth_fresh(request):
            return reauth_redirect(request)
        response = HttpResponse(
            exports.statement_csv(statement, language), content_type="text/csv; charset=utf-8"
        )
        response["Content-Disposition"] = f'attachment; filename="{stem}.csv"'
        return response
    body = pdf.statement_pdf(
        statement, organization=request.membership.organization, language=language
    )
    response = HttpResponse(body, content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="{stem}.pdf"'
    return response


def account_url(invoice) -> str:
    if invoice.bill_to_contact_id:
        return reverse(
            "billing:account", kwargs={"kind": "contact", "payer_id": invoice.bill_to_contact_id}
        )
    return reverse("billing:account", kwargs={"kind": "patient", "payer_id": invoice.patient_id})
