"""Waitlist rows for the cross-cutting tests: the RLS proof (tests/rls_rows.py), the route walk's
"another clinic's object" (tests/api/test_routes.py) and the query-count walker."""

from __future__ import annotations

from tests.scheduling.conftest import MONDAY, at, clinic_build


def waitlist_rows(persona, api) -> dict:
    """A row in every waitlist table (settings, an entry, an offer), written through the API."""
    clinic = clinic_build(persona)
    response = api.patch("waitlist-settings", persona, json={"offer_hold_minutes": 90})
    assert response.status_code == 200, response.content
    response = api.post(
        "waitlist",
        persona,
        json={
            "patient_id": str(clinic.patients[0].id),
            "service_id": str(clinic.consult.id),
            "earliest_date": MONDAY.isoformat(),
            "latest_date": MONDAY.isoformat(),
        },
    )
    assert response.status_code == 201, response.content
    entry_id = response.json()["id"]
    response = api.post(
        f"waitlist/{entry_id}/offers",
        persona,
        json={"start": at(MONDAY, 15).isoformat(), "practitioner_id": str(clinic.practitioner.id)},
    )
    assert response.status_code == 201, response.content
    return {"entry_id": entry_id, "offer_id": response.json()["id"]}


def other_org_object(kind: str):
    """For the route walk: a function(owner persona) → the id of one of that clinic's objects."""

    def make(persona):
        from django.test import Client

        class _Api:
            def _call(self, method, path, persona, json=None):
                import json as _json

                kwargs = dict(persona.headers)
                if json is not None:
                    kwargs["data"] = _json.dumps(json)
                    kwargs["content_type"] = "application/json"
                return getattr(Client(), method)(f"/api/v1/{path}", **kwargs)

            def post(self, path, persona, json=None):
                return self._call("post", path, persona, json or {})

            def patch(self, path, persona, json=None):
                return self._call("patch", path, persona, json or {})

        cache = getattr(persona, "_waitlist_ids", None)
        if cache is None:
            cache = waitlist_rows(persona, _Api())
            persona._waitlist_ids = cache
        return cache[kind]

    return make
