"""Waitlist pages: the board (scores, breakdown, matches, manual offer), "add to waitlist" from
the chart, the patient's public offer page."""

from __future__ import annotations

import pytest

from clinic.core.tenancy import tenant_context
from tests.waitlist.conftest import MONDAY, at, book, cancel, entry_body

pytestmark = pytest.mark.django_db


def _login(client, persona):
    client.force_login(persona.user)
    return client


def test_board_add_and_manual_offer(client, api, wl_clinic):
    clinic = wl_clinic
    _login(client, clinic.owner)
    patient = clinic.patients[3]
    chart = client.get(f"/patients/{patient.id}/")
    assert chart.status_code == 200 and b'id="add-to-waitlist"' in chart.content
    form = client.get(f"/waitlist/add/?patient={patient.id}")
    assert form.status_code == 200
    response = client.post(
        f"/waitlist/add/?patient={patient.id}",
        {
            "patient_id": str(patient.id),
            "service_id": str(clinic.consult.id),
            "earliest_date": MONDAY.isoformat(),
            "latest_date": MONDAY.isoformat(),
            "urgency": "high",
            "preferred_times": ["morning"],
        },
    )
    assert response.status_code == 302, response.content
    entry_url = response["Location"]
    board = client.get(entry_url)
    assert board.status_code == 200
    assert patient.display_name.encode() in board.content
    assert b"score-breakdown" in board.content and b"Offer this slot" in board.content
    entry_id = entry_url.split("entry=")[1]
    response = client.post(
        f"/waitlist/{entry_id}/offer/",
        {"start": at(MONDAY, 9).isoformat(), "practitioner_id": str(clinic.practitioner.id)},
    )
    assert response.status_code == 302
    from clinic.waitlist.models import WaitlistOffer

    with tenant_context(clinic.org.id):
        assert WaitlistOffer.objects.get().status == "pending"
    # a bad date: the form says what is wrong
    response = client.post(
        f"/waitlist/add/?patient={patient.id}",
        {
            "service_id": str(clinic.consult.id),
            "earliest_date": "2031-06-09",
            "latest_date": "2031-06-01",
        },
    )
    assert response.status_code == 422


def test_public_offer_page_accepts_by_post(client, api, wl_clinic):
    clinic = wl_clinic
    appointment = book(api, clinic, clinic.owner, at(MONDAY, 10))
    api.post("waitlist", clinic.owner, json=entry_body(clinic, clinic.patients[3]))
    cancel(api, clinic.owner, appointment["id"])
    from clinic.notifications.models import Delivery

    with tenant_context(clinic.org.id):
        delivery = Delivery.objects.filter(event="waitlist.offer").first()
    path = "/" + delivery.context["offer_url"].split("/", 3)[3]
    page = client.get(path)
    assert page.status_code == 200 and b"Accept this appointment" in page.content
    assert b"10:00" in page.content  # the location's wall time
    response = client.post(path, {"answer": "accept"})
    assert response.status_code == 200 and b'id="offer-outcome"' in response.content
    again = client.post(path, {"answer": "accept"})
    assert again.status_code == 409
    assert client.get("/waitlist/offer/wlo_unknown/").status_code == 404


def test_settings_page_in_percent_recomputes_scores_and_refuses_bad_values(
    client, api, wl_clinic, persona_factory
):
    from tests.waitlist.conftest import entry_body as body_of

    clinic = wl_clinic
    entry = api.post(
        "waitlist", clinic.owner, json=body_of(clinic, clinic.patients[3], urgency="urgent")
    ).json()
    assert entry["score_breakdown"]["urgency"]["points"] == 0.3
    _login(client, clinic.owner)
    assert b'id="waitlist-settings-link"' in client.get("/waitlist/").content
    page = client.get("/waitlist/settings/").content.decode()
    assert 'name="weight_urgency"' in page and 'value="30"' in page  # 0.300 shown as 30 %
    form = {
        "weight_wait": "40",
        "weight_urgency": "50",
        "weight_referral": "20",
        "decline_penalty": "10",
        "wait_full_days": "60",
        "match_threshold": "50",
        "offer_hold_minutes": "90",
        "offer_lead_minutes": "120",
    }
    saved = client.post("/waitlist/settings/", form)
    assert saved.status_code == 302, saved.content
    settings = api.get("waitlist-settings", clinic.owner).json()
    assert settings["weight_urgency"] == 0.5 and settings["offer_hold_minutes"] == 90
    # the open entry's score follows the new weight at once, not only at night
    after = api.get(f"waitlist/{entry['id']}", clinic.owner).json()
    assert after["score_breakdown"]["urgency"]["points"] == 0.5
    # out of range: 422, the field named, what was typed kept, nothing saved
    bad = client.post(
        "/waitlist/settings/", dict(form, weight_urgency="150", offer_hold_minutes="1")
    )
    assert bad.status_code == 422
    html = bad.content.decode()
    assert 'id="id_weight_urgency_error"' in html and 'value="150"' in html
    assert 'id="id_offer_hold_minutes_error"' in html
    assert api.get("waitlist-settings", clinic.owner).json()["weight_urgency"] == 0.5
    # the API refuses the same at the service (ranges checked once)
    refused = api.patch("waitlist-settings", clinic.owner, json={"offer_lead_minutes": -5})
    assert refused.status_code == 422 and "offer_lead_minutes" in refused.content.decode()
    # front desk may use the waitlist but not configure it
    desk = persona_factory("assistant", org=clinic.org)
    _login(client, desk)
    assert client.get("/waitlist/settings/").status_code in (403, 404)
    assert b'id="waitlist-settings-link"' not in client.get("/waitlist/").content
