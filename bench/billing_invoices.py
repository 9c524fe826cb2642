"""Billing benchmark: issue a 20-line invoice, and a patient statement over 2 years of history.

`python -m bench billing_invoices [--rounds=N]` — starts the embedded PostgreSQL (or uses
DATABASE_URL), migrates, creates its own organization and data, then times real API requests
through Django's test client (middleware, RLS, audit triggers included) and prints p50/p95 and
the queries per request.

History: the benchmarked patient has 2 years of weekly invoices with payments and a few credit
notes (made through the services); 40 other patients have 50 invoices each (written in bulk) so
the tables are not trivially small.
"""

from __future__ import annotations

import datetime as dt
import os
import statistics
import time
import uuid
from decimal import Decimal


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, round(q * (len(ordered) - 1))))
    return ordered[k]


def _report(name: str, times: list[float], queries: list[int]) -> None:
    print(
        f"{name}: n={len(times)} p50={statistics.median(times):.1f} ms "
        f"p95={_pct(times, 0.95):.1f} ms max={max(times):.1f} ms "
        f"queries/request={max(queries)}"
    )


def _setup():
    from clinic.cli import _django_setup, _secrets_ensure

    os.environ.setdefault("CLINIC_HOME", os.getcwd())
    # requests go through Django's test client, whose host is "testserver"
    os.environ["ALLOWED_HOSTS"] = os.environ.get("ALLOWED_HOSTS", "127.0.0.1,localhost") + (
        ",testserver"
    )
    _secrets_ensure()
    _django_setup()
    from django.core.management import call_command

    call_command("migrate", database="owner", verbosity=0, interactive=False)


def _background(org_id, patients, contact=None) -> None:
    """Issued invoices in bulk for other patients (background volume)."""
    from django.db import connection

    from clinic.billing.models import Invoice, InvoiceLine

    invoices, lines = [], []
    start = dt.date.today() - dt.timedelta(days=730)
    for p_index, patient in enumerate(patients):
        for i in range(50):
            inv = Invoice(
                id=uuid.uuid4(),
                organization_id=org_id,
                patient=patient,
                currency="EUR",
                subtotal=Decimal("80.00"),
                net_total=Decimal("80.00"),
                gross_total=Decimal("80.00"),
            )
            invoices.append(inv)
            lines.append(
                InvoiceLine(
                    organization_id=org_id,
                    invoice=inv,
                    position=1,
                    description="Session",
                    quantity=Decimal(1),
                    unit_price=Decimal("80.00"),
                    subtotal=Decimal("80.00"),
                    discount=Decimal(0),
                    net_amount=Decimal("80.00"),
                    tax_amount=Decimal(0),
                    gross_amount=Decimal("80.00"),
                )
            )
            inv._bench_date = start + dt.timedelta(days=(i * 14 + p_index) % 730)
    Invoice.objects.bulk_create(invoices, batch_size=1000)
    InvoiceLine.objects.bulk_create(lines, batch_size=1000)
    with connection.cursor() as cur:
        for inv in invoices:
            cur.execute(
                "UPDATE billing_invoice SET status = 'issued', number = %s, issue_date = %s, "
                "due_date = %s WHERE id = %s",
                [
                    f"BG-{inv.id.hex[:12]}",
                    inv._bench_date,
                    inv._bench_date + dt.timedelta(days=30),
                    inv.id,
                ],
            )


def main(argv: list[str]) -> int:
    rounds = 30
    for arg in argv:
        if arg.startswith("--rounds="):
            rounds = int(arg.split("=", 1)[1])
    from clinic.cli import Database

    with Database():
        _setup()
        return _run(rounds)


