"""`clinic import patients FILE.csv` and `clinic generate`: the directory's commands.

`clinic.cli` registers them (`parsers_add`, `COMMANDS`); nothing here touches Django before the
command runs (the entry point sets Django up first).
"""

from __future__ import annotations

import sys
from pathlib import Path


def parsers_add(sub) -> None:
    s = sub.add_parser("import", help="import data from CSV (patients)")
    isub = s.add_subparsers(dest="import_kind", required=True)
    p = isub.add_parser(
        "patients",
        help="import patients (and their owners/guardians) from a CSV file",
        description=(
            "Columns are matched by header (given_name/first_name, family_name/last_name, "
            "date_of_birth/dob, phone, email, mrn, species, microchip, owner_* / guardian_* "
            "contact columns...). Every row is validated first; nothing is imported if any row "
            "is invalid, unless --skip-invalid."
        ),
    )
    p.add_argument("file", type=Path)
    p.add_argument("--org", "--org-slug", dest="org", required=True, help="organization slug")
    p.add_argument("--user", help="import as this member (default: an owner)")
    p.add_argument(
        "--skip-invalid",
        action="store_true",
        help="import the valid rows and list the skipped ones",
    )
    p.add_argument(
        "--allow-duplicates",
        action="store_true",
        help="do not refuse rows with the same name and date of birth as a patient",
    )
    p.add_argument(
        "--date-format",
        choices=["iso", "dmy", "mdy"],
        default="iso",
        help="dates as YYYY-MM-DD (iso), DD/MM/YYYY (dmy) or MM/DD/YYYY (mdy)",
    )
    p.add_argument("--dry-run", action="store_true", help="validate only")
    p.add_argument("--quiet", action="store_true", help="no progress bar")

    g = sub.add_parser("generate", help="generate realistic synthetic directory data, fast")
    g.add_argument("--org-slug", required=True)
    g.add_argument("--practitioners", type=int, default=20)
    g.add_argument("--patients", type=int, default=1000)
    g.add_argument("--seed", type=int, default=1)
    g.add_argument(
        "--appointments",
        type=int,
        default=0,
        help="also book this many appointments (scheduling; bulk, deterministic by seed)",
    )
    g.add_argument("--owner-password", help="password of the owner login it creates")
    g.add_argument("--quiet", action="store_true", help="no progress bar")


def _actor(org, email: str | None):
    from clinic.accounts.models import Membership

    memberships = Membership.objects.select_related("organization", "user").filter(is_active=True)
    if email:
        return memberships.filter(user__email=email.strip().lower()).first()
    return memberships.filter(role__in=["owner", "admin"]).order_by("role", "created_at").first()


def cmd_import(args) -> int:
    from clinic.accounts.selectors import organization_by_slug
    from clinic.core.tenancy import tenant_context
    from clinic.directory.importing import patients_import
    from clinic.directory.progress import ProgressBar

    org = organization_by_slug(args.org)
    if org is None:
        print(f"No organization with slug '{args.org}'.", file=sys.stderr)
        return 2
    if not args.file.exists():
        print(f"No such file: {args.file}", file=sys.stderr)
        return 2
    with tenant_context(org.id):
        actor = _actor(org, args.user)
        if actor is None or not actor.has("patient.import"):
            print(
                "No member allowed to import patients (owner or admin); use --user.",
                file=sys.stderr,
            )
            return 2
    with tenant_context(org.id, actor.user_id):
        report = patients_import(
            actor=actor,
            content=args.file.read_bytes(),
            skip_invalid=args.skip_invalid,
            allow_duplicates=args.allow_duplicates,
            date_format=args.date_format,
            dry_run=args.dry_run,
            progress=None if args.quiet else ProgressBar(),
        )
    for warning in report.warnings:
        print(f"warning: {warning}")
    for error in report.errors:
        print(f"row {error.row}: {error.field}: {error.message}")
    print(
        f"{report.total_rows} rows read, {report.valid_rows} valid, "
        f"{len(report.error_rows)} invalid."
    )
    if report.imported:
        print(
            f"Imported {report.created} patients ({report.contacts_created} new contacts, "
            f"{report.contacts_reused} existing contacts reused)."
        )
        if report.skipped_rows:
            print("Skipped rows: " + ", ".join(str(r) for r in report.skipped_rows))
        return 0
    if report.dry_run and not report.errors:
        print("Dry run: every row is valid; nothing was imported.")
        return 0
    print(
        "Nothing was imported."
        + (
            ""
            if args.skip_invalid or any(e.row <= 1 for e in report.errors)
            else " Fix the rows above, or use --skip-invalid."
        )
    )
    return 1


def cmd_generate(args) -> int:
    from clinic.directory.generator import generate
    from clinic.directory.progress import ProgressBar

    result = generate(
        org_slug=args.org_slug,
        practitioners=args.practitioners,
        patients=args.patients,
        seed=args.seed,
        progress=None if args.quiet else ProgressBar(),
        owner_password=args.owner_password,
    )
    print(
        f"Organization '{result.slug}': {result.locations} locations, {result.rooms} rooms, "
        f"{result.services} services, {result.practitioners} practitioners, "
        f"{result.patients} patients ({result.animals} animals), {result.contacts} contacts, "
        f"{result.links} links in {result.seconds:.1f}s. Owner login: {result.owner_email}."
    )
    if getattr(args, "appointments", 0):
        from clinic.scheduling.generator import generate_command

        generate_command(
            organization_id=result.organization_id,
            appointments=args.appointments,
            seed=args.seed,
            quiet=args.quiet,
        )
    return 0


COMMANDS = {"import": cmd_import, "generate": cmd_generate}
