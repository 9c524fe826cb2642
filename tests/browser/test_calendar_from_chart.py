"""The calendar and the patient chart lead to each other: the chart's Book opens the booking
dialog with the patient chosen, an appointment's dialog links to the chart, and No-show is not
offered before an appointment has started (issue 11, section 4)."""

from __future__ import annotations

import json
import re

from django.test import Client
from playwright.sync_api import expect

from tests.browser.conftest import login
from tests.scheduling.conftest import MONDAY, at, clinic_build


def test_book_from_the_chart_and_back_to_the_chart(browser_page, committed_persona, clock):
    owner = committed_persona("owner")
    clinic = clinic_build(owner)
    patient = clinic.patients[0]
    clock.travel(at(MONDAY, 8))  # the appointment below is in the future
    page = browser_page
    login(page, owner)
    page.goto(f"/patients/{patient.id}/")
    page.locator("#book-appointment").click()
    dialog = page.get_by_role("dialog", name="Book an appointment")
    expect(dialog).to_be_visible()
    expect(dialog.locator("#patient-chosen")).to_contain_text(patient.display_name)
    dialog.get_by_label("Practitioner").select_option(str(clinic.practitioner.id))
    dialog.get_by_label("Service").select_option(str(clinic.consult.id))
    dialog.get_by_label("Start").fill(f"{MONDAY.isoformat()}T10:00")
    expect(dialog.locator("#book-check")).to_have_text("This time is free.")
    dialog.get_by_role("button", name="Book", exact=True).click()
    expect(page.locator("#cal-message")).to_have_text("Booked.")

    page.goto(f"/calendar/?date={MONDAY.isoformat()}")
    page.select_option("#cal-practitioner", str(clinic.practitioner.id))
    page.locator(".ec-event", has_text=patient.display_name).click()
    event = page.locator("#event-dialog")
    expect(event).to_be_visible()
    actions = event.locator("#event-actions button")
    expect(actions.filter(has_text="Confirm")).to_have_count(1)
    expect(actions.filter(has_text="No-show")).to_have_count(0)
    event.get_by_role("link", name="Open the patient's chart").click()
    page.wait_for_url(re.compile(rf"/patients/{patient.id}/$"))
    expect(page.locator("#upcoming-appointments")).to_contain_text("Consult")


def test_a_patient_of_another_clinic_is_not_preselected(browser_page, committed_persona):
    owner = committed_persona("owner")
    other = committed_persona("owner")
    clinic_build(owner)
    stranger = clinic_build(other).patients[0]
    page = browser_page
    login(page, owner)
    page.goto(f"/calendar/?patient={stranger.id}")
    page.wait_for_load_state("networkidle")
    expect(page.get_by_role("dialog", name="Book an appointment")).to_be_hidden()
    page.goto("/calendar/?patient=not-an-id")
    expect(page.get_by_role("heading", level=1)).to_have_text("Calendar")
    # the API still answers as before for the owner's own data
    response = Client(HTTP_HOST="localhost").get(
        "/api/v1/appointments?start=2031-06-02T00:00:00Z&end=2031-06-03T00:00:00Z"
    )
    assert response.status_code == 401, json.dumps(response.json())


def test_the_appointment_dialog_leads_to_its_plan_and_its_invoice(
    browser_page, committed_persona, clock
):
    """An appointment scheduled from a treatment plan and billed: its dialog links to both."""
    from clinic.billing import services as billing
    from clinic.care import services as care
    from clinic.core.tenancy import tenant_context
    from clinic.scheduling.models import Appointment
    from tests.billing.factories import actor_of

    owner = committed_persona("owner")
    clinic = clinic_build(owner)
    patient = clinic.patients[0]
    clock.travel(at(MONDAY, 8))
    with tenant_context(owner.org.id, owner.user.id):
        actor = actor_of(owner)
        plan = care.plan_create(
            actor=actor,
            data={
                "patient_id": patient.id,
                "practitioner_id": clinic.practitioner.id,
                "title": "Back pain",
                "start_date": MONDAY,
                "service_id": clinic.consult.id,
            },
        )
        plan = care.plan_status_set(actor=actor, plan=plan, status="active")
        consultation = care.consultation_create(
            actor=actor, plan=plan, data={"planned_start": at(MONDAY, 10)}
        )
        consultation = care.consultation_schedule(actor=actor, consultation=consultation)
        Appointment.objects.filter(id=consultation.appointment_id).update(status="completed")
        invoice = billing.invoice_create(actor=actor, data={"patient_id": patient.id, "lines": []})
        billing.invoice_appointments_add(
            actor=actor, invoice=invoice, appointment_ids=[consultation.appointment_id]
        )

    page = browser_page
    login(page, owner)
    for link, url in (
        ("Open the treatment plan", rf"/plans/{plan.id}/$"),
        ("Open the invoice", rf"/billing/invoices/{invoice.id}/$"),
    ):
        page.goto(f"/calendar/?date={MONDAY.isoformat()}")
        page.select_option("#cal-practitioner", str(clinic.practitioner.id))
        page.locator(".ec-event", has_text=patient.display_name).click()
        event = page.locator("#event-dialog")
        expect(event.get_by_role("link", name="Open the patient's chart")).to_be_visible()
        event.get_by_role("link", name=link).click()
        page.wait_for_url(re.compile(url))
