"""Billing API: /invoices, /payments, /credit-notes, /tax-rates, /balances, /statements,
/billing/settings, /billing/bill-appointments, /insurance-policies, /claims.
Thin: parse, check the permission, call a selector or a service."""

from datetime import date
from uuid import UUID

from django.http import HttpResponse
from ninja import Query, Router, Status
from ninja.pagination import paginate

from clinic.accounts.models import Organization
from clinic.accounts.user_sessions import reauth_require
from clinic.api.auth import require
from clinic.api.pagination import PagePagination
from clinic.billing import exports, pdf, selectors, services
from clinic.billing.schemas import (
    AccountQuery,
    AllocateIn,
    AllocationOut,
    BalanceOut,
    BillAppointmentsIn,
    BillAppointmentsOut,
    BillingSettingsIn,
    BillingSettingsOut,
    ClaimCreate,
    ClaimDecide,
    ClaimFilters,
    ClaimOut,
    ClaimPay,
    ClaimSubmit,
    CreditNoteCreate,
    CreditNoteFilters,
    CreditNoteOut,
    InvoiceCreate,
    InvoiceFilters,
    InvoiceIssue,
    InvoiceOut,
    InvoiceSummaryOut,
    InvoiceUpdate,
    LineIn,
    OverdueOut,
    PaymentCreate,
    PaymentFilters,
    PaymentOut,
    PolicyCreate,
    PolicyFilters,
    PolicyOut,
    PolicyPatch,
    ReasonIn,
    RefundIn,
    RefundOut,
    StatementQuery,
    TaxRateFilters,
    TaxRateIn,
    TaxRateOut,
    TaxRatePatch,
    money,
)

router = Router()


def _data(payload) -> dict:
    return payload.dict(exclude_unset=True)


def _organization(request) -> Organization:
    return request.auth.organization


# --- invoices ----------------------------------------------------------------------------------

invoices = Router(tags=["invoices"])


@invoices.get("", response=list[InvoiceSummaryOut])
@require("invoice.view")
@paginate(PagePagination)
def invoices_list(request, filters: Query[InvoiceFilters]):
    return selectors.invoices_list(actor=request.auth, **filters.dict())


@invoices.post("", response={201: InvoiceOut})
@require("invoice.manage")
def invoice_create(request, payload: InvoiceCreate):
    invoice = services.invoice_create(actor=request.auth, data=_data(payload))
    return Status(201, selectors.invoice_detail(request.auth, invoice.id))


@invoices.get("/overdue", response=list[OverdueOut])
@require("invoice.view")
@paginate(PagePagination)
def invoices_overdue(request, as_of: date | None = None):
    """Open invoices past their due date with the days overdue (dunning)."""
    visible = selectors.invoices_visible_to(request.auth).values("id")
    return selectors.invoices_overdue(as_of).filter(id__in=visible)


@invoices.get("/{invoice_id}", response=InvoiceOut)
@require("invoice.view")
def invoice_get(request, invoice_id: UUID):
    return selectors.invoice_detail(request.auth, invoice_id)


@invoices.patch("/{invoice_id}", response=InvoiceOut)
@require("invoice.manage")
def invoice_update(request, invoice_id: UUID, payload: InvoiceUpdate):
    invoice = selectors.invoice_for_actor(request.auth, invoice_id)
    services.invoice_update(actor=request.auth, invoice=invoice, data=_data(payload))
    return selectors.invoice_detail(request.auth, invoice_id)


@invoices.delete("/{invoice_id}", response={204: None})
@require("invoice.manage")
def invoice_delete(request, invoice_id: UUID):
    """Drafts only; issued invoices are corrected by credit notes."""
    services.invoice_delete(
        actor=request.auth, invoice=selectors.invoice_for_actor(request.auth, invoice_id)
    )
    return Status(204, None)


@invoices.post("/{invoice_id}/lines", response={201: InvoiceOut})
@require("invoice.manage")
def invoice_line_add(request, invoice_id: UUID, payload: LineIn):
    invoice = selectors.invoice_for_actor(request.auth, invoice_id)
    services.invoice_line_add(actor=request.auth, invoice=invoice, data=_data(payload))
    return Status(201, selectors.invoice_detail(request.auth, invoice_id))


@invoices.delete("/{invoice_id}/lines/{line_id}", response=InvoiceOut)
@require("invoice.manage")
def invoice_line_remove(request, invoice_id: UUID, line_id: UUID):
    invoice = selectors.invoice_for_actor(request.auth, invoice_id)
    services.invoice_line_remove(actor=request.auth, invoice=invoice, line_id=line_id)
    return selectors.invoice_detail(request.auth, invoice_id)


