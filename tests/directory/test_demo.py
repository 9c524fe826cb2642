"""`clinic demo` also fills the directory: places, services, practitioners and 50 patients."""

from __future__ import annotations

import pytest

from tests.conftest import PASSWORD, unique_slug

pytestmark = pytest.mark.django_db


def test_demo_fills_the_directory(api, client):
    from clinic.accounts.models import Membership
    from clinic.core.demo import demo_create
    from clinic.core.tenancy import tenant_context
    from clinic.directory.demo import directory_demo_create
    from clinic.directory.models import (
        Contact,
        Location,
        Patient,
        PatientContact,
        Practitioner,
        Room,
        Service,
    )

    slug = unique_slug("demo")
    result = demo_create(slug=slug, password=PASSWORD)
    assert result.created and f"karim.haddad@{slug}.example" in result.emails
    org_id = Membership.unscoped_objects.get(user__email=f"owner@{slug}.example").organization_id
    with tenant_context(org_id):
        assert Location.objects.count() == 2 and Room.objects.count() == 3
        assert Service.objects.count() == 6
        practitioners = list(Practitioner.objects.prefetch_related("services"))
        assert len(practitioners) == 4
        for practitioner in practitioners:
            assert practitioner.membership_id and practitioner.default_location_id
            assert practitioner.services.exists()
        assert Patient.objects.count() == 50
        children = Patient.objects.filter(
            species="", contact_links__relationship__in=["parent", "legal_guardian"]
        ).distinct()
        assert children.count() >= 10
        animals = Patient.objects.exclude(species="")
        assert 3 <= animals.count() <= 10
        assert not animals.filter(contact_links__isnull=True).exists()
        assert Contact.objects.count() > 10 and PatientContact.objects.count() > 20
        # idempotent
        org = Membership.objects.select_related("organization").first().organization
        assert directory_demo_create(organization=org, password=PASSWORD) == []
        assert Patient.objects.count() == 50

    # the demo patient login sees its own record and its two animals
    client.post(
        "/login/",
        {"email": f"patient@{slug}.example", "password": PASSWORD, "organization": slug},
    )
    html = client.get("/patients/").content.decode()
    assert "3 patients" in html
