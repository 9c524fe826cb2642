"""Row makers for the row-level security proof (tests/core/test_rls.py).

The proof needs at least one row of each organization in every tenant table. Each function
here takes a persona (an owner, with the tenant active) and writes rows through the module's
services; add one when you add a tenant table.
"""

from __future__ import annotations

import uuid

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
    # an invitation (accounts_invitation)
    response = api.post(
        "invitations",
        persona,
        json={"email": f"invited-{uuid.uuid4().hex[:8]}@example.org", "role": "assistant"},
    )
    assert response.status_code == 201, response.content


@row_maker
def directory_rows(persona, api):
    # every directory table: locations, rooms, services, practitioners (+ their services),
    # patients (+ the MRN counter), contacts and links, and an import job
    from clinic.accounts.models import Membership
    from clinic.directory import importing, services

    actor = Membership.objects.select_related("organization").get(id=persona.membership.id)
    n = uuid.uuid4().hex[:6]  # unique names: the query-count walker calls the makers again
    location = services.location_create(actor=actor, data={"name": f"RLS site {n}"})
    services.room_create(actor=actor, data={"name": f"RLS room {n}", "location_id": location.id})
    service = services.service_create(
        actor=actor, data={"name": f"RLS service {n}", "duration_minutes": 30, "price": "10.00"}
    )
    services.practitioner_create(
        actor=actor, data={"display_name": "RLS practitioner", "service_ids": [service.id]}
    )
    patient = services.patient_create(
        actor=actor,
        data={"given_name": f"Rls {n}", "family_name": "Patient", "date_of_birth": "1990-01-01"},
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
def billing_rows(persona, api):
    # every billing table: settings, number sequences, tax rates, invoices (+ lines and the
    # appointment they bill), payments, allocations, credit notes, refunds, policies, claims
    from tests.billing.factories import every_table_rows

    every_table_rows(persona)


@row_maker
def scheduling_rows(persona, api):
    from tests.scheduling.rows import scheduling_rows as make

    make(persona, api)


@row_maker
def notifications_rows(persona, api):
    # every notifications table: settings, a patient's preference, a delivery (planned through
    # the general interface), an in-app notification, a user's settings
    import uuid as _uuid

    from clinic.directory.models import Patient
    from clinic.notifications import selectors as n_selectors
    from clinic.notifications import services as n_services

    n_services.notification_settings_update(reminder_offsets_minutes=[1440])
    patient = Patient.objects.create(
        mrn=f"N{_uuid.uuid4().hex[:8]}",
        given_name="Rls",
        family_name="Row",
        date_of_birth="1990-01-01",
        email="rls@example.org",
    )
    n_services.contact_preference_update(patient=patient, sms_enabled=False)
    recipients = n_selectors.patient_recipients(patient, default_language="en")
    planned = n_services.message_plan(
        event="invoice.issued",
        recipients=recipients,
        context={"invoice_number": "RLS-1", "amount": "1.00"},
        key=f"rls:{persona.org.slug}",
        time_zone="UTC",
    )
    assert planned
    n_services.notification_create(
        user_id=persona.user.id,
        event="staff.delivery_failed",
        context={"recipient_name": "x", "error": "y"},
        language="en",
        category="system",
    )
    n_services.user_notification_settings_update(membership=persona.membership, email_copies=True)


# end notifications_rows


@row_maker
def care_rows(persona, api):
    from tests.care.rows import care_rows as make

    make(persona)


@row_maker
def clinical_rows(persona, api):
    from tests.clinical.factories import clinical_rows as make

    make(persona)


@row_maker
def waitlist_rows(persona, api):
    from tests.waitlist.rows import waitlist_rows as make

    make(persona, api)


@row_maker
def privacy_rows(persona, api):
    from clinic.privacy.services import erasure_request
    from tests.directory import factories

    patient = factories.patient(persona, given_name="Erasable")
    erasure_request(
        actor=factories.actor_of(persona), patient_id=patient.id, reason="RLS row maker"
    )
