"""The patient timeline: the merge and cursor of clinic.core.timeline, each module's selector,
and GET /api/v1/patients/{id}/timeline (shape, paging, filters, 404s, 422s, query count)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from clinic.core import timeline
from clinic.core.tenancy import tenant_context
from clinic.core.timeline import Cursor, TimelineItem, cursor_decode, cursor_encode, timeline_page
from tests.conftest import persona_create
from tests.directory.chart_rows import ORIGIN, history_build, plan_make

pytestmark = pytest.mark.django_db

T0 = datetime(2031, 3, 2, 9, 0, tzinfo=UTC)


def _item(kind: str, minutes: int, object_id: uuid.UUID | None = None) -> TimelineItem:
    return TimelineItem(
        kind=kind,
        at=T0 + timedelta(minutes=minutes),
        title=f"{kind} {minutes}",
        status="x",
        object_id=object_id or uuid.uuid4(),
        url="/",
    )


# --- merge and cursor (no database) ---------------------------------------------------------------


def _desc(items):
    return sorted(items, key=lambda i: i.key, reverse=True)


def test_merge_is_newest_first_across_sources():
    a = _desc([_item("appointment", m) for m in (0, 30, 60)])
    b = _desc([_item("payment", m) for m in (10, 50)])
    page = timeline_page([a, b], limit=10)
    assert [i.at for i in page.items] == sorted((i.at for i in a + b), reverse=True)
    assert page.next is None


def test_cursor_round_trip_and_garbage():
    item = _item("invoice", 5)
    cursor = cursor_decode(cursor_encode(item))
    assert cursor == Cursor(at=item.at, kind="invoice", object_id=item.object_id)
    for bad in ("", "nope", "bm9wZQ", cursor_encode(item)[:-3] + "!!!"):
        with pytest.raises(ValueError):
            cursor_decode(bad)


def test_kinds_and_limit_parsing():
    assert timeline.kinds_parse("") == timeline.KINDS
    assert timeline.kinds_parse("plan,invoice") == ("plan", "invoice")
    with pytest.raises(ValueError):
        timeline.kinds_parse("plan,notes")
    assert timeline.limit_parse(None) == 20
    assert timeline.limit_parse("100") == 100
    for bad in ("0", "101", "x", "-1"):
        with pytest.raises(ValueError):
            timeline.limit_parse(bad)


# --- through the modules' selectors and the API ---------------------------------------------------


def _all_pages(api, persona, patient_id, **params):
    seen, before, pages = [], None, 0
    while True:
        query = "&".join(f"{k}={v}" for k, v in {**params, "before": before}.items() if v)
        response = api.get(f"patients/{patient_id}/timeline?{query}", persona)
        assert response.status_code == 200, response.content
        body = response.json()
        seen.extend(body["items"])
        pages += 1
        before = body["next"]
        if before is None:
            return seen, pages
        assert pages < 100


def test_api_shape_order_and_paging_until_the_end(api, owner_a):
    history = history_build(owner_a, appointments=3, payments=2, deliveries=2)
    plan_make(owner_a, history)
    response = api.get(f"patients/{history.patient.id}/timeline", owner_a)
    assert response.status_code == 200, response.content
    body = response.json()
    assert set(body) == {"items", "next"} and body["next"] is None
    items = body["items"]
    assert len(items) == 8
    assert {i["kind"] for i in items} == {"appointment", "payment", "message", "plan"}
    for item in items:
        assert set(item) == {"kind", "at", "title", "status", "object_id", "url"}
        at = datetime.fromisoformat(item["at"])
        assert at.utcoffset() is not None  # ISO 8601 with an offset
    # Europe/Paris in March 2031 is +01:00: the times are the clinic's wall times
    appointment = next(i for i in items if i["kind"] == "appointment")
    assert appointment["at"].endswith("+01:00")
    ats = [datetime.fromisoformat(i["at"]) for i in items]
    assert ats == sorted(ats, reverse=True)

    seen, pages = _all_pages(api, owner_a, history.patient.id, limit=3)
    assert pages == 3
    assert [i["object_id"] for i in seen] == [i["object_id"] for i in items]


def test_paging_with_equal_timestamps_shows_each_item_once(api, owner_a):
    """Ten payments and ten messages at the very same instant: pages of 3 never repeat or skip
    one (the order is (at, kind, id))."""
    from clinic.billing.models import Payment
    from clinic.notifications.models import Delivery

    history = history_build(owner_a, appointments=0, payments=10, deliveries=10)
    with tenant_context(owner_a.org.id):
        Payment.objects.filter(payer_patient=history.patient).update(received_at=ORIGIN)
        Delivery.objects.filter(patient=history.patient).update(sent_at=ORIGIN)
    seen, _pages = _all_pages(api, owner_a, history.patient.id, limit=3)
    ids = [i["object_id"] for i in seen]
    assert len(ids) == 20 and len(set(ids)) == 20


def test_kind_filter(api, owner_a):
    history = history_build(owner_a, appointments=2, payments=3, deliveries=1)
    plan_make(owner_a, history)
    path = f"patients/{history.patient.id}/timeline"
    payments = api.get(f"{path}?kind=payment", owner_a).json()["items"]
    assert [i["kind"] for i in payments] == ["payment"] * 3
    mixed = api.get(f"{path}?kind=plan,appointment", owner_a).json()["items"]
    assert sorted(i["kind"] for i in mixed) == ["appointment", "appointment", "plan"]
    seen, _ = _all_pages(api, owner_a, history.patient.id, kind="payment", limit=2)
    assert len(seen) == 3


def test_invoices_are_in_the_timeline(api, owner_a):
    from tests.billing import factories as billing

    history = history_build(owner_a, appointments=0, payments=0, deliveries=0)
    issued = billing.issued_invoice(owner_a, history.patient)
    draft = billing.invoice(owner_a, history.patient)
    items = api.get(f"patients/{history.patient.id}/timeline?kind=invoice", owner_a).json()
    by_id = {i["object_id"]: i for i in items["items"]}
    assert by_id[str(issued.id)]["status"] == "issued"
    assert issued.number in by_id[str(issued.id)]["title"]
    assert by_id[str(draft.id)]["status"] == "draft"
    assert by_id[str(issued.id)]["url"] == f"/billing/invoices/{issued.id}/"


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("kind=notes", "kind"),
        ("kind=plan,,x", "kind"),
        ("limit=0", "limit"),
        ("limit=101", "limit"),
        ("limit=ten", "limit"),
        ("before=not-a-cursor", "before"),
    ],
)
def test_bad_parameters_are_422_naming_them(api, owner_a, query, field):
    history = history_build(owner_a, appointments=1, payments=0, deliveries=0)
    response = api.get(f"patients/{history.patient.id}/timeline?{query}", owner_a)
    assert response.status_code == 422, response.content
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert field in error["details"] and field in error["message"]


def test_another_clinics_patient_is_404(api, owner_a, owner_b):
    history = history_build(owner_b, appointments=1, payments=1, deliveries=0)
    response = api.get(f"patients/{history.patient.id}/timeline", owner_a)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    assert api.get(f"patients/{uuid.uuid4()}/timeline", owner_a).status_code == 404


def test_a_patient_token_reads_its_own_timeline_only(api, owner_a):
    from clinic.directory.models import Patient

    history = history_build(owner_a, appointments=2, payments=1, deliveries=1)
    me = persona_create(owner_a.org, "patient")
    with tenant_context(owner_a.org.id):
        Patient.objects.filter(id=history.patient.id).update(membership_id=me.membership.id)
    mine = api.get(f"patients/{history.patient.id}/timeline", me)
    assert mine.status_code == 200, mine.content
    # their appointments and payments; the clinic's message log is front-desk only
    assert sorted({i["kind"] for i in mine.json()["items"]}) == ["appointment", "payment"]
    other = history.clinic.patients[1]
    assert api.get(f"patients/{other.id}/timeline", me).status_code == 404


def test_a_practitioner_sees_their_own_appointments_only(api, owner_a, practitioner_a):
    """Object scoping of each module applies: the patient is visible to every staff member, a
    practitioner's timeline shows their own appointments, not a colleague's."""
    from clinic.directory.models import Practitioner

    history = history_build(owner_a, appointments=2, payments=0, deliveries=0)
    with tenant_context(owner_a.org.id):
        Practitioner.objects.filter(id=history.clinic.practitioner.id).update(
            membership_id=practitioner_a.membership.id
        )
    items = api.get(f"patients/{history.patient.id}/timeline", practitioner_a).json()["items"]
    assert [i["kind"] for i in items] == ["appointment", "appointment"]
    with tenant_context(owner_a.org.id):
        Practitioner.objects.filter(id=history.clinic.practitioner.id).update(membership_id=None)
    items = api.get(f"patients/{history.patient.id}/timeline", practitioner_a).json()["items"]
    assert items == []


def _queries(api, persona, path) -> int:
    with CaptureQueriesContext(connection) as ctx:
        response = api.get(path, persona)
    assert response.status_code == 200, response.content
    return len(ctx.captured_queries)


def test_constant_queries_at_5_and_500_events(api, owner_a):
    small = history_build(owner_a, appointments=2, payments=2, deliveries=1)
    large = history_build(owner_a, appointments=200, payments=150, deliveries=150)
    for history in (small, large):
        plan_make(owner_a, history)
    api.get(f"patients/{small.patient.id}/timeline", owner_a)  # the token's first use is noted
    counts = {}
    for query in ("", "?limit=100", "?kind=payment,message"):
        counts[query] = [
            _queries(api, owner_a, f"patients/{h.patient.id}/timeline{query}")
            for h in (small, large)
        ]
        assert counts[query][0] == counts[query][1], (query, counts[query])
    # the next page of the large history costs the same
    first = api.get(f"patients/{large.patient.id}/timeline?limit=100", owner_a).json()
    assert len(first["items"]) == 100
    path = f"patients/{large.patient.id}/timeline?limit=100&before={first['next']}"
    assert _queries(api, owner_a, path) == counts["?limit=100"][0]
