"""Fixtures for notification tests: a clinic with a location, practitioner, service and
patients; appointments written directly (the scheduling services call the planner themselves);
a real SMTP server on loopback (aiosmtpd) that counts what it receives."""

from __future__ import annotations

import asyncio
import datetime
import socket
import threading
import time
import uuid
from dataclasses import dataclass, field

import pytest
from django.utils import timezone


@dataclass
class Clinic:
    org: object
    owner: object
    location: object
    practitioner: object
    service: object
    practitioner_persona: object | None = None


def clinic_make(org, owner, *, time_zone="Europe/Paris", practitioner_persona=None) -> Clinic:
    from clinic.core.tenancy import tenant_context
    from clinic.directory.models import Location, Practitioner, Service

    with tenant_context(org.id, owner.user.id):
        location = Location.objects.create(
            name=f"Centre {uuid.uuid4().hex[:4]}",
            time_zone=time_zone,
            phone="+33140000000",
            address_line1="1 rue de la Paix",
            city="Paris",
        )
        practitioner = Practitioner.objects.create(
            display_name="Dr Alice Martin",
            membership=practitioner_persona.membership if practitioner_persona else None,
        )
        service = Service.objects.create(name="Physiotherapy", duration_minutes=45, price=60)
    return Clinic(org, owner, location, practitioner, service, practitioner_persona)


def patient_make(
    clinic,
    *,
    email="pat@example.org",
    phone="",
    language="",
    species="",
    given="Sam",
    family="Durand",
    membership=None,
):
    from clinic.core.tenancy import tenant_context
    from clinic.directory.models import Patient

    with tenant_context(clinic.org.id):
        return Patient.objects.create(
            mrn=f"P{uuid.uuid4().hex[:8]}",
            given_name=given,
            family_name=family,
            date_of_birth=None if species else datetime.date(1980, 5, 1),
            species=species,
            email=email,
            phone=phone,
            preferred_language=language,
            membership=membership,
        )


def contact_make(
    clinic,
    patient,
    *,
    email="",
    phone="",
    language="",
    relationship="owner",
    primary=True,
    clinical=False,
    given="Nadia",
    family="Haddad",
):
    from clinic.core.tenancy import tenant_context
    from clinic.directory.models import Contact, PatientContact

    with tenant_context(clinic.org.id):
        contact = Contact.objects.create(
            given_name=given,
            family_name=family,
            email=email,
            phone=phone,
            preferred_language=language,
        )
        PatientContact.objects.create(
            patient=patient,
            contact=contact,
            relationship=relationship,
            is_primary=primary,
            may_receive_clinical_info=clinical,
        )
    return contact


def appointment_make(clinic, patient, start, *, minutes=45, status="scheduled"):
    """An appointment row as the scheduling services write it (no messages planned)."""
    from clinic.scheduling.models import Appointment

    return Appointment.objects.create(
        practitioner=clinic.practitioner,
        patient=patient,
        service=clinic.service,
        location=clinic.location,
        start_at=start,
        end_at=start + datetime.timedelta(minutes=minutes),
        occupied_start=start,
        occupied_end=start + datetime.timedelta(minutes=minutes),
        status=status,
    )


def at(days=0, hours=0, minutes=0, *, tz="Europe/Paris", hour=None, minute=0):
    """An instant relative to now, or at a wall-clock hour `days` from today in `tz`."""
    import zoneinfo

    if hour is None:
        return timezone.now() + datetime.timedelta(days=days, hours=hours, minutes=minutes)
    local = timezone.now().astimezone(zoneinfo.ZoneInfo(tz)) + datetime.timedelta(days=days)
    return local.replace(hour=hour, minute=minute, second=0, microsecond=0)


@pytest.fixture
def clinic(org_a, owner_a):
    return clinic_make(org_a, owner_a)


@pytest.fixture
def run_tasks(monkeypatch):
    """Run every task that is due, in this thread (like one worker pass); with `now`, the whole
    stack sees that time (django.utils.timezone.now is patched while it runs)."""
    from django.utils import timezone as tz

    from clinic.core.worker import run_pending

    real_now = tz.now

    def run(now=None, limit=10_000):
        if now is None:
            return run_pending(limit=limit)
        monkeypatch.setattr(tz, "now", lambda: now)
        try:
            return run_pending(now=now, limit=limit)
        finally:
            monkeypatch.setattr(tz, "now", real_now)

    return run


# --- a real SMTP server on loopback ---------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class SmtpSink:
    """Counts the messages the server accepted. `hold_data`/`hold_rcpt` make the server wait
    (before answering the final "." / the RCPT command) until released."""

    messages: list = field(default_factory=list)
    hold_data: threading.Event | None = None
    hold_rcpt: threading.Event | None = None
    at_data: threading.Event = field(default_factory=threading.Event)
    at_rcpt: threading.Event = field(default_factory=threading.Event)
    refuse: dict = field(default_factory=dict)  # address -> "550 ..."
    data_reply: str | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def _hold(self, event):
        for _ in range(600):
            if event.is_set():
                return
            await asyncio.sleep(0.05)

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.refuse:
            return self.refuse[address]
        if self.hold_rcpt is not None:
            self.at_rcpt.set()
            await self._hold(self.hold_rcpt)
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            self.messages.append(envelope)
        if self.hold_data is not None:
            self.at_data.set()
            await self._hold(self.hold_data)
        if self.data_reply:
            return self.data_reply
        return f"250 2.0.0 Ok: queued as Q{len(self.messages)}"

    def count(self) -> int:
        with self.lock:
            return len(self.messages)

    def parsed(self):
        import email
        from email import policy

        with self.lock:
            return [
                email.message_from_bytes(m.content, policy=policy.default) for m in self.messages
            ]


@pytest.fixture
def smtp(settings):
    from aiosmtpd.controller import Controller

    sink = SmtpSink()
    port = free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    settings.EMAIL_BACKEND = "clinic.notifications.mail.SMTPBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = port
    settings.EMAIL_USE_TLS = False
    settings.DEFAULT_FROM_EMAIL = "Clinic <no-reply@clinic.test>"
    sink.port = port
    yield sink
    from clinic.notifications.services import email_connections_close

    email_connections_close()
    controller.stop()


def wait_for(predicate, timeout=20.0, interval=0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return False
