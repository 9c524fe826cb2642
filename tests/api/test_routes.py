"""Walks every route registered on the API, so new routes are covered automatically:
- without credentials → 401 (except the few routes that are public by design);
- with clinic A's owner and an id that belongs to clinic B → 404, never 403, never B's data.

A new path parameter needs an entry in OTHER_ORG_OBJECTS (a function that returns an id of
clinic B's object of that kind); the test fails until it has one.
"""

from __future__ import annotations

import re
import uuid

import pytest

from clinic.api.main import api as ninja_api

PUBLIC_ROUTES = {
    ("POST", "/api/v1/auth/token"),
    ("POST", "/api/v1/invitations/accept"),
    # a waitlist offer's link: the secret in the URL is the patient's only credential
    ("GET", "/api/v1/offer-links/{token}"),
    ("POST", "/api/v1/offer-links/{token}/accept"),
    ("POST", "/api/v1/offer-links/{token}/decline"),
}


def _routes() -> list[tuple[str, str, bool]]:
    schema = ninja_api.get_openapi_schema()
    routes = []
    for path, ops in schema["paths"].items():
        for method, op in ops.items():
            routes.append((method.upper(), path, bool(op.get("security"))))
    return sorted(routes)


ROUTES = _routes()


def _token_of(persona):
    from clinic.accounts.models import ApiToken
    from clinic.core.tenancy import tenant_context

    with tenant_context(persona.org.id):
        return ApiToken.objects.filter(membership=persona.membership).first().id


def _audit_event_of(persona):
    from clinic.audit.models import AuditEvent
    from clinic.core.tenancy import tenant_context

    with tenant_context(persona.org.id):
        return AuditEvent.objects.first().id


def _directory(kind):
    def make(persona):
        from tests.directory import factories

        if kind == "link":
            return factories.link(persona, factories.patient(persona)).id
        return getattr(factories, kind)(persona).id

    return make


def _billing(kind):
    def make(persona):
        from tests.billing import factories

        return factories.route_object(persona, kind)

    return make


def _scheduling(kind):
    from tests.scheduling.rows import other_org_object

    return other_org_object(kind)


def _care(kind):
    from tests.care.rows import other_org_object

    return other_org_object(kind)


def _clinical(kind):
    from tests.clinical.factories import other_org_object

    return other_org_object(kind)


def _notifications_object(persona, kind):
    from clinic.core.tenancy import tenant_context
    from tests.rls_rows import notifications_rows

    with tenant_context(persona.org.id, persona.user.id):
        notifications_rows(persona, None)
        if kind == "notification":
            from clinic.notifications.models import Notification

            return Notification.objects.first().id
        from clinic.notifications.models import Delivery

        return Delivery.objects.first().id


def _waitlist(kind):
    from tests.waitlist.rows import other_org_object

    return other_org_object(kind)


def _unknown_offer_token(persona):
    """A public offer link's secret is its own credential, not another clinic's id: an unknown
    one is a 404 (the walk checks that no other clinic's offer is reached by guessing)."""
    return f"wlo_{uuid.uuid4().hex}"


def _session_of(persona):
    """A browser session of clinic B's owner (sign-in records it; clinic.accounts.user_sessions)."""
    from django.test import Client

    from clinic.accounts.models import UserSession
    from clinic.core.tenancy import tenant_context

    Client().force_login(persona.user)
    with tenant_context(persona.org.id, persona.user.id):
        return UserSession.objects.get(user=persona.user).id


def _invitation_of(persona):
    from clinic.accounts.services import invitation_send
    from clinic.core.tenancy import tenant_context

    with tenant_context(persona.org.id, persona.user.id):
        return invitation_send(
            actor=persona.membership, email="walker@other.example", role="assistant"
        ).invitation.id


