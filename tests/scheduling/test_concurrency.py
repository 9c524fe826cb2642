"""Real threads, committed data: 20 clients booking the same slot through the API get exactly one
201 and nineteen 409s, and the table holds no overlap. Then the same with holds."""

from __future__ import annotations

import json
import threading
from datetime import timedelta

import pytest
from django.db import connection, connections
from django.test import Client

from clinic.core.tenancy import tenant_context
from tests.conftest import org_create, persona_create, unique_slug
from tests.scheduling.conftest import MONDAY, at, clinic_build

THREADS = 20


def _fire(personas, path, bodies, headers=None):
    barrier = threading.Barrier(len(bodies))
    results: list = [None] * len(bodies)

    def run(i):
        client = Client()
        try:
            barrier.wait()
            response = client.post(
                f"/api/v1/{path}",
                data=json.dumps(bodies[i]),
                content_type="application/json",
                **personas[i % len(personas)].headers,
                **(headers(i) if headers else {}),
            )
            results[i] = (response.status_code, response.json())
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(bodies))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return results


def _no_overlap(org_id):
    with tenant_context(org_id), connection.cursor() as cur:
        cur.execute("""
            SELECT count(*) FROM scheduling_appointment a JOIN scheduling_appointment b
              ON a.id < b.id AND a.practitioner_id = b.practitioner_id
             AND tstzrange(a.occupied_start, a.occupied_end)
                 && tstzrange(b.occupied_start, b.occupied_end)
             AND a.status NOT IN ('cancelled', 'no_show') AND b.status NOT IN ('cancelled',
                 'no_show')""")
        return cur.fetchone()[0] == 0


@pytest.fixture
def committed_clinic(live_db):
    org = org_create(unique_slug("race"))
    owner = persona_create(org, "owner")
    clinic = clinic_build(owner)
    clinic.desk = [persona_create(org, "assistant") for _ in range(4)]
    return clinic


def test_twenty_threads_one_slot_exactly_one_booking(committed_clinic):
    clinic = committed_clinic
    bodies = [
        {
            "practitioner_id": str(clinic.practitioner.id),
            "patient_id": str(clinic.patients[i % 3].id),
            "service_id": str(clinic.consult.id),
            # all overlap 10:00–11:00 by at least 15 minutes
            "start": (at(MONDAY, 10) + timedelta(minutes=(i % 4) * 15)).isoformat(),
        }
        for i in range(THREADS)
    ]
    results = _fire([clinic.owner, *clinic.desk], "appointments", bodies)
    codes = sorted(code for code, _ in results)
    assert codes.count(201) == 1, results
    assert codes.count(409) == THREADS - 1, codes
    for code, body in results:
        if code == 409:
            assert body["error"]["code"] == "appointment_conflict"
            assert body["error"]["details"]["conflicts"]
    from clinic.scheduling.models import Appointment

    with tenant_context(clinic.org.id):
        assert Appointment.objects.count() == 1
    assert _no_overlap(clinic.org.id)


def test_twenty_threads_holding_one_slot_and_same_key_serialises(committed_clinic):
    clinic = committed_clinic
    body = {
        "practitioner_id": str(clinic.other_practitioner.id),
        "patient_id": str(clinic.patients[0].id),
        "service_id": str(clinic.consult.id),
        "start": at(MONDAY, 14).isoformat(),
    }
    # twenty different keys: one hold, nineteen 409 with retry_after
    results = _fire(
        [clinic.owner],
        "holds",
        [body] * THREADS,
        headers=lambda i: {"HTTP_IDEMPOTENCY_KEY": f"race-{i}"},
    )
    codes = [code for code, _ in results]
    assert codes.count(201) == 1 and codes.count(409) == THREADS - 1, codes
    assert all(b["error"]["details"]["retry_after"] > 0 for c, b in results if c == 409)
    # ten requests with the SAME key at the same time: one hold, the same answer ten times
    body2 = {**body, "start": at(MONDAY, 16).isoformat()}
    results = _fire(
        [clinic.owner],
        "holds",
        [body2] * 10,
        headers=lambda i: {"HTTP_IDEMPOTENCY_KEY": "same-key"},
    )
    assert {code for code, _ in results} == {201}
    assert len({b["id"] for _, b in results}) == 1
    from clinic.scheduling.models import Hold

    with tenant_context(clinic.org.id):
        assert Hold.objects.count() == 2
    assert _no_overlap(clinic.org.id)
