"""An appointment's API view names the treatment plan it was scheduled for and the invoice that
bills it (null when none, null for a role that may not open them), in the single view and in
every item of the calendar's range read; another clinic sees neither."""

from __future__ import annotations

from datetime import timedelta

from clinic.billing import services as billing_services
from clinic.core.tenancy import tenant_context
from clinic.scheduling.models import Appointment
from tests.billing import factories as billing_factories
from tests.care.conftest import at, monday
from tests.care.test_scheduling_sync import _consultation, bookable  # noqa: F401


def _range(api, persona):
    day = at(monday(), 0)
    window = f"start={day.isoformat()}&end={(day + timedelta(days=1)).isoformat()}"
    response = api.get("appointments?" + window.replace("+", "%2B"), persona)
    assert response.status_code == 200, response.content
    return {item["id"]: item for item in response.json()["items"]}


def test_plan_and_invoice_ids_in_the_appointment_view(
    api,
    owner_a,
    practitioner_a,
    owner_b,
    bookable,  # noqa: F811 (the fixture imported above)
    world,
):
    consultation = _consultation(api, owner_a, bookable, at(monday(), 9))
    scheduled = api.post(f"consultations/{consultation['id']}/schedule", owner_a, json={})
    assert scheduled.status_code == 200, scheduled.content
    in_plan = scheduled.json()["appointment_id"]
    plain = api.post(
        "appointments",
        owner_a,
        json={
            "practitioner_id": str(world.practitioner.id),
            "patient_id": str(world.patient.id),
            "service_id": str(world.service.id),
            "start": at(monday(), 11).isoformat(),
        },
    )
    assert plain.status_code == 201, plain.content
    assert plain.json()["plan_id"] is None and plain.json()["invoice_id"] is None
    plain_id = plain.json()["id"]

    # not billed yet: the plan only
    detail = api.get(f"appointments/{in_plan}", owner_a).json()
    assert detail["plan_id"] == bookable["id"] and detail["invoice_id"] is None

    with tenant_context(owner_a.org.id):
        Appointment.objects.filter(id=in_plan).update(status="completed")
    invoice = billing_factories.invoice(owner_a, world.patient, lines=[])
    billing_factories.in_tenant(
        owner_a,
        lambda a: billing_services.invoice_appointments_add(
            actor=a, invoice=invoice, appointment_ids=[in_plan]
        ),
    )

    for persona in (owner_a, practitioner_a):
        detail = api.get(f"appointments/{in_plan}", persona).json()
        items = _range(api, persona)
        assert items[in_plan]["plan_id"] == bookable["id"]
        assert items[plain_id]["plan_id"] is None and items[plain_id]["invoice_id"] is None
        assert detail["plan_id"] == bookable["id"]
        # practitioners see invoices only when the clinic allows it (off by default)
        expected_invoice = str(invoice.id) if persona is owner_a else None
        assert detail["invoice_id"] == items[in_plan]["invoice_id"] == expected_invoice

    # another clinic: the appointment is 404 and never appears in its range
    assert api.get(f"appointments/{in_plan}", owner_b).status_code == 404
    assert in_plan not in _range(api, owner_b)