# path parameter name -> function(owner_b persona) -> id of one of clinic B's objects
OTHER_ORG_OBJECTS = {
    "token_id": _token_of,
    "invitation_id": _invitation_of,
    "membership_id": lambda p: p.membership.id,
    "session_id": _session_of,
    "event_id": _audit_event_of,
    "notification_id": lambda p: _notifications_object(p, "notification"),
    "delivery_id": lambda p: _notifications_object(p, "delivery"),
    "location_id": _directory("location"),
    "room_id": _directory("room"),
    "service_id": _directory("service"),
    "practitioner_id": _directory("practitioner"),
    "patient_id": _directory("patient"),
    "contact_id": _directory("contact"),
    "link_id": _directory("link"),
    "invoice_id": _billing("invoice"),
    "line_id": _billing("line"),
    "payment_id": _billing("payment"),
    "allocation_id": _billing("allocation"),
    "credit_note_id": _billing("credit_note"),
    "tax_rate_id": _billing("tax_rate"),
    "policy_id": _billing("policy"),
    "claim_id": _billing("claim"),
    "appointment_id": _scheduling("appointment_id"),
    "series_id": _scheduling("series_id"),
    "hold_id": _scheduling("hold_id"),
    "rule_id": _scheduling("rule_id"),
    "exception_id": _scheduling("exception_id"),
    "feed_id": _scheduling("feed_id"),
    "time_off_id": _scheduling("time_off_id"),
    "closure_id": _scheduling("closure_id"),
    "plan_id": _care("plan_id"),
    "consultation_id": _care("consultation_id"),
    "encounter_id": _clinical("encounter_id"),
    "note_id": _clinical("note_id"),
    "allergy_id": _clinical("allergy_id"),
    "alert_id": _clinical("alert_id"),
    "condition_id": _clinical("condition_id"),
    "observation_id": _clinical("observation_id"),
    "document_id": _clinical("document_id"),
    "template_id": _clinical("template_id"),
    "consent_id": _clinical("consent_id"),
    "entry_id": _waitlist("entry_id"),
    "offer_id": _waitlist("offer_id"),
    "token": _unknown_offer_token,
}


# routes whose permission the owner does not hold: walked as this role of the same clinic
CALLER_ROLE = {("POST", "/api/v1/patients/{patient_id}/break-glass"): "practitioner"}


def _fill(path: str, values: dict[str, str]) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: str(values[m.group(1)]), path)


def _params(path: str) -> list[str]:
    return re.findall(r"\{(\w+)\}", path)


def test_there_are_routes_to_walk():
    assert len(ROUTES) >= 7


@pytest.mark.parametrize(
    ("method", "path", "secured"), ROUTES, ids=[f"{m} {p}" for m, p, _ in ROUTES]
)
def test_route_requires_authentication(method, path, secured, api):
    if (method, path) in PUBLIC_ROUTES:
        assert not secured
        return
    assert secured, f"{method} {path} is not protected by authentication"
    url = _fill(path, {p: uuid.uuid4() for p in _params(path)})
    response = getattr(api, method.lower())(url)
    assert response.status_code == 401, response.content
    assert response.json()["error"]["code"] == "not_authenticated"


@pytest.mark.parametrize(
    ("method", "path", "secured"),
    [r for r in ROUTES if _params(r[1])],
    ids=[f"{m} {p}" for m, p, _ in ROUTES if _params(p)],
)
def test_other_organizations_objects_are_not_found(
    method, path, secured, api, owner_a, owner_b, persona_factory
):
    missing = [p for p in _params(path) if p not in OTHER_ORG_OBJECTS]
    assert not missing, f"add {missing} to OTHER_ORG_OBJECTS for {method} {path}"
    url = _fill(path, {p: OTHER_ORG_OBJECTS[p](owner_b) for p in _params(path)})
    caller = (
        persona_factory(CALLER_ROLE[(method, path)]) if (method, path) in CALLER_ROLE else owner_a
    )
    response = getattr(api, method.lower())(url, caller)
    assert response.status_code == 404, (method, url, response.content)
    assert response.json()["error"]["code"] == "not_found"
    assert str(owner_b.org.id) not in response.content.decode()
