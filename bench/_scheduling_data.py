"""Shared set-up of the scheduling benchmarks: the database, Django, and an organization with
200 practitioners, 100k patients and N appointments (`clinic generate --appointments N`
semantics), generated once per scale and reused afterwards."""

from __future__ import annotations

import statistics
import time


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    index = max(0, min(len(ordered) - 1, round(pct / 100 * len(ordered) + 0.5) - 1))
    return ordered[index]


def summary(values: list[float]) -> str:
    return (
        f"p50 {statistics.median(values):.1f} ms   p95 {percentile(values, 95):.1f} ms   "
        f"max {max(values):.1f} ms   (n={len(values)})"
    )


def statements(captured) -> int:
    """SQL statements in a CaptureQueriesContext, transaction control left out (Django logs
    BEGIN, COMMIT and savepoints too)."""
    return sum(
        1
        for q in captured.captured_queries
        if q["sql"] not in ("BEGIN", "COMMIT", "ROLLBACK") and "SAVEPOINT" not in q["sql"]
    )


def django_ready() -> None:
    import argparse

    from clinic import cli

    cli._home()
    cli._secrets_ensure()
    cli._django_setup()
    cli.cmd_migrate(argparse.Namespace(verbosity=0))
    from django.conf import settings

    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]
    # Requests are measured in this process: settle it as clinic.wsgi settles a server worker.
    from clinic.core.startup import startup_objects_freeze

    startup_objects_freeze()


def organization(
    *,
    appointments: int,
    practitioners: int = 200,
    patients: int = 100_000,
    seed: int = 1,
    slug: str | None = None,
    log=print,
):
    """The benchmark organization at this scale (generated the first time)."""
    from clinic.accounts.selectors import organization_by_slug
    from clinic.core.tenancy import tenant_context
    from clinic.directory.generator import generate
    from clinic.directory.progress import ProgressBar
    from clinic.scheduling.generator import appointments_generate
    from clinic.scheduling.models import Appointment

    slug = slug or f"bench-sched-{practitioners}-{patients}-{appointments}"
    org = organization_by_slug(slug)
    if org is None:
        log(f"Generating '{slug}': {practitioners} practitioners, {patients:,} patients…")
        result = generate(
            org_slug=slug,
            practitioners=practitioners,
            patients=patients,
            seed=seed,
            progress=ProgressBar(),
        )
        log(f"  directory in {result.seconds:.1f}s")
        org = organization_by_slug(slug)
    with tenant_context(org.id):
        existing = Appointment.objects.count()
    if existing < appointments:
        if existing:
            raise SystemExit(f"'{slug}' has {existing:,} appointments; use another --slug.")
        log(f"Generating {appointments:,} appointments in '{slug}'…")
        started = time.monotonic()
        result = appointments_generate(
            organization_id=org.id, appointments=appointments, seed=seed, progress=ProgressBar()
        )
        log(
            f"  {result.appointments:,} appointments ({result.first_day} … {result.last_day}) "
            f"in {time.monotonic() - started:.1f}s"
        )
    else:
        log(f"Reusing '{slug}' ({existing:,} appointments).")
    return org


def owner_token(org) -> str:
    from clinic.accounts.models import Membership
    from clinic.accounts.services import token_create
    from clinic.core.tenancy import tenant_context

    with tenant_context(org.id):
        owner = (
            Membership.objects.select_related("user", "organization").filter(role="owner").first()
        )
        return token_create(membership=owner, name="bench").raw
