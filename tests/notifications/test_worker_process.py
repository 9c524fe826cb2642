"""`clinic worker` as real processes against the test database and a loopback SMTP server:
a worker killed mid-delivery (before or after the hand-off) and restarted sends exactly one
email; SIGTERM finishes the current task; two workers never send a message twice."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path
from urllib.parse import quote

import pytest
from django.conf import settings

from clinic.core.tenancy import tenant_context
from tests.conftest import org_create, persona_create, unique_slug
from tests.notifications.conftest import appointment_make, at, clinic_make, patient_make, wait_for

ROOT = Path(__file__).resolve().parents[2]


def _url(cfg: dict) -> str:
    auth = quote(cfg["USER"], safe="")
    if cfg.get("PASSWORD"):
        auth += ":" + quote(cfg["PASSWORD"], safe="")
    host = quote(cfg.get("HOST") or "localhost", safe="")
    port = f":{cfg['PORT']}" if cfg.get("PORT") else ""
    return f"postgresql://{auth}@{host}{port}/{cfg['NAME']}"


def _start_worker(smtp_port: int, *extra: str) -> subprocess.Popen:
    env = {
        **os.environ,
        "DATABASE_URL": _url(settings.DATABASES["default"]),
        "DATABASE_OWNER_URL": _url(settings.DATABASES["owner"]),
        "EMAIL_BACKEND": "clinic.notifications.mail.SMTPBackend",
        "EMAIL_HOST": "127.0.0.1",
        "EMAIL_PORT": str(smtp_port),
        "DEFAULT_FROM_EMAIL": "Clinic <no-reply@clinic.test>",
        "WORKER_DEAD_AFTER_SECONDS": "2",
        "WORKER_HEARTBEAT_SECONDS": "0.5",
        "DELIVERY_LEASE_SECONDS": "2",
        "SECRET_KEY": settings.SECRET_KEY,
        # the code under test, not whatever checkout the virtualenv was installed from
        "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)]),
        "CLINIC_HOME": str(ROOT),
        "LOG_LEVEL": "WARNING",
    }
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "clinic.cli",
            "worker",
            "--interval",
            "0.2",
            "--no-periodic",
            *extra,
        ],
        cwd=ROOT,
        env=env,
        stdout=_LOG,
        stderr=subprocess.STDOUT,
    )


_LOG = open(os.devnull, "wb")


def _stop(proc: subprocess.Popen) -> int:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        return proc.wait()


@pytest.fixture(autouse=True)
def _queue_of_this_test_only(live_db):
    """The worker process takes the oldest ready task first: tasks committed by earlier tests
    on this database (browser bookings, races) would be sent before this test's. Clear them;
    each xdist worker has its own database, and its tests run one at a time."""
    from django.db import transaction
    from django_tasks_db.models import DBTaskResult

    from clinic.core.worker import worker_connection

    with transaction.atomic():
        worker_connection()
        DBTaskResult.objects.all().delete()


def _booking(n_patients: int = 1):
    org = org_create(unique_slug("worker"), "Clinic W")
    owner = persona_create(org, "owner")
    clinic = clinic_make(org, owner)
    from clinic.notifications.services import (
        appointment_notifications_plan,
        notification_settings_update,
    )

    with tenant_context(org.id):  # sent at once, whatever time the tests run
        notification_settings_update(quiet_hours_start=None, quiet_hours_end=None)
    deliveries = []
    for i in range(n_patients):
        patient = patient_make(clinic, email=f"p{i}@example.org", given=f"P{i}")
        with tenant_context(org.id):
            appt = appointment_make(
                clinic,
                patient,
                at(days=3, hour=9, minute=0) + __import__("datetime").timedelta(hours=i),
            )
            deliveries += [
                d
                for d in appointment_notifications_plan(appointment=appt, event="booked")
                if d.event == "appointment.booked"
            ]
    return org, deliveries


def _delivery(org, delivery_id):
    from clinic.notifications.models import Delivery

    with tenant_context(org.id):
        return Delivery.objects.get(pk=delivery_id)


def _task(task_id):
    from django.db import transaction
    from django_tasks_db.models import DBTaskResult

    from clinic.core.worker import worker_connection

    with transaction.atomic():  # read as the worker, for this transaction only
        worker_connection()
        return DBTaskResult.objects.get(id=task_id)


@pytest.mark.parametrize("dies", ["after_handoff", "before_handoff"])
def test_worker_killed_mid_delivery_sends_exactly_one_email(live_db, smtp, dies):
    org, (delivery,) = _booking()
    hold = threading.Event()
    if dies == "after_handoff":
        smtp.hold_data, reached = hold, smtp.at_data
    else:
        smtp.hold_rcpt, reached = hold, smtp.at_rcpt
    first = _start_worker(smtp.port)
    try:
        assert reached.wait(60), "the worker never reached the SMTP server"
        state = _delivery(org, delivery.pk).status
        assert state == ("sending" if dies == "after_handoff" else "queued")
        first.kill()  # SIGKILL: no cleanup at all
        first.wait(10)
    finally:
        hold.set()
        if first.poll() is None:
            first.kill()
    assert _task(delivery.task_id).status == "RUNNING"  # left behind by the dead worker

    second = _start_worker(smtp.port)
    try:
        assert wait_for(lambda: _delivery(org, delivery.pk).status == "sent", timeout=90)
        assert wait_for(lambda: _task(delivery.task_id).status == "SUCCESSFUL", timeout=30)
    finally:
        assert _stop(second) == 0
    final = _delivery(org, delivery.pk)
    task = _task(delivery.task_id)
    assert len(task.worker_ids) == 2  # the dead attempt counts
    received = [m for m in smtp.parsed() if m["To"] == "p0@example.org"]
    assert len(received) == 1, [m["Subject"] for m in received]
    if dies == "after_handoff":
        assert "not sent again" in final.last_error
    else:
        assert final.attempts == 2 and final.last_error == ""


def test_sigterm_lets_the_current_task_finish(live_db, smtp):
    from tests.notifications.sample_tasks import slow

    org = org_create(unique_slug("sigterm"))
    with tenant_context(org.id):
        result = slow.enqueue(str(org.id), 3)
    worker = _start_worker(smtp.port)
    try:
        assert wait_for(lambda: _task(result.id).status == "RUNNING", timeout=60)
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=30) == 0
    finally:
        if worker.poll() is None:
            worker.kill()
    row = _task(result.id)
    assert row.status == "SUCCESSFUL" and row.return_value == "finished"


def test_two_workers_never_send_a_message_twice(live_db, smtp):
    org, deliveries = _booking(n_patients=12)
    workers = [_start_worker(smtp.port, "--concurrency", "2") for _ in range(2)]
    try:
        assert wait_for(
            lambda: all(_delivery(org, d.pk).status == "sent" for d in deliveries), timeout=120
        )
    finally:
        for w in workers:
            _stop(w)
    to = sorted(m["To"] for m in smtp.parsed())
    assert to == sorted(f"p{i}@example.org" for i in range(12))
