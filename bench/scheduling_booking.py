"""Booking throughput through HTTP (gunicorn on loopback: bearer auth, tenant + RLS, audit
trigger, idempotency key, every check: availability, expired holds, exclusion constraints) with
concurrent clients, as a ratio to pgbench running a bare INSERT into a table with the same kind
of exclusion constraint in the same run. Goal: >= 15 %.

    .venv/bin/python -m bench scheduling_booking [--clients 8] [--seconds 20]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import date, datetime, timedelta
from datetime import time as dtime
from http.client import HTTPConnection
from pathlib import Path

PGBENCH_SCRIPT = """\\set slot random(1, 2000000000)
INSERT INTO bench_booking (practitioner, during)
SELECT :client_id, tstzrange(t, t + interval '30 minutes')
  FROM (SELECT timestamptz '2030-01-01' + nextval('bench_booking_seq') * interval '1 hour' AS t) s;
"""


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench scheduling_booking")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers")
    parser.add_argument("--threads", type=int, default=4, help="threads per gunicorn worker")
    parser.add_argument("--port", type=int, default=8791)
    args = parser.parse_args(argv)

    from clinic import cli

    with cli.Database():
        from bench import _scheduling_data as data

        data.django_ready()
        statements = _statements_per_booking()
        floor, http = _http_throughput(args)
        pg = _pgbench(args)
    print()
    print(
        f"Booking throughput, {args.clients} concurrent clients, {args.seconds}s each, gunicorn "
        f"{args.workers} workers x {args.threads} threads; machine load average "
        f"{open('/proc/loadavg').read().split()[0]}"
    )
    print(
        f"  HTTP POST /api/v1/appointments: {http['rate']:.1f} bookings/s "
        f"({http['ok']} booked, {http['errors']} errors; latency {http['latency']})"
    )
    print(f"  SQL statements per booking (besides BEGIN/COMMIT/savepoints): {statements}")
    print(
        f"  HTTP GET /api/v1/me, the same stack doing no work (token, tenant, JSON): "
        f"{floor['rate']:.1f} requests/s (latency {floor['latency']})"
    )
    print(f"  pgbench bare INSERT with an exclusion constraint: {pg:.1f} inserts/s")
    print(f"  ratio booking / pgbench: {100 * http['rate'] / pg:.1f} % (goal >= 15 %)")
    print(
        f"  ratio no-work request / pgbench: {100 * floor['rate'] / pg:.1f} % "
        "(the ceiling of any endpoint on this stack and machine)"
    )
    print(f"  ratio booking / no-work request: {100 * http['rate'] / floor['rate']:.1f} %")
    return 0


def _statements_per_booking() -> int:
    """One booking through Django's test client, its SQL statements counted."""
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from bench._scheduling_data import statements

    token, service_id, plan = _setup_clinic(1)
    client = Client()
    slots = _slots(date.today() + timedelta(days=400))
    counts = []
    for _ in range(3):
        body = {
            "practitioner_id": plan[0][0],
            "patient_id": plan[0][1],
            "service_id": service_id,
            "start": next(slots).isoformat(),
        }
        with CaptureQueriesContext(connection) as captured:
            response = client.post(
                "/api/v1/appointments",
                json.dumps(body),
                content_type="application/json",
                HTTP_AUTHORIZATION=f"Bearer {token}",
                HTTP_IDEMPOTENCY_KEY=uuid.uuid4().hex,
            )
        assert response.status_code == 201, response.content[:300]
        counts.append(statements(captured))
    return counts[-1]


def _setup_clinic(clients: int):
    """An organization with one practitioner and one patient per client, Monday-to-Friday
    hours; each client books its own practitioner's free slots, so every request must succeed."""
    from clinic.accounts.selectors import organization_by_slug
    from clinic.accounts.services import organization_create
    from clinic.core.tenancy import tenant_context
    from clinic.directory.models import (
        Location,
        Patient,
        Practitioner,
        PractitionerService,
        Service,
    )
    from clinic.scheduling.models import AvailabilityRule

    slug = f"bench-booking-{uuid.uuid4().hex[:8]}"
    organization_create(slug=slug, name="Booking bench", time_zone="Europe/Paris")
    org = organization_by_slug(slug)
    from clinic.accounts.services import membership_create, token_create, user_get_or_create

    with tenant_context(org.id):
        user, _ = user_get_or_create(email=f"owner@{slug}.example", password=uuid.uuid4().hex)
        owner = membership_create(organization=org, user=user, role="owner")
        token = token_create(membership=owner, name="bench").raw
        location = Location.objects.create(name="Main", time_zone="Europe/Paris")
        service = Service.objects.create(name="Session", duration_minutes=30, price=50)
        plan = []
        for i in range(clients):
            p = Practitioner.objects.create(display_name=f"Bench {i}", default_location=location)
            PractitionerService.objects.create(practitioner=p, service=service)
            for weekday in range(5):
                AvailabilityRule.objects.create(
                    practitioner=p,
                    location=location,
                    weekday=weekday,
                    start_time=dtime(8),
                    end_time=dtime(20),
                )
            patient = Patient.objects.create(
                mrn=f"B{i}", given_name="Bench", family_name=str(i), date_of_birth=date(1980, 1, 1)
            )
            plan.append((str(p.id), str(patient.id)))
    return token, str(service.id), plan


