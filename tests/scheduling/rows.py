"""Scheduling rows for the cross-cutting tests: the RLS proof (tests/rls_rows.py) and the route
walk's "another clinic's object" (tests/api/test_routes.py)."""

from __future__ import annotations

from datetime import timedelta

from tests.scheduling.conftest import MONDAY, at, clinic_build


def scheduling_rows(persona, api) -> dict:
    """At least one row in every scheduling table, written through the API."""
    clinic = clinic_build(persona)  # availability rules
    base = {
        "practitioner_id": str(clinic.practitioner.id),
        "patient_id": str(clinic.patients[0].id),
        "service_id": str(clinic.consult.id),
    }
    ids = {"rule_id": None}
    response = api.patch("scheduling-settings", persona, json={"late_cancel_hours": 12})
    assert response.status_code == 200, response.content
    response = api.post("appointments", persona, json={**base, "start": at(MONDAY, 9).isoformat()})
    assert response.status_code == 201, response.content
    ids["appointment_id"] = response.json()["id"]
    response = api.post(
        "appointment-series",
        persona,
        json={**base, "start": at(MONDAY, 11).isoformat(), "rrule": "FREQ=WEEKLY;COUNT=2"},
    )
    assert response.status_code == 201, response.content
    ids["series_id"] = response.json()["series"]["id"]
    response = api.post(
        "holds", persona, json={**base, "start": at(MONDAY + timedelta(days=1), 9).isoformat()}
    )
    assert response.status_code == 201, response.content
    ids["hold_id"] = response.json()["id"]
    response = api.post(
        "availability-exceptions",
        persona,
        json={
            "practitioner_id": base["practitioner_id"],
            "kind": "blocked",
            "start": at(MONDAY, 13).isoformat(),
            "end": at(MONDAY, 14).isoformat(),
        },
    )
    assert response.status_code == 201, response.content
    ids["exception_id"] = response.json()["id"]
    response = api.post("ics-feeds", persona, json={"practitioner_id": base["practitioner_id"]})
    assert response.status_code == 201, response.content
    ids["feed_id"] = response.json()["id"]
    ids["rule_id"] = api.get("availability-rules", persona).json()[0]["id"]
    response = api.post(
        "time-off",
        persona,
        json={
            "practitioner_id": base["practitioner_id"],
            "start": at(MONDAY + timedelta(days=2), 8).isoformat(),
            "end": at(MONDAY + timedelta(days=2), 12).isoformat(),
            "type": "training",
        },
    )
    assert response.status_code == 201, response.content
    ids["time_off_id"] = response.json()["id"]
    response = api.post(
        "closures",
        persona,
        json={"name": "Public holiday", "start_date": str(MONDAY + timedelta(days=14))},
    )
    assert response.status_code == 201, response.content
    ids["closure_id"] = response.json()["id"]
    return ids


def other_org_object(kind: str):
    """For the route walk: a function(owner persona) → the id of one of that clinic's objects."""

    def make(persona):
        from django.test import Client

        class _Api:
            def __init__(self):
                self.client = Client()

            def _call(self, method, path, persona, json=None):
                import json as _json

                kwargs = dict(persona.headers)
                if json is not None:
                    kwargs["data"] = _json.dumps(json)
                    kwargs["content_type"] = "application/json"
                return getattr(self.client, method)(f"/api/v1/{path}", **kwargs)

            def get(self, path, persona):
                return self._call("get", path, persona)

            def post(self, path, persona, json=None):
                return self._call("post", path, persona, json or {})

            def patch(self, path, persona, json=None):
                return self._call("patch", path, persona, json or {})

        cache = getattr(persona, "_scheduling_ids", None)
        if cache is None:
            cache = scheduling_rows(persona, _Api())
            persona._scheduling_ids = cache
        return cache[kind]

    return make
