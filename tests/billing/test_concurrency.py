"""Real parallel requests against PostgreSQL (threads, committed data): gapless numbering without
duplicates, allocations that never exceed a balance, appointments never billed twice."""

from __future__ import annotations

import threading
import uuid
from decimal import Decimal as D

from django.db import connections
from django.test import Client

from clinic.billing import services
from clinic.billing.models import Invoice, InvoiceAppointment, InvoiceLine
from clinic.core.tenancy import tenant_context
from tests.billing import factories as f
from tests.conftest import org_create, persona_create, unique_slug
from tests.directory import factories as directory


def _parallel(jobs) -> list:
    """Run the callables at the same moment, one thread each; return their results."""
    barrier = threading.Barrier(len(jobs))
    results: list = [None] * len(jobs)

    def run(i, job):
        try:
            barrier.wait()
            results[i] = job()
        except Exception as exc:
            results[i] = exc
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i, job)) for i, job in enumerate(jobs)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return results


def _post(persona, path, body=None):
    def call():
        client = Client()
        response = client.post(
            f"/api/v1/{path}",
            data=body or {},
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer {persona.token}",
            HTTP_IDEMPOTENCY_KEY=uuid.uuid4().hex,
        )
        return response.status_code, response.json()

    return call


def test_parallel_issues_get_gapless_unique_numbers(live_db):
    owner = persona_create(org_create(unique_slug("bill-seq")), "owner")
    patient = directory.patient(owner)
    drafts = [f.invoice(owner, patient) for _ in range(12)]

    def issue_then_roll_back():
        # Takes a number inside a transaction that then fails: the number must be given back.
        class Abort(Exception):
            pass

        try:
            with tenant_context(owner.org.id, owner.user.id):
                actor = f.actor_of(owner)
                extra = services.invoice_create(
                    actor=actor, data={"patient_id": patient.id, "lines": [f.line()]}
                )
                services.invoice_issue(actor=actor, invoice=extra)
                raise Abort
        except Abort:
            return "rolled back"

    jobs = [_post(owner, f"invoices/{d.id}/issue") for d in drafts]
    jobs += [issue_then_roll_back] * 3
    # and the same draft issued twice at once: exactly one wins
    jobs.append(_post(owner, f"invoices/{drafts[0].id}/issue"))
    results = _parallel(jobs)
    statuses = [r[0] for r in results if isinstance(r, tuple)]
    assert statuses.count(200) == 12 and statuses.count(409) == 1, results
    assert results[12:15] == ["rolled back"] * 3
    with tenant_context(owner.org.id):
        numbers = sorted(Invoice.objects.exclude(number=None).values_list("number", flat=True))
    seqs = sorted(int(n.rsplit("-", 1)[1]) for n in numbers)
    assert seqs == list(range(1, 13)), numbers  # no gap, no duplicate


def test_parallel_payments_never_exceed_a_balance(live_db):
    owner = persona_create(org_create(unique_slug("bill-alloc")), "owner")
    patient = directory.patient(owner)
    inv = f.issued_invoice(owner, patient)  # 100.00
    body = {
        "patient_id": str(patient.id),
        "amount": "60.00",
        "method": "card",
        "allocations": [{"invoice_id": str(inv.id), "amount": "60.00"}],
    }
    results = _parallel([_post(owner, "payments", body) for _ in range(4)])
    codes = sorted(r[0] for r in results)
    assert codes == [201, 422, 422, 422], results
    oldest_first = {"patient_id": str(patient.id), "amount": "30.00", "method": "cash"}
    results = _parallel([_post(owner, "payments", oldest_first) for _ in range(3)])
    assert all(r[0] == 201 for r in results), results
    allocated = sorted(D(r[1]["allocated_total"]) for r in results)
    assert sum(allocated) == D("40.00")  # what was left; the rest is credit
    with tenant_context(owner.org.id):
        final = Invoice.objects.get(id=inv.id)
    assert final.balance == 0 and final.paid_total == D("100.00") and final.status == "paid"


def test_parallel_billing_runs_bill_each_appointment_once(live_db):
    from tests.billing.test_appointments import completed_appointments

    owner = persona_create(org_create(unique_slug("bill-appt")), "owner")
    _appointments, day = completed_appointments(owner, count=4)
    body = {"date_from": day.isoformat(), "date_to": day.isoformat()}
    results = _parallel([_post(owner, "billing/bill-appointments", body) for _ in range(3)])
    assert all(r[0] == 201 for r in results), results
    billed = sum(r[1]["appointments_billed"] for r in results)
    assert billed == 4
    with tenant_context(owner.org.id):
        assert InvoiceAppointment.objects.count() == 4


def test_parallel_adds_from_the_editor_bill_an_appointment_once(live_db):
    """Two people add the same completed appointment at once — to the same draft and to two
    drafts of the patient: one line in all, the others are told it is already billed."""
    from tests.billing.test_appointments import completed_appointments

    owner = persona_create(org_create(unique_slug("bill-add")), "owner")
    (visit, *_rest), _day = completed_appointments(owner, count=1)
    with tenant_context(owner.org.id):
        patient = type(visit).objects.get(id=visit.id).patient
    drafts = [f.invoice(owner, patient, lines=[]) for _ in range(2)]

    def add(invoice):
        client = Client()
        client.force_login(owner.user)

        def call():
            response = client.post(
                f"/billing/invoices/{invoice.id}/appointments/",
                {"appointment_id": str(visit.id)},
                HTTP_HX_REQUEST="true",
            )
            return response.status_code

        return call

    results = _parallel([add(drafts[0]), add(drafts[0]), add(drafts[1]), add(drafts[1])])
    assert sorted(results) == [200, 409, 409, 409], results
    with tenant_context(owner.org.id):
        assert InvoiceAppointment.objects.filter(appointment_id=visit.id).count() == 1
        lines = InvoiceLine.objects.filter(invoice_id__in=[d.id for d in drafts])
        assert lines.count() == 1
        billed = Invoice.objects.get(id=lines.get().invoice_id)
        assert billed.gross_total == D("55.00")
