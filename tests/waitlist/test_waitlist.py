"""Waitlist: scores with their breakdown, matches, offers that hold the slot, answers through the
public link and by staff, the cascade, expiry, figures."""

from __future__ import annotations

from datetime import timedelta

import pytest

from clinic.core.tenancy import tenant_context
from tests.waitlist.conftest import MONDAY, NOW, at, book, cancel, entry_body

pytestmark = pytest.mark.django_db


def _entry(api, persona, body):
    response = api.post("waitlist", persona, json=body)
    assert response.status_code == 201, response.content
    return response.json()


def _offers(clinic):
    from clinic.waitlist.models import WaitlistOffer

    with tenant_context(clinic.org.id):
        return list(WaitlistOffer.objects.order_by("created_at"))


def _token_of(offer_id, clinic):
    """The link secret is only in the message: read it back from the planned delivery."""
    from clinic.notifications.models import Delivery

    with tenant_context(clinic.org.id):
        delivery = Delivery.objects.filter(subject_id=offer_id).first()
    assert delivery is not None, "the offer message was not planned"
    return delivery.context["offer_url"].rstrip("/").rsplit("/", 1)[-1], delivery


def test_score_and_breakdown_follow_inputs_and_weights(api, wl_clinic):
    clinic = wl_clinic
    body = entry_body(clinic, clinic.patients[3], urgency="urgent", referral_source="specialist")
    entry = _entry(api, clinic.owner, body)
    breakdown = entry["score_breakdown"]
    assert breakdown["urgency"] == {"value": 1.0, "weight": 0.3, "points": 0.3}
    assert breakdown["referral"]["points"] == 0.2
    assert breakdown["wait"]["days"] == 0
    assert entry["score"] == pytest.approx(0.5)
    # an input changes: the score follows
    response = api.patch(f"waitlist/{entry['id']}", clinic.owner, json={"urgency": "low"})
    assert response.status_code == 200
    assert response.json()["score"] == pytest.approx(0.275)
    # the organization's own weights
    response = api.patch("waitlist-settings", clinic.owner, json={"weight_urgency": 0.5})
    assert response.status_code == 200, response.content
    other = _entry(api, clinic.owner, entry_body(clinic, clinic.patients[4], urgency="urgent"))
    assert other["score_breakdown"]["urgency"]["points"] == 0.5
    # nightly: waiting time counts
    from clinic.waitlist import services

    with tenant_context(clinic.org.id):
        services.scores_refresh_all(today=NOW.date() + timedelta(days=30))
    refreshed = api.get(f"waitlist/{other['id']}", clinic.owner).json()
    assert refreshed["score_breakdown"]["wait"]["days"] == 30
    assert refreshed["score"] > other["score"]
    # listed best first
    listed = api.get("waitlist", clinic.owner).json()["items"]
    assert listed[0]["id"] == other["id"]


def test_invalid_entry_names_the_field(api, wl_clinic):
    clinic = wl_clinic
    body = entry_body(clinic, clinic.patients[3], urgency="whenever")
    response = api.post("waitlist", clinic.owner, json=body)
    assert response.status_code == 422
    assert "urgency" in response.json()["error"]["details"]
    body = entry_body(
        clinic, clinic.patients[3], latest_date=(MONDAY - timedelta(days=9)).isoformat()
    )
    response = api.post("waitlist", clinic.owner, json=body)
    assert response.status_code == 422
    assert "latest_date" in response.json()["error"]["details"]


def test_matches_rank_slots_with_breakdown(api, wl_clinic):
    clinic = wl_clinic
    body = entry_body(clinic, clinic.patients[3], preferred_days=[0], preferred_times=["morning"])
    entry = _entry(api, clinic.owner, body)
    response = api.get(f"waitlist/{entry['id']}/matches?limit=5", clinic.owner)
    assert response.status_code == 200, response.content
    matches = response.json()
    assert len(matches) == 5
    best = matches[0]
    assert set(best["breakdown"]) >= {"provider", "day", "time", "sooner", "priority", "total"}
    assert best["breakdown"]["day"]["value"] == 1.0 and best["breakdown"]["time"]["value"] == 1.0
    assert best["practitioner_id"] == str(clinic.practitioner.id)
    scores = [m["score"] for m in matches]
    assert scores == sorted(scores, reverse=True)


