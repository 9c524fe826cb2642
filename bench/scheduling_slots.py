"""Slot search: 50 practitioners x 28 days through the whole stack (bearer token, middleware,
RLS, the API). Goal: p95 <= 50 ms and <= 4 queries (the selector's own).

    .venv/bin/python -m bench scheduling_slots [--appointments 1000000] [--requests 60]
"""

from __future__ import annotations

import argparse
import time
from datetime import datetime, timedelta
from datetime import time as dtime
from urllib.parse import urlencode


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench scheduling_slots")
    parser.add_argument("--appointments", type=int, default=1_000_000)
    parser.add_argument("--practitioners", type=int, default=200)
    parser.add_argument("--patients", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=60)
    parser.add_argument("--width", type=int, default=50, help="practitioners per search")
    parser.add_argument("--days", type=int, default=28)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)

    from clinic import cli

    with cli.Database():
        from bench import _scheduling_data as data

        data.django_ready()
        return _run(args, data)


def _run(args, data) -> int:
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone

    from clinic.core.tenancy import tenant_context
    from clinic.directory.models import PractitionerService
    from clinic.scheduling.selectors import slots_find

    org = data.organization(
        appointments=args.appointments,
        practitioners=args.practitioners,
        patients=args.patients,
        seed=args.seed,
    )
    with tenant_context(org.id):
        counts: dict = {}
        for service_id, practitioner_id in PractitionerService.objects.values_list(
            "service_id", "practitioner_id"
        ):
            counts.setdefault(service_id, []).append(practitioner_id)
        service_id, practitioner_ids = max(counts.items(), key=lambda kv: len(kv[1]))
        if len(practitioner_ids) < args.width:  # make sure 50 deliver it
            from clinic.directory.models import Practitioner

            more = [
                p
                for p in Practitioner.objects.values_list("id", flat=True)
                if p not in practitioner_ids
            ][: args.width - len(practitioner_ids)]
            PractitionerService.objects.bulk_create(
                [
                    PractitionerService(
                        organization_id=org.id, practitioner_id=p, service_id=service_id
                    )
                    for p in more
                ]
            )
            practitioner_ids += more
    practitioner_ids = sorted(practitioner_ids, key=str)[: args.width]
    token = data.owner_token(org)
    client = Client()
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"}
    tz = timezone.get_fixed_timezone(0)
    today = timezone.now().date()

    def url(offset_days: int) -> str:
        start = datetime.combine(today + timedelta(days=offset_days), dtime(0), tzinfo=tz)
        end = start + timedelta(days=args.days)
        query = [
            ("service_id", str(service_id)),
            ("start", start.isoformat()),
            ("end", end.isoformat()),
            ("limit", "1000"),
        ]
        query += [("practitioner_id", str(p)) for p in practitioner_ids]
        return "/api/v1/slots?" + urlencode(query)

    for i in range(5):  # warm-up
        client.get(url(i), **headers)
    timings, request_queries, found, cpu_ms = [], [], [], []
    for i in range(args.requests):
        target = url(i % 21 - 7)  # windows from a week ago to three weeks ahead
        with CaptureQueriesContext(connection) as captured:
            started, cpu = time.perf_counter(), time.process_time()
            response = client.get(target, **headers)
            timings.append((time.perf_counter() - started) * 1000)
            cpu_ms.append((time.process_time() - cpu) * 1000)
        assert response.status_code == 200, response.content[:300]
        request_queries.append(data.statements(captured))
        found.append(len(response.json()["slots"]))
    # the selector alone: its own queries and time
    with tenant_context(org.id):
        start = timezone.now()
        with CaptureQueriesContext(connection) as captured:
            started = time.perf_counter()
            result = slots_find(
                service_id=service_id,
                start=start,
                end=start + timedelta(days=args.days),
                practitioner_ids=practitioner_ids,
                limit=100_000,
            )
            selector_ms = (time.perf_counter() - started) * 1000
        selector_queries = data.statements(captured)
    print()
    print(
        f"Slot search, {args.width} practitioners x {args.days} days, "
        f"{args.appointments:,} appointments in the organization"
    )
    print(f"  GET /api/v1/slots (whole request): {data.summary(timings)}")
    print(f"  CPU of the app process per request: {data.summary(cpu_ms)}")
    print(f"  machine load average: {open('/proc/loadavg').read().split()[0]}")
    print(
        f"  queries per request: {min(request_queries)}-{max(request_queries)} (besides BEGIN and "
        f"COMMIT), of which {selector_queries} by the slot search and 1 the authentication "
        "(token, tenant, RLS settings)"
    )
    print(f"  slots returned (limit 1000): median {sorted(found)[len(found) // 2]}")
    print(
        f"  selector alone, all {len(result.slots):,} free slots of the 28 days: "
        f"{selector_ms:.1f} ms, {selector_queries} queries"
    )
    return 0
