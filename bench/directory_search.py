"""Directory benchmark: patient search latency at scale, and queries per request of the list
endpoints and the patients page.

    .venv/bin/python -m bench directory_search [--patients 100000] [--practitioners 200]
                                               [--seed 1] [--rounds 3] [--org-slug SLUG]

Generates the organization with `clinic generate` semantics the first time (about 30 s for 100k
patients; reused afterwards), then sends realistic searches through the whole stack (Django
test client: middleware, bearer token, row-level security, the API) and prints p50/p95, the
query plan of a name search (which indexes it reads), and the queries each list endpoint runs
at page sizes 50 and 200. Results are also written to bench/results/directory_search.txt.
"""

from __future__ import annotations

import argparse
import random
import re
import statistics
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results" / "directory_search.txt"


def _setup_django() -> None:
    from clinic import cli

    cli._home()
    cli._secrets_ensure()
    cli._django_setup()


def _percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    index = max(0, min(len(ordered) - 1, round(pct / 100 * len(ordered) + 0.5) - 1))
    return ordered[index]


def _national(e164: str) -> str:
    """+33612345678 → "06 12 34 56 78" (how a receptionist types it)."""
    digits = "0" + e164[3:]
    return " ".join(digits[i : i + 2] for i in range(0, len(digits), 2))


