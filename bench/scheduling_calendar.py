"""Calendar range query: 20 practitioners x 7 days through the API, in an organization of 100k
appointments and in one of 1M. Goal: p95 <= 80 ms, and p95(1M) <= 1.25 x p95(100k).

    .venv/bin/python -m bench scheduling_calendar [--small 100000] [--large 1000000]
"""

from __future__ import annotations

import argparse
import random
import time
from datetime import datetime, timedelta
from datetime import time as dtime
from urllib.parse import urlencode


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench scheduling_calendar")
    parser.add_argument("--small", type=int, default=100_000)
    parser.add_argument("--large", type=int, default=1_000_000)
    parser.add_argument("--practitioners", type=int, default=200)
    parser.add_argument("--patients", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=100)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)

    from clinic import cli

    with cli.Database():
        from bench import _scheduling_data as data

        data.django_ready()
        return _run(args, data)


def _measure(org, args, data) -> tuple[list[float], list[int], list[int], list[float]]:
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone

    from clinic.core.tenancy import tenant_context
    from clinic.scheduling.models import Appointment

    token = data.owner_token(org)
    client = Client()
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"}
    with tenant_context(org.id):
        practitioners = sorted(
            {
                str(p)
                for p in Appointment.objects.values_list("practitioner_id", flat=True).distinct()
            }
        )
        first = Appointment.objects.order_by("start_at").values_list("start_at", flat=True)[0]
        last = Appointment.objects.order_by("-start_at").values_list("start_at", flat=True)[0]
    rng = random.Random(args.seed)
    span_days = max(1, (last - first).days - 7)
    utc = timezone.get_fixed_timezone(0)

    def url() -> str:
        day = (first + timedelta(days=rng.randrange(span_days))).date()
        start = datetime.combine(day - timedelta(days=day.weekday()), dtime(0), tzinfo=utc)
        query = [("start", start.isoformat()), ("end", (start + timedelta(days=7)).isoformat())]
        query += [("practitioner_id", p) for p in rng.sample(practitioners, 20)]
        return "/api/v1/appointments?" + urlencode(query)

    for _ in range(5):
        client.get(url(), **headers)
    timings, queries, rows, cpu_ms = [], [], [], []
    for _ in range(args.requests):
        target = url()
        with CaptureQueriesContext(connection) as captured:
            started, cpu = time.perf_counter(), time.process_time()
            response = client.get(target, **headers)
            timings.append((time.perf_counter() - started) * 1000)
            cpu_ms.append((time.process_time() - cpu) * 1000)
        assert response.status_code == 200, response.content[:300]
        queries.append(data.statements(captured))
        rows.append(response.json()["count"])
    return timings, queries, rows, cpu_ms


def _run(args, data) -> int:
    small = data.organization(
        appointments=args.small,
        practitioners=args.practitioners,
        patients=args.patients,
        seed=args.seed,
    )
    large = data.organization(
        appointments=args.large,
        practitioners=args.practitioners,
        patients=args.patients,
        seed=args.seed,
    )
    results = {}
    for label, org in (("small", small), ("large", large), ("small again", small)):
        results[label] = _measure(org, args, data)
    print()
    print("Calendar range query, 20 practitioners x 7 days, GET /api/v1/appointments")
    for label, count in (("small", args.small), ("large", args.large)):
        timings, queries, rows, cpu_ms = results[label]
        print(f"  {count:>9,} appointments: {data.summary(timings)}")
        print(f"  {'':>9}   CPU of the app process: {data.summary(cpu_ms)}")
        print(
            f"  {'':>9}   queries per request {min(queries)}-{max(queries)} (besides BEGIN and "
            "COMMIT: the authentication and the range read), "
            f"appointments per response median {sorted(rows)[len(rows) // 2]}"
        )
    p95_small = min(data.percentile(results[k][0], 95) for k in ("small", "small again"))
    p95_large = data.percentile(results["large"][0], 95)
    print(f"  p95 ratio large/small: {p95_large / p95_small:.2f} (goal <= 1.25)")
    cpu_small = min(data.percentile(results[k][3], 95) for k in ("small", "small again"))
    cpu_large = data.percentile(results["large"][3], 95)
    print(
        f"  CPU p95 ratio large/small: {cpu_large / cpu_small:.2f}; machine load average "
        f"{open('/proc/loadavg').read().split()[0]}"
    )
    return 0