def _run(rounds: int) -> int:
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from clinic.accounts.models import Membership
    from clinic.accounts.services import (
        membership_create,
        organization_create,
        token_create,
        user_get_or_create,
    )
    from clinic.billing import services
    from clinic.core.tenancy import tenant_context
    from clinic.directory import services as directory

    slug = f"bench-billing-{uuid.uuid4().hex[:6]}"
    org = organization_create(slug=slug, name="Bench billing", time_zone="Europe/Paris")
    with tenant_context(org.id):
        user, _ = user_get_or_create(email=f"owner@{slug}.example", password=uuid.uuid4().hex)
        membership = membership_create(organization=org, user=user, role="owner")
        token = token_create(membership=membership).raw
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"}
    t0 = time.perf_counter()
    with tenant_context(org.id, user.id):
        actor = Membership.objects.select_related("organization").get(id=membership.id)
        rate = services.tax_rate_create(actor=actor, data={"name": "VAT 20", "rate": "20"})
        patient = directory.patient_create(
            actor=actor,
            data={"given_name": "Bench", "family_name": "Patient", "date_of_birth": "1980-01-01"},
            force=True,
        )
        others = [
            directory.patient_create(
                actor=actor,
                data={
                    "given_name": f"Other{i}",
                    "family_name": "Patient",
                    "date_of_birth": "1980-01-01",
                },
                force=True,
            )
            for i in range(40)
        ]
        _background(org.id, others)
        # 2 years of weekly invoices for the benchmarked patient, each paid a week later,
        # a credit note every 10th
        first = dt.date.today() - dt.timedelta(days=730)
        for week in range(104):
            day = first + dt.timedelta(days=7 * week)
            draft = services.invoice_create(
                actor=actor,
                data={
                    "patient_id": patient.id,
                    "lines": [
                        {
                            "description": "Session",
                            "quantity": "1",
                            "unit_price": "70.00",
                            "tax_rate_id": rate.id,
                        },
                        {"description": "Supplies", "quantity": "2", "unit_price": "4.35"},
                    ],
                },
            )
            inv = services.invoice_issue(actor=actor, invoice=draft, issue_date=day)
            if week % 10 == 3:
                services.credit_note_create(
                    actor=actor, invoice=inv, amount="8.70", reason="goodwill", issue_date=day
                )
            paid_at = dt.datetime.combine(day + dt.timedelta(days=7), dt.time(10), tzinfo=dt.UTC)
            services.payment_record(
                actor=actor,
                data={
                    "patient_id": patient.id,
                    "amount": "80.00",
                    "method": "card",
                    "received_at": min(paid_at, dt.datetime.now(dt.UTC)),
                },
            )
    print(
        f"data: 2104 invoices (104 for the benchmarked patient), generated in "
        f"{time.perf_counter() - t0:.1f} s"
    )

    client = Client()
    lines = [
        {
            "description": f"Line {i}",
            "quantity": "1.5",
            "unit_price": f"{10 + i}.35",
            "discount_percent": "5",
            "tax_rate_id": str(rate.id),
        }
        for i in range(20)
    ]
    create_times, issue_times, create_q, issue_q = [], [], [], []
    for _ in range(rounds):
        with CaptureQueriesContext(connection) as ctx:
            started = time.perf_counter()
            response = client.post(
                "/api/v1/invoices",
                {"patient_id": str(patient.id), "lines": lines},
                content_type="application/json",
                **headers,
            )
            create_times.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 201, response.content
        create_q.append(len(ctx))
        invoice_id = response.json()["id"]
        with CaptureQueriesContext(connection) as ctx:
            started = time.perf_counter()
            response = client.post(
                f"/api/v1/invoices/{invoice_id}/issue",
                {},
                content_type="application/json",
                **headers,
            )
            issue_times.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, response.content
        issue_q.append(len(ctx))
    _report("create a 20-line draft (POST /invoices)", create_times, create_q)
    _report("issue a 20-line invoice (POST /invoices/{id}/issue)", issue_times, issue_q)

    date_from = dt.date.today() - dt.timedelta(days=730)
    query = f"patient_id={patient.id}&date_from={date_from}&date_to={dt.date.today()}"
    for fmt in ("json", "csv", "pdf"):
        times, queries = [], []
        for _ in range(rounds):
            with CaptureQueriesContext(connection) as ctx:
                started = time.perf_counter()
                response = client.get(f"/api/v1/statements?{query}&format={fmt}", **headers)
                times.append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200, response.content[:300]
            queries.append(len(ctx))
        _report(f"statement over 2 years (GET /statements?format={fmt})", times, queries)
    return 0
