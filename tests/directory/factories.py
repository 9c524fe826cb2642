"""Directory rows for tests, made through the services (so they obey the same rules)."""

from __future__ import annotations

import itertools

from clinic.accounts.models import Membership
from clinic.core.tenancy import tenant_context
from clinic.directory import services

_counter = itertools.count(1)


def actor_of(persona) -> Membership:
    return Membership.objects.select_related("organization", "user").get(id=persona.membership.id)


def _in_tenant(persona, make):
    with tenant_context(persona.org.id, persona.user.id):
        return make(actor_of(persona))


def location(persona, **data):
    data.setdefault("name", f"Site {next(_counter)}")
    return _in_tenant(persona, lambda a: services.location_create(actor=a, data=data))


def room(persona, location_obj=None, **data):
    location_obj = location_obj or location(persona)
    data.setdefault("name", f"Room {next(_counter)}")
    data.setdefault("location_id", location_obj.id)
    return _in_tenant(persona, lambda a: services.room_create(actor=a, data=data))


def service(persona, **data):
    data.setdefault("name", f"Service {next(_counter)}")
    data.setdefault("duration_minutes", 45)
    data.setdefault("price", "50.00")
    return _in_tenant(persona, lambda a: services.service_create(actor=a, data=data))


def practitioner(persona, **data):
    data.setdefault("display_name", f"Dr Test {next(_counter)}")
    return _in_tenant(persona, lambda a: services.practitioner_create(actor=a, data=data))


def patient(persona, force=True, **data):
    n = next(_counter)
    data.setdefault("given_name", f"Given{n}")
    if not data.get("species"):
        data.setdefault("family_name", f"Family{n}")
        data.setdefault("date_of_birth", "1985-06-15")
    return _in_tenant(persona, lambda a: services.patient_create(actor=a, data=data, force=force))


def contact(persona, **data):
    data.setdefault("given_name", f"Contact{next(_counter)}")
    data.setdefault("family_name", "Guardian")
    return _in_tenant(persona, lambda a: services.contact_create(actor=a, data=data))


def link(persona, patient_obj, contact_obj=None, **data):
    contact_obj = contact_obj or contact(persona)
    data.setdefault("relationship", "owner" if patient_obj.species else "parent")
    data["contact_id"] = contact_obj.id
    return _in_tenant(
        persona,
        lambda a: services.patient_contact_add(actor=a, patient=patient_obj, data=data),
    )
