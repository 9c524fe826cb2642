"""Slot search, issue 18: a patient-role caller may ask for slots only for themselves and their
dependants (defect 6), and archived locations and services offer no slot (defect 9)."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from clinic.core.tenancy import tenant_context
from tests.scheduling.conftest import MONDAY, at
from tests.scheduling.test_slots import _url


def _link_patient(clinic, persona, *, own: int, dependant: int | None = None) -> None:
    """`persona` (a patient-role membership) is patient `own`, and a parent of `dependant`."""
    from clinic.directory.models import Contact, Patient, PatientContact

    with tenant_context(clinic.org.id):
        Patient.objects.filter(id=clinic.patients[own].id).update(
            membership_id=persona.membership.id
        )
        if dependant is not None:
            contact = Contact.objects.create(
                given_name="Parent", family_name="Of", membership_id=persona.membership.id
            )
            PatientContact.objects.create(
                patient=clinic.patients[dependant], contact=contact, relationship="parent"
            )


@pytest.mark.django_db
def test_patient_token_slots_only_for_self_and_dependants(api, clinic, booking, persona_factory):
    me = persona_factory("patient")
    _link_patient(clinic, me, own=0, dependant=1)
    # patient 2 (not mine) has an appointment with the other practitioner at 10:00
    other = api.post(
        "appointments",
        clinic.owner,
        json=booking(
            at(MONDAY, 10),
            patient_id=clinic.patients[2].id,
            practitioner_id=clinic.other_practitioner.id,
        ),
    )
    assert other.status_code == 201, other.content
    url = _url(clinic, at(MONDAY, 9), at(MONDAY, 12), practitioner_id=[clinic.practitioner.id])

    # another patient of the clinic: 404, as a record the caller may not see (never a 403),
    # and nothing about that patient's appointments in the answer
    response = api.get(url + f"&patient_id={clinic.patients[2].id}", me)
    assert response.status_code == 404, response.content
    assert response.json()["error"]["code"] == "not_found"
    assert "slots" not in response.json()
    # an id that is no patient at all answers the same
    from uuid import uuid4

    response = api.get(url + f"&patient_id={uuid4()}", me)
    assert response.status_code == 404

    # self and a dependant: allowed
    for index in (0, 1):
        response = api.get(url + f"&patient_id={clinic.patients[index].id}", me)
        assert response.status_code == 200, response.content
        assert response.json()["slots"]
    # without a patient: allowed (no patient's appointments are considered)
    assert api.get(url, me).status_code == 200

    # staff unchanged: any patient of the clinic, and the slots exclude that patient's time
    response = api.get(url + f"&patient_id={clinic.patients[2].id}", clinic.owner)
    assert response.status_code == 200
    starts = {datetime.fromisoformat(s["start"]) for s in response.json()["slots"]}
    assert at(MONDAY, 9) in starts and at(MONDAY, 10) not in starts
    assistant = persona_factory("assistant")
    assert api.get(url + f"&patient_id={clinic.patients[2].id}", assistant).status_code == 200


@pytest.mark.django_db
def test_patient_token_dependant_link_must_be_responsible_and_live(api, clinic, persona_factory):
    """A contact link that is not a responsibility (e.g. an emergency contact), or an archived
    contact, gives no access to that patient's slots."""
    from django.utils import timezone

    from clinic.directory.models import Contact, PatientContact

    me = persona_factory("patient")
    _link_patient(clinic, me, own=0)
    former = persona_factory("patient")
    with tenant_context(clinic.org.id):
        contact = Contact.objects.create(
            given_name="Friend", family_name="Of", membership_id=me.membership.id
        )
        PatientContact.objects.create(
            patient=clinic.patients[1], contact=contact, relationship="emergency_contact"
        )
        archived = Contact.objects.create(
            given_name="Old",
            family_name="Parent",
            membership_id=former.membership.id,
            archived_at=timezone.now(),
        )
        PatientContact.objects.create(
            patient=clinic.patients[2], contact=archived, relationship="parent"
        )
    url = _url(clinic, at(MONDAY, 9), at(MONDAY, 12))
    assert api.get(url + f"&patient_id={clinic.patients[0].id}", me).status_code == 200
    assert api.get(url + f"&patient_id={clinic.patients[1].id}", me).status_code == 404
    assert api.get(url + f"&patient_id={clinic.patients[2].id}", former).status_code == 404