@invoices.post("/{invoice_id}/issue", response=InvoiceOut)
@require("invoice.issue")
def invoice_issue(request, invoice_id: UUID, payload: InvoiceIssue):
    """Assign the next number (gapless per organization) and freeze the invoice."""
    invoice = selectors.invoice_for_actor(request.auth, invoice_id)
    services.invoice_issue(actor=request.auth, invoice=invoice, issue_date=payload.issue_date)
    return selectors.invoice_detail(request.auth, invoice_id)


@invoices.post("/{invoice_id}/void", response=InvoiceOut)
@require("invoice.void")
def invoice_void(request, invoice_id: UUID, payload: ReasonIn):
    """Void an issued invoice without payments (a full credit note is issued)."""
    invoice = selectors.invoice_for_actor(request.auth, invoice_id)
    services.invoice_void(actor=request.auth, invoice=invoice, reason=payload.reason)
    return selectors.invoice_detail(request.auth, invoice_id)


@invoices.get("/{invoice_id}/pdf", response={200: None})
@require("invoice.view")
def invoice_pdf(request, invoice_id: UUID, language: str | None = None):
    invoice = selectors.invoice_detail(request.auth, invoice_id)
    body = pdf.invoice_pdf(
        invoice,
        organization=_organization(request),
        language=language if language in ("en", "fr", "ar") else None,
    )
    response = HttpResponse(body, content_type="application/pdf")
    name = invoice.number or f"draft-{str(invoice.id)[:8]}"
    response["Content-Disposition"] = f'attachment; filename="{name}.pdf"'
    return response


# --- payments ----------------------------------------------------------------------------------

payments = Router(tags=["payments"])


@payments.get("", response=list[PaymentOut])
@require("payment.view")
@paginate(PagePagination)
def payments_list(request, filters: Query[PaymentFilters]):
    return selectors.payments_list(actor=request.auth, **filters.dict())


@payments.post("", response={201: PaymentOut})
@require("payment.create")
def payment_record(request, payload: PaymentCreate):
    """Record money received and allocate it: to `allocations`, or oldest-first by default."""
    data = _data(payload)
    if "allocations" in data and data["allocations"] is not None:
        data["allocations"] = [
            {"invoice_id": a.invoice_id, "amount": a.amount} for a in payload.allocations
        ]
    payment = services.payment_record(actor=request.auth, data=data)
    return Status(201, selectors.payment_for_actor(request.auth, payment.id))


@payments.get("/{payment_id}", response=PaymentOut)
@require("payment.view")
def payment_get(request, payment_id: UUID):
    return selectors.payment_for_actor(request.auth, payment_id)


@payments.post("/{payment_id}/allocations", response={201: list[AllocationOut]})
@require("payment.create")
def payment_allocate(request, payment_id: UUID, payload: AllocateIn):
    """Allocate the payment's credit: to the invoices given, or oldest-first."""
    payment = selectors.payment_for_actor(request.auth, payment_id)
    chosen = None
    if payload.allocations is not None:
        chosen = [(a.invoice_id, a.amount) for a in payload.allocations]
    created = services.payment_allocate(actor=request.auth, payment=payment, allocations=chosen)
    return Status(201, created)


@payments.delete("/{payment_id}/allocations/{allocation_id}", response={204: None})
@require("payment.refund")
def allocation_remove(request, payment_id: UUID, allocation_id: UUID):
    payment = selectors.payment_for_actor(request.auth, payment_id)
    allocation = next((a for a in payment.allocations.all() if a.id == allocation_id), None)
    if allocation is None:
        from clinic.core.errors import NotFound

        raise NotFound("Allocation not found.")
    services.allocation_remove(actor=request.auth, allocation=allocation)
    return Status(204, None)


@payments.post("/{payment_id}/refunds", response={201: RefundOut})
@require("payment.refund")
def refund_record(request, payment_id: UUID, payload: RefundIn):
    payment = selectors.payment_for_actor(request.auth, payment_id)
    refund = services.refund_record(actor=request.auth, payment=payment, data=_data(payload))
    return Status(201, refund)


# --- credit notes, tax rates, settings ---------------------------------------------------------

credit_notes = Router(tags=["credit notes"])


@credit_notes.get("", response=list[CreditNoteOut])
@require("invoice.view")
@paginate(PagePagination)
def credit_notes_list(request, filters: Query[CreditNoteFilters]):
    return selectors.credit_notes_list(actor=request.auth, **filters.dict())


@credit_notes.post("", response={201: CreditNoteOut})
@require("invoice.void")
def credit_note_create(request, payload: CreditNoteCreate):
    """Credit an issued invoice, in full (no amount) or in part."""
    invoice = selectors.invoice_for_actor(request.auth, payload.invoice_id)
    note = services.credit_note_create(
        actor=request.auth,
        invoice=invoice,
        amount=payload.amount,
        reason=payload.reason,
        issue_date=payload.issue_date,
    )
    return Status(201, note)