def _slots(start_day: date):
    """Free 30-minute starts on working days from start_day, Paris wall time."""
    from zoneinfo import ZoneInfo

    paris = ZoneInfo("Europe/Paris")
    day = start_day
    while True:
        if day.weekday() < 5:
            for k in range(24):
                yield datetime.combine(day, dtime(8), tzinfo=paris) + timedelta(minutes=30 * k)
        day += timedelta(days=1)


def _http_throughput(args) -> tuple[dict, dict]:
    token, service_id, plan = _setup_clinic(args.clients)
    from django.db import connections

    connections.close_all()
    env = dict(os.environ, SECURE_COOKIES="0", ALLOWED_HOSTS="127.0.0.1,localhost")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "clinic.wsgi:application",
            "--bind",
            f"127.0.0.1:{args.port}",
            "--workers",
            str(args.workers),
            "--threads",
            str(args.threads),
            "--access-logfile",
            "/dev/null",
            "--error-logfile",
            "-",
            "--log-level",
            "warning",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                conn = HTTPConnection("127.0.0.1", args.port, timeout=2)
                conn.request("GET", "/healthz")
                if conn.getresponse().status == 200:
                    break
            except OSError:
                time.sleep(0.3)
        floor = _load(args, lambda i: _me_request(token))
        booking = _load(args, lambda i: _booking_requests(token, service_id, plan[i]))
    finally:
        process.terminate()
        process.wait(15)
    return floor, booking


def _me_request(token: str):
    while True:
        yield "GET", "/api/v1/me", None, {"Authorization": f"Bearer {token}"}, 200


def _booking_requests(token: str, service_id: str, plan: tuple[str, str]):
    practitioner_id, patient_id = plan
    for start in _slots(date.today() + timedelta(days=400)):
        body = json.dumps(
            {
                "practitioner_id": practitioner_id,
                "patient_id": patient_id,
                "service_id": service_id,
                "start": start.isoformat(),
            }
        )
        headers = {
            "Authorization": f"Bearer {token}",
            "Content-Type": "application/json",
            "Idempotency-Key": uuid.uuid4().hex,
        }
        yield "POST", "/api/v1/appointments", body, headers, 201


def _load(args, requests_of) -> dict:
    """`args.clients` threads, each on its own keep-alive connection, sending the requests of
    `requests_of(i)` for `args.seconds`; counts the answers with the expected status."""
    from bench._scheduling_data import summary

    ok = [0] * args.clients
    errors = [0] * args.clients
    latencies: list[list[float]] = [[] for _ in range(args.clients)]
    stop_at = [0.0]
    barrier = threading.Barrier(args.clients + 1)

    def client(i: int) -> None:
        conn = HTTPConnection("127.0.0.1", args.port, timeout=30)
        requests = requests_of(i)
        barrier.wait()
        while time.monotonic() < stop_at[0]:
            method, path, body, headers, expected = next(requests)
            started = time.perf_counter()
            conn.request(method, path, body=body, headers=headers)
            response = conn.getresponse()
            response.read()
            latencies[i].append((time.perf_counter() - started) * 1000)
            if response.status == expected:
                ok[i] += 1
            else:
                errors[i] += 1

    threads = [threading.Thread(target=client, args=(i,)) for i in range(args.clients)]
    for t in threads:
        t.start()
    stop_at[0] = time.monotonic() + args.seconds
    started = time.monotonic()
    barrier.wait()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - started
    return {
        "ok": sum(ok),
        "errors": sum(errors),
        "rate": sum(ok) / elapsed,
        "latency": summary([x for lat in latencies for x in lat]),
    }


def _pgbench(args) -> float:
    import psycopg

    from clinic.core import database
    from clinic.core.embedded import pg_bin

    var = Path(os.environ.get("CLINIC_VAR", Path(os.environ["CLINIC_HOME"]) / "var"))
    dsn = database.superuser_dsn(var)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("DROP DATABASE IF EXISTS bench_pgbench")
        conn.execute("CREATE DATABASE bench_pgbench")
    with psycopg.connect(database.superuser_dsn(var, "bench_pgbench"), autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS btree_gist")
        conn.execute("CREATE SEQUENCE bench_booking_seq")
        conn.execute("""CREATE TABLE bench_booking (
            id bigserial PRIMARY KEY, practitioner int NOT NULL, during tstzrange NOT NULL,
            EXCLUDE USING gist (practitioner WITH =, during WITH &&))""")
    with tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False) as script:
        script.write(PGBENCH_SCRIPT)
    try:
        output = subprocess.run(
            [
                pg_bin("pgbench"),
                "-n",
                "-c",
                str(args.clients),
                "-j",
                str(min(args.clients, 4)),
                "-T",
                str(args.seconds),
                "-f",
                script.name,
                "-h",
                database.embedded_socket_dir(var),
                "-U",
                database.EMBEDDED_SUPERUSER,
                "bench_pgbench",
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    finally:
        os.unlink(script.name)
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute("DROP DATABASE IF EXISTS bench_pgbench")
    match = re.search(r"tps = ([0-9.]+)", output)
    return float(match.group(1)) if match else 0.0