def _archive(model, obj, clinic):
    with tenant_context(clinic.org.id):
        model.objects.filter(id=obj.id).update(is_active=False)


@pytest.mark.django_db
def test_slots_skip_archived_locations(api, clinic, booking):
    """The practitioner also works Saturdays (a weekly rule) and one Sunday (extra hours) at a
    second site, which is then archived: neither gives a slot any more, the other slots are
    unchanged, and they can be booked."""
    from clinic.directory.models import Location
    from clinic.scheduling.models import AvailabilityException, AvailabilityRule

    day = MONDAY + timedelta(days=7)
    with tenant_context(clinic.org.id):
        annex = Location.objects.create(name="Annex 18", time_zone="Europe/Paris")
        # Saturday at the annex (nobody works Saturdays at the main site)
        AvailabilityRule.objects.create(
            practitioner=clinic.practitioner,
            location=annex,
            weekday=5,
            start_time="09:00",
            end_time="12:00",
        )
        # and extra hours on Sunday at the annex
        AvailabilityException.objects.create(
            practitioner=clinic.practitioner,
            kind="extra",
            location=annex,
            start_at=at(day + timedelta(days=6), 9),
            end_at=at(day + timedelta(days=6), 12),
        )
    url = _url(clinic, at(day, 0), at(day + timedelta(days=7), 0), limit=1000)
    before = api.get(url, clinic.owner).json()["slots"]
    assert {s["location_id"] for s in before} == {str(clinic.location.id), str(annex.id)}
    at_annex = [s for s in before if s["location_id"] == str(annex.id)]
    assert len({s["start"][:10] for s in at_annex}) == 2  # Saturday and Sunday

    _archive(Location, annex, clinic)
    response = api.get(url, clinic.owner)
    assert response.status_code == 200
    after = response.json()["slots"]
    assert after and {s["location_id"] for s in after} == {str(clinic.location.id)}
    assert [s for s in before if s["location_id"] != str(annex.id)] == after
    # filtering on the archived location: nothing
    response = api.get(url + f"&location_id={annex.id}", clinic.owner)
    assert response.status_code == 200 and response.json()["slots"] == []
    # every slot offered can be booked
    first = after[0]
    booked = api.post(
        "appointments",
        clinic.owner,
        json=booking(
            datetime.fromisoformat(first["start"]),
            practitioner_id=first["practitioner_id"],
            location_id=first["location_id"],
        ),
    )
    assert booked.status_code == 201, booked.content


@pytest.mark.django_db
def test_slots_for_an_archived_service_are_refused_like_booking(api, clinic, booking):
    from clinic.directory.models import Service

    url = _url(clinic, at(MONDAY, 8), at(MONDAY, 18))
    assert api.get(url, clinic.owner).json()["slots"]
    _archive(Service, clinic.consult, clinic)
    response = api.get(url, clinic.owner)
    assert response.status_code == 422, response.content
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert "service_id" in error["details"]
    # the same answer as booking it
    booked = api.post("appointments", clinic.owner, json=booking(at(MONDAY, 9)))
    assert booked.status_code == 422
    assert booked.json()["error"]["code"] == error["code"]
    assert booked.json()["error"]["details"]["service_id"] == error["details"]["service_id"]


@pytest.mark.django_db
def test_patient_scope_check_costs_no_statement(
    api, clinic, persona_factory, django_assert_max_num_queries
):
    """The self/dependant check rides in the service's query: a patient asking for their own
    slots runs as many statements as one asking without a patient."""
    me = persona_factory("patient")
    _link_patient(clinic, me, own=0)
    url = _url(clinic, at(MONDAY, 8), at(MONDAY, 18))
    api.get(url, me)  # warm caches (settings, token)
    with django_assert_max_num_queries(50) as plain:
        assert api.get(url, me).status_code == 200
    with django_assert_max_num_queries(len(plain.captured_queries)):
        assert api.get(url + f"&patient_id={clinic.patients[0].id}", me).status_code == 200