def test_cancellation_offers_the_slot_which_nobody_else_can_book(api, wl_clinic):
    clinic = wl_clinic
    appointment = book(api, clinic, clinic.owner, at(MONDAY, 10))
    low = _entry(api, clinic.owner, entry_body(clinic, clinic.patients[3], urgency="low"))
    urgent = _entry(api, clinic.owner, entry_body(clinic, clinic.patients[4], urgency="urgent"))
    cancel(api, clinic.owner, appointment["id"])
    (offer,) = _offers(clinic)
    assert str(offer.entry_id) == urgent["id"]
    assert offer.start_at == at(MONDAY, 10) and offer.status == "pending"
    # default: held 2 h
    assert offer.expires_at - NOW == pytest.approx(timedelta(hours=2), abs=timedelta(minutes=1))
    assert api.get(f"waitlist/{urgent['id']}", clinic.owner).json()["status"] == "offered"
    assert api.get(f"waitlist/{low['id']}", clinic.owner).json()["status"] == "active"
    # the message: the patient's language, the location's local time, the link
    _token, delivery = _token_of(offer.id, clinic)
    assert delivery.language == "fr" and delivery.channel == "email"
    assert "10:00" in delivery.context["when"]
    # someone else trying to book the offered slot: 409 with retry_after
    response = api.post(
        "appointments",
        clinic.owner,
        json={
            "practitioner_id": str(clinic.practitioner.id),
            "patient_id": str(clinic.patients[1].id),
            "service_id": str(clinic.consult.id),
            "start": at(MONDAY, 10).isoformat(),
        },
    )
    assert response.status_code == 409
    retry = response.json()["error"]["details"]["retry_after"]
    assert 0 < retry <= 2 * 3600 + 1
    # the offers list of the entry
    listed = api.get(f"waitlist/{urgent['id']}/offers", clinic.owner).json()
    assert listed[0]["status"] == "pending" and listed[0]["hold_id"] == str(offer.hold_id)


def test_accept_through_the_link_books_and_is_single_use(api, wl_clinic):
    clinic = wl_clinic
    appointment = book(api, clinic, clinic.owner, at(MONDAY, 10))
    entry = _entry(api, clinic.owner, entry_body(clinic, clinic.patients[3]))
    cancel(api, clinic.owner, appointment["id"])
    (offer,) = _offers(clinic)
    token, _delivery = _token_of(offer.id, clinic)
    shown = api.get(f"offer-links/{token}")
    assert shown.status_code == 200 and shown.json()["status"] == "pending"
    response = api.post(f"offer-links/{token}/accept")
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "accepted"
    again = api.post(f"offer-links/{token}/accept")
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "offer_accepted"
    booked = api.get(f"waitlist/{entry['id']}", clinic.owner).json()
    assert booked["status"] == "booked" and booked["booked_appointment_id"]
    detail = api.get(f"appointments/{booked['booked_appointment_id']}", clinic.owner).json()
    assert detail["status"] == "scheduled"
    assert detail["patient"]["id"] == str(clinic.patients[3].id)
    assert api.get("offer-links/wlo_nothing").status_code == 404
    figures = api.get("waitlist-figures", clinic.owner).json()
    assert figures["slots_offered"] == 1 and figures["fill_rate"] == 1.0
    assert figures["offers_per_fill"] == 1.0 and figures["median_minutes_to_fill"] is not None


def test_cascade_through_three_declines_ends_booked_by_the_fourth(api, wl_clinic):
    clinic = wl_clinic
    appointment = book(api, clinic, clinic.owner, at(MONDAY, 10))
    urgencies = ["urgent", "high", "medium", "low"]
    entries = [
        _entry(api, clinic.owner, entry_body(clinic, clinic.patients[3 + i], urgency=u))
        for i, u in enumerate(urgencies)
    ]
    cancel(api, clinic.owner, appointment["id"])
    for i in range(3):
        offers = _offers(clinic)
        live = [o for o in offers if o.status == "pending"]
        assert len(live) == 1 and str(live[0].entry_id) == entries[i]["id"]
        if i % 2:
            response = api.post(f"offers/{live[0].id}/decline", clinic.owner)
        else:
            token, _d = _token_of(live[0].id, clinic)
            response = api.post(f"offer-links/{token}/decline")
        assert response.status_code == 200, response.content
    last = [o for o in _offers(clinic) if o.status == "pending"]
    assert len(last) == 1 and str(last[0].entry_id) == entries[3]["id"]
    response = api.post(f"offers/{last[0].id}/accept", clinic.owner)
    assert response.status_code == 200, response.content
    statuses = [api.get(f"waitlist/{e['id']}", clinic.owner).json() for e in entries]
    assert [s["status"] for s in statuses] == ["active", "active", "active", "booked"]
    assert statuses[0]["declined_count"] == 1
    assert statuses[0]["score_breakdown"]["declines"]["points"] == -0.1
    assert [o.status for o in _offers(clinic)] == ["declined"] * 3 + ["accepted"]
    figures = api.get("waitlist-figures", clinic.owner).json()
    assert figures["offers_per_fill"] == 4.0


def test_an_expired_offer_is_refused_and_the_slot_goes_on(api, wl_clinic, clock):
    clinic = wl_clinic
    appointment = book(api, clinic, clinic.owner, at(MONDAY, 10))
    first = _entry(api, clinic.owner, entry_body(clinic, clinic.patients[3], urgency="urgent"))
    second = _entry(api, clinic.owner, entry_body(clinic, clinic.patients[4], urgency="low"))
    cancel(api, clinic.owner, appointment["id"])
    (offer,) = _offers(clinic)
    token, _d = _token_of(offer.id, clinic)
    clock.travel(NOW + timedelta(hours=2, minutes=5))
    response = api.post(f"offer-links/{token}/accept")
    assert response.status_code == 410, response.content
    assert response.json()["error"]["code"] == "offer_expired"
    offers = _offers(clinic)
    assert [o.status for o in offers] == ["expired", "pending"]
    assert str(offers[1].entry_id) == second["id"]
    assert api.get(f"waitlist/{first['id']}", clinic.owner).json()["status"] == "active"
    # the sweep does the same without anyone clicking
    from clinic.waitlist import services

    clock.travel(NOW + timedelta(hours=4, minutes=10))
    with tenant_context(clinic.org.id):
        assert services.offers_expire_sweep() == 1
    statuses = [o.status for o in _offers(clinic)]
    assert statuses[:2] == ["expired", "expired"]


