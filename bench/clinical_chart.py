"""Clinical record benchmark: the chart of a patient with a long history stays fast and keeps a
constant number of queries.

    .venv/bin/python -m bench clinical_chart [--encounters 500] [--notes-per-encounter 4]
                                             [--requests 100] [--org-slug SLUG]

Builds (once, reused afterwards) an organization with one practitioner and two patients: a
"heavy" one with `--encounters` encounters of `--notes-per-encounter` notes each (every other
note signed, one addendum in ten, 200 vital signs, allergies, conditions, documents, consents)
and a "light" one with one encounter and one note — the baseline in the same run. Everything is
written through the services (encryption, versions, audit), so it takes a few minutes the first
time. Then, as the practitioner, through the whole stack (session or bearer token, middleware,
row-level security): the chart page (summary, banner, the latest encounters and their notes,
documents, consents) and the encounters list of the API (the chart's "Encounters & notes"
tab, page 1), each `--requests` times; it prints p50/p95 and queries per request for both
patients and the heavy/light ratio. Figures go to `bench/results/clinical_chart.txt`.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from datetime import timedelta
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results" / "clinical_chart.txt"
PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\n%%EOF\n"


def _percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    index = max(0, min(len(ordered) - 1, round(pct / 100 * len(ordered) + 0.5) - 1))
    return ordered[index]


def _signature() -> str:
    import base64
    import io

    from PIL import Image, ImageDraw

    image = Image.new("RGBA", (200, 60), (0, 0, 0, 0))
    ImageDraw.Draw(image).line([(5, 50), (100, 10), (190, 40)], fill=(0, 0, 0, 255), width=3)
    out = io.BytesIO()
    image.save(out, format="PNG")
    return "data:image/png;base64," + base64.b64encode(out.getvalue()).decode()


def _patient_fill(actor, patient, practitioner, *, encounters: int, notes: int, log) -> None:
    from django.utils import timezone

    from clinic.clinical import services

    soap = {
        "subjective": "Knee pain when climbing stairs, better than last week. " * 3,
        "objective": "Swelling reduced; flexion 0-110 degrees; quadriceps 4/5.",
        "assessment": "Patellofemoral pain, improving.",
        "plan": "Continue the home programme; review in two weeks.",
    }
    started = time.perf_counter()
    for i in range(encounters):
        encounter = services.encounter_create(
            actor=actor, patient_id=patient.id, practitioner_id=practitioner.id
        )
        for j in range(notes):
            note = services.note_create(
                actor=actor, encounter=encounter, template="soap", sections=soap
            )
            if (i + j) % 2 == 0:
                services.note_sign(actor=actor, note_id=note.id)
                if (i * notes + j) % 10 == 0:
                    services.addendum_add(actor=actor, note_id=note.id, text="Phoned: better.")
        if encounters >= 50 and (i + 1) % 50 == 0:
            log(f"  {i + 1}/{encounters} encounters ({time.perf_counter() - started:.0f} s)")
    now = timezone.now()
    for k in range(min(200, encounters * 2)):
        services.observation_create(
            actor=actor,
            patient_id=patient.id,
            code="weight" if k % 2 else "heart_rate",
            value="71.5" if k % 2 else "72",
            recorded_at=now - timedelta(hours=k + 1),
        )
    services.allergy_create(
        actor=actor, patient_id=patient.id, substance="Penicillin", severity="severe"
    )
    services.condition_create(actor=actor, patient_id=patient.id, code="M22.2")
    for k in range(min(20, encounters)):
        services.document_upload(actor=actor, patient_id=patient.id, data=PDF, title=f"Scan {k}")


def _ensure_data(slug: str, args, log):
    from clinic.accounts.selectors import organization_by_slug
    from clinic.accounts.services import (
        membership_create,
        organization_create,
        user_get_or_create,
    )
    from clinic.clinical import services
    from clinic.clinical.models import ClinicalNote
    from clinic.core.tenancy import tenant_context
    from clinic.directory import services as directory
    from clinic.directory.models import Patient, Practitioner

    org = organization_by_slug(slug)
    if org is not None:
        with tenant_context(org.id):
            notes = ClinicalNote.objects.count()
            heavy = Patient.objects.get(family_name="Heavy")
            light = Patient.objects.get(family_name="Light")
            practitioner = Practitioner.objects.select_related("membership__user").get()
        log(f"Reusing organization '{slug}' ({notes:,} notes).")
        return org, practitioner.membership, heavy, light
    log(f"Building '{slug}': {args.encounters} encounters x {args.notes_per_encounter} notes…")
    org = organization_create(slug=slug, name="Clinical chart bench", time_zone="Europe/Paris")
    with tenant_context(org.id):
        user, _ = user_get_or_create(email=f"doc@{slug}.example", password="bench-password-1")
        membership = membership_create(organization=org, user=user, role="practitioner")
        owner_user, _ = user_get_or_create(
            email=f"owner@{slug}.example", password="bench-password-1"
        )
        owner = membership_create(organization=org, user=owner_user, role="owner")
    with tenant_context(org.id, owner_user.id):
        practitioner = directory.practitioner_create(
            actor=owner, data={"display_name": "Dr Bench", "membership_id": membership.id}
        )
        patients = {
            name: directory.patient_create(
                actor=owner,
                force=True,
                data={"given_name": "Chart", "family_name": name, "date_of_birth": "1980-05-02"},
            )
            for name in ("Heavy", "Light")
        }
        template = services.consent_template_create(
            actor=owner, data={"name": "Dry needling", "text": "I agree.", "validity_days": 365}
        )
        for patient in patients.values():
            services.consent_sign(
                actor=owner,
                patient_id=patient.id,
                template_id=template.id,
                signed_name="Chart Patient",
                signature=_signature(),
            )
        # a care relationship: the practitioner's plan for both patients
        from clinic.care import services as care

        for patient in patients.values():
            care.plan_create(
                actor=owner,
                data={
                    "patient_id": patient.id,
                    "practitioner_id": practitioner.id,
                    "title": "Knee rehabilitation",
                    "start_date": "2026-01-05",
                },
            )
    with tenant_context(org.id, user.id):
        from clinic.accounts.models import Membership

        actor = Membership.objects.select_related("organization", "user").get(id=membership.id)
        _patient_fill(
            actor,
            patients["Heavy"],
            practitioner,
            encounters=args.encounters,
            notes=args.notes_per_encounter,
            log=log,
        )
        _patient_fill(actor, patients["Light"], practitioner, encounters=1, notes=1, log=log)
    return org, membership, patients["Heavy"], patients["Light"]


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench clinical_chart")
    parser.add_argument("--encounters", type=int, default=500)
    parser.add_argument("--notes-per-encounter", type=int, default=4)
    parser.add_argument("--requests", type=int, default=100)
    parser.add_argument("--org-slug", default=None)
    args = parser.parse_args(argv)
    slug = args.org_slug or f"bench-clinical-{args.encounters}x{args.notes_per_encounter}"

    from clinic import cli

    lines: list[str] = []

    def log(text: str = "") -> None:
        print(text, flush=True)
        lines.append(text)

    cli._home()
    cli._secrets_ensure()
    with cli.Database():
        cli._django_setup()
        cli.cmd_migrate(argparse.Namespace(verbosity=0))
        return _run(args, slug, log, lines)


def _measure(get, path: str, requests: int):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    for _ in range(5):  # warm caches and connections
        get(path)
    timings = []
    for _ in range(requests):
        started = time.perf_counter()
        get(path)
        timings.append((time.perf_counter() - started) * 1000)
    with CaptureQueriesContext(connection) as ctx:
        get(path)
    return timings, len(ctx.captured_queries)


def _run(args, slug, log, lines) -> int:
    import logging

    import structlog
    from django.conf import settings
    from django.db import connection
    from django.test import Client

    from clinic.accounts.services import token_create
    from clinic.core.tenancy import tenant_context

    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]
    # one log line per request would drown the figures
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    org, membership, heavy, light = _ensure_data(slug, args, log)
    with tenant_context(org.id):
        raw = token_create(membership=membership, name="bench").raw
    api = Client(HTTP_AUTHORIZATION=f"Bearer {raw}")
    page = Client()
    page.force_login(membership.user)

    def getter(client):
        def get(path: str):
            response = client.get(path)
            assert response.status_code == 200, (path, response.status_code)
            return response

        return get

    rows = []
    for label, client, template in (
        ("chart page  GET /patients/{id}/", page, "/patients/{id}/"),
        (
            "encounters  GET /api/v1/encounters?patient_id=",
            api,
            "/api/v1/encounters?patient_id={id}",
        ),
        (
            "  the same, page_size=10 (what the chart shows)",
            api,
            "/api/v1/encounters?patient_id={id}&page_size=10",
        ),
    ):
        figures = {}
        for name, patient in (("light", light), ("heavy", heavy)):
            timings, queries = _measure(
                getter(client), template.format(id=patient.id), args.requests
            )
            figures[name] = (statistics.median(timings), _percentile(timings, 95), queries)
        rows.append((label, figures))

    log("")
    log(
        f"Chart of a patient with {args.encounters} encounters and "
        f"{args.encounters * args.notes_per_encounter:,} notes ('heavy') against one with 1 and 1 "
        f"('light'), {args.requests} requests each, as the practitioner"
    )
    log("  request                                         patient   p50 ms   p95 ms  queries")
    for label, figures in rows:
        for name in ("light", "heavy"):
            p50, p95, queries = figures[name]
            log(f"  {label:<47} {name:<7} {p50:8.1f} {p95:8.1f} {queries:8d}")
        ratio = figures["heavy"][0] / figures["light"][0]
        log(f"  {'':<47} heavy/light p50 ratio {ratio:.2f}")
    RESULTS.parent.mkdir(exist_ok=True)
    header = (
        f"# {time.strftime('%Y-%m-%d')} · PostgreSQL "
        f"{connection.cursor().connection.info.server_version} · "
        f"{os.cpu_count()} CPUs · python -m bench clinical_chart "
        f"--encounters {args.encounters} --notes-per-encounter {args.notes_per_encounter} "
        f"--requests {args.requests}"
    )
    RESULTS.write_text("\n".join([header, *lines]) + "\n")
    return 0
