"""The demo clinic: what `clinic demo` and a first `make run` create."""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db import transaction

from clinic.accounts.roles import Role


@dataclass
class DemoResult:
    created: bool
    name: str = ""
    emails: list[str] = field(default_factory=list)


def demo_create(*, slug: str = "demo", password: str) -> DemoResult:
    """An organization with one user per role, `{role}@{slug}.example`. Idempotent by slug."""
    from clinic.accounts.selectors import organization_by_slug
    from clinic.accounts.services import (
        membership_create,
        organization_create,
        user_get_or_create,
    )
    from clinic.core.tenancy import tenant_context

    if organization_by_slug(slug) is not None:
        return DemoResult(created=False)
    with transaction.atomic():
        org = organization_create(
            slug=slug,
            name=f"{slug.replace('-', ' ').title()} Clinic",
            time_zone="Europe/Paris",
            currency="EUR",
            default_locale="en",
        )
        emails = []
        with tenant_context(org.id):
            for role in Role:
                email = f"{role.value}@{slug}.example"
                user, _ = user_get_or_create(
                    email=email, password=password, full_name=f"{role.label} {slug.title()}"
                )
                membership_create(organization=org, user=user, role=role.value)
                emails.append(email)
            from clinic.directory.demo import directory_demo_create

            emails += directory_demo_create(organization=org, password=password)
            from clinic.scheduling.demo import scheduling_demo_create

            scheduling_demo_create(organization=org)
            from clinic.billing.demo import billing_demo_create

            billing_demo_create(organization=org)
    return DemoResult(created=True, name=org.name, emails=emails)