def test_manual_offer_and_one_live_offer_per_entry(api, wl_clinic):
    clinic = wl_clinic
    entry = _entry(api, clinic.owner, entry_body(clinic, clinic.patients[3]))
    body = {"start": at(MONDAY, 14).isoformat(), "practitioner_id": str(clinic.practitioner.id)}
    response = api.post(f"waitlist/{entry['id']}/offers", clinic.owner, json=body)
    assert response.status_code == 201, response.content
    assert response.json()["link"].startswith("http")
    body["start"] = at(MONDAY, 15).isoformat()
    response = api.post(f"waitlist/{entry['id']}/offers", clinic.owner, json=body)
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "entry_offered"
    # withdrawing the entry withdraws its offer and frees the slot
    response = api.delete(f"waitlist/{entry['id']}", clinic.owner)
    assert response.status_code == 200 and response.json()["status"] == "withdrawn"
    assert [o.status for o in _offers(clinic)] == ["withdrawn"]
    book(api, clinic, clinic.owner, at(MONDAY, 14), patient=clinic.patients[1])


def test_the_periodic_job_offers_a_free_slot(api, wl_clinic):
    clinic = wl_clinic
    entry = _entry(api, clinic.owner, entry_body(clinic, clinic.patients[3]))
    from clinic.waitlist import services

    with tenant_context(clinic.org.id):
        assert services.entries_match_run() == 1
        assert services.entries_match_run() == 0  # one live offer per entry
    (offer,) = _offers(clinic)
    assert str(offer.entry_id) == entry["id"] and offer.source == "job"


def test_practitioner_role_and_patients(api, wl_clinic):
    from tests.conftest import persona_create

    clinic = wl_clinic
    patient = persona_create(clinic.org, "patient")
    response = api.get("waitlist", patient)
    assert response.status_code == 403
    assistant = persona_create(clinic.org, "assistant")
    entry = _entry(api, assistant, entry_body(clinic, clinic.patients[3]))
    assert api.get(f"waitlist/{entry['id']}", assistant).status_code == 200


@pytest.mark.parametrize("language", ["en", "fr", "ar"])
def test_offer_message_renders_in_each_language(language):
    from clinic.notifications.messages import message_render

    context = {
        "org_name": "Clinic W",
        "recipient_name": "Sam",
        "patient_name": "Sam",
        "for_self": True,
        "when": "Mon 2 Jun 2031, 10:00",
        "expires": "Thu 29 May 2031, 11:00",
        "service_name": "Consult",
        "practitioner_name": "Dr One",
        "location_name": "Site",
        "offer_url": "https://clinic.example/waitlist/offer/wlo_x/",
    }
    for channel in ("email", "sms", "in_app"):
        rendered = message_render(
            template="waitlist_offer", channel=channel, language=language, context=context
        )
        assert "10:00" in (rendered.subject + rendered.text)
        if channel != "in_app":
            assert "wlo_x" in rendered.text
    staff = message_render(
        template="staff_waitlist_accepted", channel="in_app", language=language, context=context
    )
    assert "Sam" in staff.text


@pytest.mark.parametrize("zone", ["Asia/Kolkata", "America/St_Johns"])
def test_offer_time_is_the_locations_wall_time_and_staff_hear_of_the_acceptance(api, clock, zone):
    from clinic.notifications.models import Notification
    from tests.conftest import org_create, persona_create, unique_slug
    from tests.scheduling.conftest import clinic_build
    from tests.waitlist.conftest import patients_add

    clock.travel(NOW)
    org = org_create(unique_slug("zone"), "Clinic Z", time_zone=zone)
    clinic = clinic_build(persona_create(org, "owner"), time_zone=zone)
    patients_add(clinic, 1)
    from zoneinfo import ZoneInfo

    start = at(MONDAY, 10, tz=ZoneInfo(zone))
    appointment = book(api, clinic, clinic.owner, start)
    entry = _entry(api, clinic.owner, entry_body(clinic, clinic.patients[3]))
    cancel(api, clinic.owner, appointment["id"])
    (offer,) = _offers(clinic)
    assert offer.start_at == start
    token, delivery = _token_of(offer.id, clinic)
    # +05:30 and −02:30 (summer) from UTC: read at the clinic, 10:00
    assert "10:00" in delivery.context["when"]
    response = api.post(f"offer-links/{token}/accept")
    assert response.status_code == 200, response.content
    with tenant_context(clinic.org.id):
        notices = Notification.objects.filter(event="staff.waitlist_accepted")
        assert notices.count() == 1
    assert api.get(f"waitlist/{entry['id']}", clinic.owner).json()["status"] == "booked"
