"""Row makers for the row-level security proof (tests/core/test_rls.py).

The proof needs at least one row of each organization in every tenant table. Each function
here takes a persona (an owner, with the tenant active) and writes rows through the module's
services; add one when you add a tenant table.
"""

from __future__ import annotations

ROW_MAKERS: list = []


def row_maker(func):
    ROW_MAKERS.append(func)
    return func


@row_maker
def accounts_and_core_rows(persona, api):
    # a token (accounts_apitoken) made with an Idempotency-Key (core_idempotencyrecord); the
    # persona's membership and the audit events exist already
    response = api.post(
        "auth/tokens",
        persona,
        json={"name": "rls"},
        headers={"HTTP_IDEMPOTENCY_KEY": f"rls-{persona.org.slug}"},
    )
    assert response.status_code == 201, response.content


@row_maker
def directory_rows(persona, api):
    # every directory table: locations, rooms, services, practitioners (+ their services),
    # patients (+ the MRN counter), contacts and links, and an import job
    from clinic.accounts.models import Membership
    from clinic.directory import importing, services

    actor = Membership.objects.select_related("organization").get(id=persona.membership.id)
    location = services.location_create(actor=actor, data={"name": "RLS site"})
    services.room_create(actor=actor, data={"name": "RLS room", "location_id": location.id})
    service = services.service_create(
        actor=actor, data={"name": "RLS service", "duration_minutes": 30, "price": "10.00"}
    )
    services.practitioner_create(
        actor=actor, data={"display_name": "RLS practitioner", "service_ids": [service.id]}
    )
    patient = services.patient_create(
        actor=actor,
        data={"given_name": "Rls", "family_name": "Patient", "date_of_birth": "1990-01-01"},
    )
    services.patient_contact_add(
        actor=actor,
        patient=patient,
        data={"relationship": "parent", "contact": {"given_name": "Rls", "family_name": "Kin"}},
    )
    importing.patient_import_start(
        actor=actor, filename="rls.csv", content=b"given_name\nX\n", options={}
    )


@row_maker
def scheduling_rows(persona, api):
    from tests.scheduling.rows import scheduling_rows as make

    make(persona, api)