def _queries(org_id, rng: random.Random, count: int) -> list[tuple[str, str]]:
    """(kind, query) pairs built from real rows: what a front desk types."""
    from clinic.core.tenancy import tenant_context
    from clinic.directory.models import Contact, Patient

    with tenant_context(org_id):
        sample = list(
            Patient.objects.order_by("mrn").values_list(
                "given_name", "family_name", "mrn", "phone", "microchip", "species"
            )[:: max(1, Patient.objects.count() // 2000)]
        )
        contacts = list(Contact.objects.values_list("given_name", "family_name")[:2000])
    out: list[tuple[str, str]] = []
    kinds = [
        "family prefix",
        "given + family prefix",
        "full name unaccented",
        "phone (national)",
        "phone (partial)",
        "mrn",
        "microchip",
        "contact name",
        "given prefix (2 letters)",
    ]
    import unicodedata

    def plain(text: str) -> str:
        decomposed = unicodedata.normalize("NFKD", text)
        return "".join(c for c in decomposed if not unicodedata.combining(c)).lower()

    while len(out) < count:
        given, family, mrn, phone, chip, _species = rng.choice(sample)
        kind = kinds[len(out) % len(kinds)]
        if kind == "family prefix" and family:
            out.append((kind, family[:4]))
        elif kind == "given + family prefix" and family:
            out.append((kind, f"{given[:3]} {family[:3]}"))
        elif kind == "full name unaccented" and family:
            out.append((kind, plain(f"{given} {family}")))
        elif kind == "phone (national)" and phone:
            out.append((kind, _national(phone)))
        elif kind == "phone (partial)" and phone:
            out.append((kind, _national(phone)[:8]))
        elif kind == "mrn":
            out.append((kind, mrn))
        elif kind == "microchip" and chip:
            out.append((kind, chip))
        elif kind == "contact name" and contacts:
            cg, cf = rng.choice(contacts)
            out.append((kind, f"{cf} {cg[:2]}"))
        elif kind == "given prefix (2 letters)":
            out.append((kind, given[:2]))
    return out


def _ensure_data(slug: str, patients: int, practitioners: int, seed: int, log) -> object:
    from clinic.accounts.selectors import organization_by_slug
    from clinic.core.tenancy import tenant_context
    from clinic.directory.generator import generate
    from clinic.directory.models import Patient
    from clinic.directory.progress import ProgressBar

    org = organization_by_slug(slug)
    if org is not None:
        with tenant_context(org.id):
            existing = Patient.objects.count()
        if existing >= patients:
            log(f"Reusing organization '{slug}' ({existing:,} patients).")
            return org
        if existing:
            raise SystemExit(f"'{slug}' has {existing:,} patients; use another --org-slug.")
    log(f"Generating {patients:,} patients and {practitioners} practitioners in '{slug}'…")
    result = generate(
        org_slug=slug,
        practitioners=practitioners,
        patients=patients,
        seed=seed,
        progress=ProgressBar(),
    )
    log(f"Generated in {result.seconds:.1f}s.")
    return organization_by_slug(slug)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench directory_search")
    parser.add_argument("--patients", type=int, default=100_000)
    parser.add_argument("--practitioners", type=int, default=200)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=3, help="times each query is sent")
    parser.add_argument("--searches", type=int, default=180, help="distinct search queries")
    parser.add_argument("--org-slug", default=None)
    args = parser.parse_args(argv)
    slug = args.org_slug or f"bench-directory-{args.patients}"

    from clinic import cli

    lines: list[str] = []

    def log(text: str = "") -> None:
        print(text, flush=True)
        lines.append(text)

    cli._home()
    cli._secrets_ensure()
    with cli.Database():
        _setup_django()
        import argparse as _argparse

        cli.cmd_migrate(_argparse.Namespace(verbosity=0))
        return _run(args, slug, log, lines)


def _run(args, slug, log, lines) -> int:
    import os

    from django.conf import settings
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from clinic.accounts.models import Membership
    from clinic.accounts.services import token_create
    from clinic.core.tenancy import tenant_context

    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]
    org = _ensure_data(slug, args.patients, args.practitioners, args.seed, log)
    with tenant_context(org.id):
        owner = Membership.objects.select_related("user", "organization").get(role="owner")
        raw = token_create(membership=owner, name="bench").raw
    headers = {"HTTP_AUTHORIZATION": f"Bearer {raw}"}
    client = Client()
    rng = random.Random(args.seed)
    searches = _queries(org.id, rng, args.searches)

    def get(path: str):
        response = client.get(path, **headers)
        assert response.status_code == 200, (path, response.status_code, response.content[:300])
        return response

    from urllib.parse import quote

    for _kind, query in searches[:20]:  # warm caches and connections
        get(f"/api/v1/patients?search={quote(query)}")

    timings: list[float] = []
    by_kind: dict[str, list[float]] = {}
    hits: dict[str, list[int]] = {}
    for _round in range(args.rounds):
        for kind, query in searches:
            started = time.perf_counter()
            response = get(f"/api/v1/patients?search={quote(query)}&page_size=20")
            elapsed = (time.perf_counter() - started) * 1000
            timings.append(elapsed)
            by_kind.setdefault(kind, []).append(elapsed)
            hits.setdefault(kind, []).append(response.json()["count"])

    log("")
    log(f"Patient search, {args.patients:,} patients (org '{slug}'), GET /api/v1/patients?search=")
    log(f"  {len(timings)} requests ({len(searches)} queries x {args.rounds} rounds), page_size=20")
    log(
        f"  p50 {statistics.median(timings):.1f} ms   p95 {_percentile(timings, 95):.1f} ms   "
        f"max {max(timings):.1f} ms"
    )
    log("  by kind of query                 p50 ms    p95 ms   median hits")
    for kind, values in by_kind.items():
        log(
            f"    {kind:<28} {statistics.median(values):8.1f}  {_percentile(values, 95):8.1f}"
            f"   {statistics.median(hits[kind]):>10,.0f}"
        )

    # the plan of a name search, as the application role (row-level security applies)
    from clinic.directory import selectors

    with tenant_context(org.id, owner.user_id):
        qs = selectors.patients_list(actor=owner, search="hel dup")[:20]
        sql, params = qs.query.sql_with_params()
        with connection.cursor() as cur:
            cur.execute("EXPLAIN (ANALYZE, BUFFERS OFF) " + sql, params)
            plan = [row[0] for row in cur.fetchall()]
    used = sorted(
        {
            match.group(1)
            for line in plan
            for match in [
                re.search(
                    r"(?:Index Scan using|Index Only Scan using|Bitmap Index Scan on) "
                    r"(\S+)",
                    line,
                )
            ]
            if match
        }
    )
    seq = [line.strip() for line in plan if "Seq Scan" in line]
    log("")
    log('Query plan of search "hel dup" (as the application role, under RLS):')
    log(f"  indexes read: {', '.join(used)}")
    log(f"  sequential scans: {', '.join(seq) if seq else 'none'}")
    log(f"  {plan[-1].strip()}")

    # queries per request of the list endpoints
    paths = [
        "/api/v1/locations",
        "/api/v1/rooms",
        "/api/v1/services",
        "/api/v1/practitioners",
        "/api/v1/patients",
        "/api/v1/patients?search=mar",
        "/api/v1/contacts",
        "/api/v1/contacts?search=mar",
    ]
    log("")
    log("Queries per request (whole request: auth, tenant, count, page, prefetches)")
    log("  endpoint                               page_size=50  page_size=200")
    for path in paths:
        counts = []
        for size in (50, 200):
            sep = "&" if "?" in path else "?"
            with CaptureQueriesContext(connection) as ctx:
                get(f"{path}{sep}page_size={size}")
            counts.append(len(ctx.captured_queries))
        log(f"  {path:<38} {counts[0]:>12}  {counts[1]:>13}")
    page_client = Client()
    page_client.force_login(owner.user)
    for page in ("/patients/", "/patients/?search=mar"):
        with CaptureQueriesContext(connection) as ctx:
            response = page_client.get(page)
        assert response.status_code == 200
        log(f"  page {page:<33} {len(ctx.captured_queries):>12}")

    RESULTS.parent.mkdir(exist_ok=True)
    header = (
        f"# {time.strftime('%Y-%m-%d')} · PostgreSQL "
        f"{connection.cursor().connection.info.server_version} · "
        f"{os.cpu_count()} CPUs · python -m bench directory_search "
        f"--patients {args.patients}\n"
    )
    RESULTS.write_text(header + "\n".join(lines) + "\n")
    log("")
    log(f"Written to {RESULTS}")
    return 0