@credit_notes.get("/{credit_note_id}", response=CreditNoteOut)
@require("invoice.view")
def credit_note_get(request, credit_note_id: UUID):
    return selectors.credit_note_for_actor(request.auth, credit_note_id)


tax_rates = Router(tags=["tax rates"])


@tax_rates.get("", response=list[TaxRateOut])
@require("invoice.view")
@paginate(PagePagination)
def tax_rates_list(request, filters: Query[TaxRateFilters]):
    return selectors.tax_rates_list(**filters.dict())


@tax_rates.post("", response={201: TaxRateOut})
@require("tax_rate.manage")
def tax_rate_create(request, payload: TaxRateIn):
    return Status(201, services.tax_rate_create(actor=request.auth, data=_data(payload)))


@tax_rates.get("/{tax_rate_id}", response=TaxRateOut)
@require("invoice.view")
def tax_rate_get(request, tax_rate_id: UUID):
    return selectors.tax_rate_get(tax_rate_id)


@tax_rates.patch("/{tax_rate_id}", response=TaxRateOut)
@require("tax_rate.manage")
def tax_rate_update(request, tax_rate_id: UUID, payload: TaxRatePatch):
    rate = selectors.tax_rate_get(tax_rate_id)
    return services.tax_rate_update(actor=request.auth, tax_rate=rate, data=_data(payload))


billing = Router(tags=["billing"])


@billing.get("/settings", response=BillingSettingsOut)
@require("invoice.view")
def settings_get(request):
    return selectors.billing_settings(request.auth.organization_id)


@billing.patch("/settings", response=BillingSettingsOut)
@require("billing.settings")
def settings_update(request, payload: BillingSettingsIn):
    return services.billing_settings_update(actor=request.auth, data=_data(payload))


@billing.post("/bill-appointments", response={201: BillAppointmentsOut})
@require("billing.bill_appointments")
def bill_appointments(request, payload: BillAppointmentsIn):
    """Draft invoices for the completed appointments of a period not billed yet (one per
    payer); late cancellations and no-shows too when the organization charges for them."""
    created = services.appointments_bill(actor=request.auth, **payload.dict())
    rows = list(selectors.invoices_list(actor=request.auth).filter(id__in=[i.id for i in created]))
    count = sum(r.line_count for r in rows)
    return Status(201, {"invoices": rows, "appointments_billed": count})


# --- balances and statements -------------------------------------------------------------------

accounts = Router(tags=["balances and statements"])


@accounts.get("/balances", response=BalanceOut)
@require("statement.view")
def balance_get(request, query: Query[AccountQuery]):
    """A payer's balance: what open invoices still owe, the payer's credit, aging buckets
    (days past due: 0-30, 31-60, 61-90, 90+) and the insurers' expected share."""
    account = selectors.account_for_actor(
        request.auth, patient_id=query.patient_id, contact_id=query.contact_id
    )
    balance = selectors.account_balance(account, as_of=query.as_of)
    return {
        "account": {"kind": account.kind, "id": str(account.id), "name": account.name},
        "currency": balance.currency,
        "outstanding": money(balance.outstanding),
        "credit": money(balance.credit),
        "balance": money(balance.balance),
        "insurer_pending": money(balance.insurer_pending),
        "patient_share": money(max(balance.outstanding - balance.insurer_pending, 0)),
        "aging": {k: money(v) for k, v in balance.aging.items()},
        "open_invoices": balance.open_invoices,
        "patient_invoices_outstanding": (
            money(selectors.patient_invoices_outstanding(account.id))
            if account.kind == "patient"
            else None
        ),
    }


def statement_payload(statement) -> dict:
    return {
        "account": {
            "kind": statement.account.kind,
            "id": str(statement.account.id),
            "name": statement.account.name,
        },
        "currency": statement.currency,
        "date_from": statement.date_from.isoformat(),
        "date_to": statement.date_to.isoformat(),
        "opening": money(statement.opening),
        "total_debits": money(statement.total_debits),
        "total_credits": money(statement.total_credits),
        "closing": money(statement.closing),
        "aging": {k: money(v) for k, v in statement.aging.items()},
        "lines": [
            {
                "date": line.date.isoformat(),
                "type": line.kind,
                "reference": line.reference,
                "description": line.description,
                "debit": money(line.debit),
                "credit": money(line.credit),
                "balance": money(line.balance),
            }
            for line in statement.lines
        ],
    }


