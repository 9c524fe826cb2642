"""Notifications benchmark: 10,000 appointment reminders sent by ONE `clinic worker` process to
an SMTP server on loopback (aiosmtpd, in this process).

    .venv/bin/python -m bench notifications_throughput [--deliveries 10000] [--trickle 300]
                                                       [--rate 20] [--concurrency 1]

Phases:
1. data: an organization with one practitioner and N patients with an appointment each;
2. enqueue: N reminders planned through `message_plan` (one delivery row + one task row each,
   in batches of 500 per transaction) — the planning rate;
3. queries: 50 deliveries sent in this process under a query counter — queries per delivery;
4. backlog: a `clinic worker --concurrency 1` process drains the N deliveries — throughput
   (messages/s) and enqueue-to-sent latency of a backlog;
5. trickle: with the worker idle and listening, `--trickle` reminders are enqueued at `--rate`
   per second — enqueue-to-sent latency p50/p95 of a live system.

Every message is counted by the SMTP server; the run fails if any is missing or duplicated.
Results are also written to bench/results/notifications_throughput.txt.
"""

from __future__ import annotations

import argparse
import datetime
import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results" / "notifications_throughput.txt"
ROOT = Path(__file__).resolve().parents[1]


def _pct(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    index = max(0, min(len(ordered) - 1, round(pct / 100 * len(ordered) + 0.5) - 1))
    return ordered[index]


class Sink:
    def __init__(self):
        self.count = 0
        self.recipients: dict[str, int] = {}
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            self.count += 1
            for rcpt in envelope.rcpt_tos:
                self.recipients[rcpt] = self.recipients.get(rcpt, 0) + 1
        return "250 2.0.0 Ok: queued"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench notifications_throughput")
    parser.add_argument("--deliveries", type=int, default=10_000)
    parser.add_argument("--trickle", type=int, default=300)
    parser.add_argument("--rate", type=float, default=20.0, help="trickle enqueues per second")
    parser.add_argument("--concurrency", type=int, default=1, help="threads of the one worker")
    args = parser.parse_args(argv)

    from clinic import cli

    lines: list[str] = []

    def log(text: str = "") -> None:
        print(text, flush=True)
        lines.append(text)

    cli._home()
    cli._secrets_ensure()
    with cli.Database():
        cli._django_setup()
        cli.cmd_migrate(argparse.Namespace(verbosity=0))
        code = _run(args, log)
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text("\n".join(lines) + "\n")
    return code


def _run(args, log) -> int:
    import logging

    from aiosmtpd.controller import Controller
    from django.conf import settings
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    logging.getLogger("mail.log").setLevel(logging.WARNING)  # aiosmtpd logs every command
    sink = Sink()
    port = _free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    settings.EMAIL_BACKEND = "clinic.notifications.mail.SMTPBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", port
    try:
        log(
            f"notifications_throughput: {args.deliveries} reminders, one worker "
            f"(concurrency {args.concurrency}), SMTP on 127.0.0.1:{port}"
        )
        org, appointments = _data(args.deliveries + 50 + args.trickle, log)
        backlog, sample, trickle = (
            appointments[: args.deliveries],
            appointments[args.deliveries : args.deliveries + 50],
            appointments[args.deliveries + 50 :],
        )

        # queries per delivery, in this process
        _plan(org, sample)
        from clinic.core.worker import run_pending

        with CaptureQueriesContext(connection) as ctx:
            sent = run_pending()
        per = len(ctx.captured_queries) / max(1, sent)
        log(f"queries per delivery (claim, send, record, task bookkeeping): {per:.1f}")
        sink_before = sink.count

        started = time.perf_counter()
        ids = _plan(org, backlog)
        took = time.perf_counter() - started
        log(
            f"enqueue: {len(ids)} deliveries + tasks in {took:.1f} s "
            f"({len(ids) / took:.0f}/s, batches of 500 per transaction)"
        )

        worker = _worker(port, args.concurrency)
        try:
            started = time.perf_counter()
            while sink.count - sink_before < len(ids):
                if worker.poll() is not None:
                    log("worker exited early")
                    return 1
                time.sleep(0.2)
                if time.perf_counter() - started > 3600:
                    log("timeout")
                    return 1
            drained = time.perf_counter() - started
            time.sleep(1.0)
            log(
                f"backlog: {len(ids)} messages sent in {drained:.1f} s = "
                f"{len(ids) / drained:.0f} messages/s"
            )
            lat = _latencies(org, ids)
            log(
                f"backlog enqueue-to-sent: p50 {_pct(lat, 50):.1f} s, p95 {_pct(lat, 95):.1f} s, "
                f"max {max(lat):.1f} s (queue wait included)"
            )

            trickle_ids = []
            interval = 1.0 / args.rate
            t0 = time.perf_counter()
            for i, appt in enumerate(trickle):
                trickle_ids += _plan(org, [appt], batch=1)
                pause = t0 + (i + 1) * interval - time.perf_counter()
                if pause > 0:
                    time.sleep(pause)
            deadline = time.perf_counter() + 120
            while sink.count - sink_before < len(ids) + len(trickle_ids):
                if time.perf_counter() > deadline:
                    log("trickle timeout")
                    return 1
                time.sleep(0.1)
            time.sleep(1.0)
            lat = [x * 1000 for x in _latencies(org, trickle_ids)]
            log(
                f"trickle ({len(trickle_ids)} at {args.rate:g}/s): enqueue-to-sent "
                f"p50 {_pct(lat, 50):.0f} ms, p95 {_pct(lat, 95):.0f} ms, max {max(lat):.0f} ms"
            )
        finally:
            worker.terminate()
            worker.wait(30)
        dupes = sum(1 for n in sink.recipients.values() if n > 1)
        expected = 50 + len(ids) + len(trickle)
        log(
            f"SMTP server received {sink.count} messages (expected {expected}), "
            f"{dupes} recipients twice"
        )
        return 0 if sink.count == expected and not dupes else 1
    finally:
        controller.stop()


def _data(n: int, log):
    from clinic.accounts.services import organization_create
    from clinic.core.tenancy import tenant_context
    from clinic.directory.models import Location, Patient, Practitioner, Service
    from clinic.notifications.services import notification_settings_update
    from clinic.scheduling.models import Appointment

    started = time.perf_counter()
    org = organization_create(
        slug=f"bench-notify-{uuid.uuid4().hex[:6]}", name="Bench Clinic", time_zone="Europe/Paris"
    )
    with tenant_context(org.id):
        notification_settings_update(quiet_hours_start=None, quiet_hours_end=None)
        location = Location.objects.create(name="Main", time_zone="Europe/Paris")
        practitioner = Practitioner.objects.create(display_name="Dr Bench")
        service = Service.objects.create(name="Consultation", duration_minutes=20, price=50)
        patients = Patient.objects.bulk_create(
            Patient(
                organization_id=org.id,
                mrn=f"B{i:07d}",
                given_name=f"Pat{i}",
                family_name="Bench",
                date_of_birth=datetime.date(1980, 1, 1),
                email=f"p{i}@bench.example",
            )
            for i in range(n)
        )
        base = datetime.datetime.now(datetime.UTC).replace(microsecond=0) + datetime.timedelta(
            days=2
        )
        appointments = Appointment.objects.bulk_create(
            Appointment(
                organization_id=org.id,
                practitioner=practitioner,
                patient=p,
                service=service,
                location=location,
                start_at=base + datetime.timedelta(minutes=20 * i),
                end_at=base + datetime.timedelta(minutes=20 * i + 20),
                occupied_start=base + datetime.timedelta(minutes=20 * i),
                occupied_end=base + datetime.timedelta(minutes=20 * i + 20),
                status="scheduled",
            )
            for i, p in enumerate(patients)
        )
    log(f"data: {n} patients and appointments in {time.perf_counter() - started:.1f} s")
    return org, [(a, p) for a, p in zip(appointments, patients, strict=True)]


def _plan(org, pairs, batch: int = 500) -> list:
    """Reminders due now, for each (appointment, patient)."""
    from clinic.core.tenancy import tenant_context
    from clinic.notifications import selectors
    from clinic.notifications.models import ContactPreference
    from clinic.notifications.services import PlannedSubject, message_plan

    ids = []
    for start in range(0, len(pairs), batch):
        with tenant_context(org.id):
            org_settings = selectors.notification_settings_get()
            for appt, patient in pairs[start : start + batch]:
                recipient = selectors.Recipient(
                    kind="patient",
                    record=patient,
                    name=patient.display_name,
                    email=patient.email,
                    phone="",
                    language="en",
                    preference=ContactPreference(patient=patient),
                    for_self=True,
                )
                planned = message_plan(
                    event="appointment.reminder",
                    recipients=[recipient],
                    context={
                        "appointment_id": str(appt.pk),
                        "start_at": appt.start_at.isoformat(),
                        "offset_minutes": 1440,
                    },
                    subject=PlannedSubject("appointment", appt.pk),
                    key=f"bench:{appt.pk}",
                    time_zone="Europe/Paris",
                    latest=appt.start_at,
                    org_settings=org_settings,
                )
                ids += [d.pk for d in planned]
    return ids


def _latencies(org, ids) -> list[float]:
    from clinic.core.tenancy import tenant_context
    from clinic.notifications.models import Delivery

    out = []
    with tenant_context(org.id):
        for chunk in range(0, len(ids), 1000):
            rows = Delivery.objects.filter(pk__in=ids[chunk : chunk + 1000]).values_list(
                "created_at", "sent_at"
            )
            out += [(s - c).total_seconds() for c, s in rows if s]
    return out


def _worker(port: int, concurrency: int) -> subprocess.Popen:
    env = {
        **os.environ,
        "EMAIL_BACKEND": "clinic.notifications.mail.SMTPBackend",
        "EMAIL_HOST": "127.0.0.1",
        "EMAIL_PORT": str(port),
        "LOG_LEVEL": "WARNING",
    }
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "clinic.cli",
            "worker",
            "--concurrency",
            str(concurrency),
            "--no-periodic",
            "--interval",
            "0.5",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
    )


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