@accounts.get("/statements", response={200: dict})
@require("statement.view")
def statement_get(request, query: Query[StatementQuery]):
    """A payer's statement for a period: opening balance, invoices, payments, credit notes and
    refunds, closing balance; `format=json|csv|pdf`, in `language` (default: the payer's)."""
    account = selectors.account_for_actor(
        request.auth, patient_id=query.patient_id, contact_id=query.contact_id
    )
    statement = selectors.statement_build(account, date_from=query.date_from, date_to=query.date_to)
    language = query.language or account.language or _organization(request).default_locale
    stem = f"statement-{query.date_from:%Y%m%d}-{query.date_to:%Y%m%d}"
    if query.format == "csv":
        reauth_require(request)
        response = HttpResponse(
            exports.statement_csv(statement, language), content_type="text/csv; charset=utf-8"
        )
        response["Content-Disposition"] = f'attachment; filename="{stem}.csv"'
        return response
    if query.format == "pdf":
        body = pdf.statement_pdf(statement, organization=_organization(request), language=language)
        response = HttpResponse(body, content_type="application/pdf")
        response["Content-Disposition"] = f'attachment; filename="{stem}.pdf"'
        return response
    return statement_payload(statement)


# --- insurance -----------------------------------------------------------------------------------

policies = Router(tags=["insurance"])


@policies.get("", response=list[PolicyOut])
@require("insurance.view")
@paginate(PagePagination)
def policies_list(request, filters: Query[PolicyFilters]):
    return selectors.insurance_policies_list(**filters.dict())


@policies.post("", response={201: PolicyOut})
@require("insurance.manage")
def policy_create(request, payload: PolicyCreate):
    policy = services.insurance_policy_create(actor=request.auth, data=_data(payload))
    return Status(201, selectors.insurance_policy_get(policy.id))


@policies.get("/{policy_id}", response=PolicyOut)
@require("insurance.view")
def policy_get(request, policy_id: UUID):
    return selectors.insurance_policy_get(policy_id)


@policies.patch("/{policy_id}", response=PolicyOut)
@require("insurance.manage")
def policy_update(request, policy_id: UUID, payload: PolicyPatch):
    policy = selectors.insurance_policy_get(policy_id)
    services.insurance_policy_update(actor=request.auth, policy=policy, data=_data(payload))
    return selectors.insurance_policy_get(policy_id)


claims = Router(tags=["insurance"])


@claims.get("", response=list[ClaimOut])
@require("insurance.view")
@paginate(PagePagination)
def claims_list(request, filters: Query[ClaimFilters]):
    return selectors.claims_list(**filters.dict())


@claims.post("", response={201: ClaimOut})
@require("insurance.manage")
def claim_create(request, payload: ClaimCreate):
    """A draft claim for an issued invoice, from the policy's coverage percent and limit."""
    invoice = selectors.invoice_for_actor(request.auth, payload.invoice_id)
    claim = services.claim_create(
        actor=request.auth, invoice=invoice, policy_id=payload.policy_id, notes=payload.notes
    )
    return Status(201, selectors.claim_get(claim.id))


@claims.get("/{claim_id}", response=ClaimOut)
@require("insurance.view")
def claim_get(request, claim_id: UUID):
    return selectors.claim_get(claim_id)


@claims.post("/{claim_id}/submit", response=ClaimOut)
@require("insurance.manage")
def claim_submit(request, claim_id: UUID, payload: ClaimSubmit):
    claim = selectors.claim_get(claim_id)
    services.claim_submit(
        actor=request.auth, claim=claim, insurer_reference=payload.insurer_reference
    )
    return selectors.claim_get(claim_id)


@claims.post("/{claim_id}/decide", response=ClaimOut)
@require("insurance.manage")
def claim_decide(request, claim_id: UUID, payload: ClaimDecide):
    """The insurer's decision: approved (in full or in part) or denied."""
    claim = selectors.claim_get(claim_id)
    services.claim_decide(actor=request.auth, claim=claim, data=_data(payload))
    return selectors.claim_get(claim_id)


@claims.post("/{claim_id}/pay", response=ClaimOut)
@require("insurance.manage")
def claim_pay(request, claim_id: UUID, payload: ClaimPay):
    """The insurer paid: an insurance payment allocated to the invoice."""
    claim = selectors.claim_get(claim_id)
    services.claim_pay(actor=request.auth, claim=claim, data=_data(payload))
    return selectors.claim_get(claim_id)


router.add_router("/invoices", invoices)
router.add_router("/payments", payments)
router.add_router("/credit-notes", credit_notes)
router.add_router("/tax-rates", tax_rates)
router.add_router("/billing", billing)
router.add_router("", accounts)
router.add_router("/insurance-policies", policies)
router.add_router("/claims", claims)
