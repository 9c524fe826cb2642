"""`clinic` — the one entry point: serve, run, worker, migrate, demo, createorg, createuser,
token, db, backup, restore, check, manage.

Starts the embedded PostgreSQL when DATABASE_URL is not set (and stops it on exit if it started
it), then hands over to Django.
"""

from __future__ import annotations

import argparse
import base64
import datetime
import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path


def _home() -> Path:
    return Path(os.environ.setdefault("CLINIC_HOME", str(Path.cwd())))


def _var_dir() -> Path:
    return Path(os.environ.get("CLINIC_VAR", _home() / "var"))


def _secret_key_ensure() -> None:
    if os.environ.get("SECRET_KEY"):
        return
    path = _var_dir() / "secret_key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)


def _field_keys_ensure() -> None:
    """A random key for encrypted fields and documents on first run (never derived from
    SECRET_KEY): var/field_encryption_keys, readable by this user only."""
    if os.environ.get("FIELD_ENCRYPTION_KEYS"):
        return
    path = _var_dir() / "field_encryption_keys"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        kid = "k" + datetime.date.today().strftime("%Y%m%d")
        path.write_text(f"{kid}:{base64.b64encode(secrets.token_bytes(32)).decode()}")
        path.chmod(0o600)


def _secrets_ensure() -> None:
    """What a process of this project needs before Django starts: SECRET_KEY and the
    field-encryption keys (generated into var/ on first run unless set in the environment)."""
    _secret_key_ensure()
    _field_keys_ensure()


class Database:
    """Context: the embedded server is up inside; stopped on exit if we started it."""

    def __init__(self, keep_running: bool = False):
        self.keep_running = keep_running
        self.started = False

    def __enter__(self):
        from clinic.core import database, embedded

        if database.uses_embedded():
            self.started = embedded.server_start(_var_dir())
        return self

    def __exit__(self, *exc):
        from clinic.core import embedded

        if self.started and not self.keep_running:
            from django.db import connections

            connections.close_all()
            embedded.server_stop_if_idle(_var_dir())


def _django_setup() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "clinic.settings")
    import django

    django.setup()


def _print(msg: str) -> None:
    print(msg, flush=True)


# --- commands -------------------------------------------------------------------------------


def cmd_migrate(args) -> int:
    from django.core.management import call_command

    call_command("migrate", database="owner", verbosity=args.verbosity, interactive=False)
    return 0


def cmd_demo(args) -> int:
    from clinic.core.demo import demo_create

    password = args.password or os.environ.get("DEMO_PASSWORD")
    generated = not password
    password = password or secrets.token_urlsafe(12)
    result = demo_create(slug=args.org_slug, password=password)
    if not result.created:
        _print(f"Organization '{args.org_slug}' already exists; nothing changed.")
        return 0
    _print(f"Created demo organization '{args.org_slug}' ({result.name}).")
    for email in result.emails:
        _print(f"  {email}")
    if generated:
        _print(f"Password for all demo users (shown once): {password}")
    return 0


def cmd_createorg(args) -> int:
    from django.db import transaction

    from clinic.accounts.services import (
        membership_create,
        organization_create,
        user_get_or_create,
    )
    from clinic.core.tenancy import tenant_context

    password = args.owner_password or secrets.token_urlsafe(12)
    # one transaction: an owner refused (a password the policy rejects) leaves no organization
    with transaction.atomic():
        org = organization_create(
            slug=args.slug,
            name=args.name,
            time_zone=args.time_zone,
            currency=args.currency,
            default_locale=args.locale,
        )
        with tenant_context(org.id):
            user, created = user_get_or_create(email=args.owner_email, password=password)
            membership_create(organization=org, user=user, role="owner")
    _print(f"Created organization '{org.slug}' with owner {user.email}.")
    if created and not args.owner_password:
        _print(f"Owner password (shown once): {password}")
    return 0


def cmd_createuser(args) -> int:
    from clinic.accounts.selectors import organization_by_slug
    from clinic.accounts.services import membership_create, user_get_or_create
    from clinic.core.tenancy import tenant_context

    org = organization_by_slug(args.org)
    if org is None:
        _print(f"No organization with slug '{args.org}'.")
        return 2
    password = args.password or secrets.token_urlsafe(12)
    with tenant_context(org.id):
        user, created = user_get_or_create(email=args.email, password=password)
        membership_create(organization=org, user=user, role=args.role)
    _print(f"Added {user.email} to '{org.slug}' as {args.role}.")
    if created and not args.password:
        _print(f"Password (shown once): {password}")
    return 0


def cmd_token(args) -> int:
    from clinic.accounts.models import Membership
    from clinic.accounts.selectors import organization_by_slug
    from clinic.accounts.services import token_create
    from clinic.core.tenancy import tenant_context

    org = organization_by_slug(args.org)
    if org is None:
        print(f"No organization with slug '{args.org}'.", file=sys.stderr)
        return 2
    with tenant_context(org.id):
        membership = Membership.objects.filter(user__email=args.email.lower()).first()
        if membership is None:
            print(f"{args.email} is not a member of '{args.org}'.", file=sys.stderr)
            return 2
        issued = token_create(membership=membership, name=args.name)
    print(issued.raw)
    return 0


def cmd_db(args) -> int:
    from clinic.core import database, embedded

    if not database.uses_embedded():
        _print("DATABASE_URL is set: the embedded server is not used.")
        if args.action == "psql":
            return subprocess.call(["psql", os.environ["DATABASE_URL"]])
        return 0
    var = _var_dir()
    if args.action == "start":
        started = embedded.server_start(var)
        _print(
            "Embedded PostgreSQL started." if started else "Embedded PostgreSQL already running."
        )
    elif args.action == "stop":
        _print("Embedded PostgreSQL stopped." if embedded.server_stop(var) else "Not running.")
    elif args.action == "status":
        running = embedded.is_running(var)
        _print(
            f"Embedded PostgreSQL: {'running' if running else 'stopped'} "
            f"(data: {database.pgdata_path(var)})"
        )
        return 0 if running else 3
    elif args.action == "psql":
        with Database(keep_running=True):
            socket = database.embedded_socket_dir(var)
            user = args.user or database.EMBEDDED_OWNER_ROLE
            return subprocess.call(
                [embedded.psql_path(), "-h", socket, "-U", user, database.EMBEDDED_DB_NAME]
            )
    return 0


def _refusal() -> str | None:
    from clinic.core.startup import serving_refused_reason

    return serving_refused_reason()


def _serve_process(host: str, port: str, workers: int) -> subprocess.Popen:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "clinic.wsgi:application",
            "--bind",
            f"{host}:{port}",
            "--workers",
            str(workers),
            "--threads",
            "4",
            "--access-logfile",
            "-" if os.environ.get("ACCESS_LOG") else "/dev/null",
            "--graceful-timeout",
            "10",
        ]
    )


def _wait_for_children(children: list[subprocess.Popen]) -> int:
    """Run until Ctrl-C/SIGTERM or a child exits; then stop the others cleanly."""
    stopping = {"flag": False}

    def stop(signum, frame):
        stopping["flag"] = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    code = 0
    try:
        while not stopping["flag"]:
            for child in children:
                if child.poll() is not None:
                    stopping["flag"] = True
                    code = child.returncode or 0
            time.sleep(0.5)
    finally:
        for child in children:
            if child.poll() is None:
                child.terminate()
        for child in children:
            try:
                child.wait(timeout=15)
            except subprocess.TimeoutExpired:
                child.kill()
    return code


def _worker_process() -> subprocess.Popen:
    # Its own session: Ctrl-C reaches only the parent, which stops it with one SIGTERM (a second
    # signal would make the worker drop its current task).
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "clinic.cli",
            "worker",
            "--concurrency",
            os.environ.get("WORKER_CONCURRENCY", "2"),
        ],
        start_new_session=True,
    )


def cmd_serve(args, *, with_worker: bool = False) -> int:
    reason = _refusal()
    if reason:
        print(f"Refusing to serve: {reason}", file=sys.stderr)
        return 1
    host = args.host or os.environ.get("HOST", "127.0.0.1")
    port = str(args.port or os.environ.get("PORT", "8000"))
    _print(f"Serving on http://{host}:{port}  (Ctrl-C to stop)")
    children = [_serve_process(host, port, args.workers)]
    if with_worker:
        _print("Background worker started (clinic worker).")
        children.append(_worker_process())
    return _wait_for_children(children)


def cmd_run(args) -> int:
    """What `make run` does: migrate, load the demo clinic if the database is empty, serve."""
    from clinic.accounts.models import Organization

    # `make run` serves plain HTTP on loopback: cookies cannot be Secure-only there.
    os.environ.setdefault("SECURE_COOKIES", "0")
    cmd_migrate(argparse.Namespace(verbosity=0))
    if not Organization.objects.exists():
        cmd_demo(argparse.Namespace(org_slug="demo", password=None))
    return cmd_serve(args, with_worker=True)


def cmd_worker(args) -> int:
    """Background tasks: reminders, deliveries, periodic jobs (clinic.core.worker)."""
    from clinic.core import worker

    if args.status:
        import json

        print(json.dumps(worker.worker_status(), indent=2, default=str))
        return 0
    reason = _refusal()
    if reason:
        print(f"Refusing to run: {reason}", file=sys.stderr)
        return 1
    if args.batch:
        _print(f"Ran {worker.run_pending(queues=args.queues)} tasks.")
        return 0
    return worker.Worker(
        concurrency=args.concurrency,
        queues=args.queues,
        interval=args.interval,
        periodic=not args.no_periodic,
    ).run()


def cmd_roles(args) -> int:
    """Create the owner and application roles on an external server (needs a superuser URL)."""
    import psycopg.conninfo

    from clinic.core.database import roles_create

    conninfo = psycopg.conninfo.make_conninfo(args.superuser_url)
    for line in roles_create(conninfo, owner=args.owner, app=args.app, database=args.database):
        _print(line)
    _print("Roles ready. Set DATABASE_URL (application role) and DATABASE_OWNER_URL (owner role).")
    return 0


def cmd_permissions(args) -> int:
    from clinic.accounts.roles import permission_table_markdown

    print(permission_table_markdown(), end="")
    return 0


def cmd_manage(args) -> int:
    from django.core.management import execute_from_command_line

    execute_from_command_line(["clinic manage", *args.rest])
    return 0


def parser_build() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="clinic", description="Clinic practice management")
    sub = p.add_subparsers(dest="command", required=True)

    for name, helptext in (
        ("serve", "serve the web app and API"),
        ("run", "migrate, load the demo if empty, and serve"),
    ):
        s = sub.add_parser(name, help=helptext)
        s.add_argument("--host")
        s.add_argument("--port", type=int)
        s.add_argument("--workers", type=int, default=2)

    s = sub.add_parser("worker", help="run background tasks (SIGTERM: finish and stop)")
    s.add_argument("--concurrency", type=int, default=1, help="tasks run at once (threads)")
    s.add_argument(
        "--queues",
        type=lambda v: [q for q in v.split(",") if q],
        default=None,
        help="comma-separated queues (default: all)",
    )
    s.add_argument(
        "--interval",
        type=float,
        default=1.0,
        help="seconds between polls when idle (enqueues wake it at once)",
    )
    s.add_argument("--no-periodic", action="store_true", help="do not fire periodic jobs")
    s.add_argument("--batch", action="store_true", help="run what is due, then exit")
    s.add_argument(
        "--status",
        action="store_true",
        help="print workers, queue depth, periodic jobs and recent failures",
    )

    s = sub.add_parser("migrate", help="apply migrations (as the owner role) and RLS policies")
    s.add_argument("--verbosity", type=int, default=1)

    s = sub.add_parser("demo", help="create a demo organization with one user per role")
    s.add_argument("--org-slug", default="demo")
    s.add_argument("--password")

    s = sub.add_parser("createorg", help="create an organization and its owner")
    s.add_argument("--slug", required=True)
    s.add_argument("--name", required=True)
    s.add_argument("--owner-email", required=True)
    s.add_argument("--owner-password")
    s.add_argument("--time-zone", default="UTC")
    s.add_argument("--currency", default="EUR")
    s.add_argument("--locale", default="en", choices=["en", "fr", "ar"])

    s = sub.add_parser("createuser", help="add a user to an organization with a role")
    s.add_argument("--org", required=True)
    s.add_argument("--email", required=True)
    s.add_argument(
        "--role",
        required=True,
        choices=["owner", "admin", "manager", "practitioner", "assistant", "patient"],
    )
    s.add_argument("--password")

    s = sub.add_parser("token", help="API tokens")
    tsub = s.add_subparsers(dest="token_action", required=True)
    t = tsub.add_parser("create", help="create a token and print it (only the token)")
    t.add_argument("--org", required=True)
    t.add_argument("--email", required=True)
    t.add_argument("--name", default="cli")

    s = sub.add_parser("db", help="the embedded PostgreSQL server")
    s.add_argument("action", choices=["start", "stop", "status", "psql"])
    s.add_argument("--user", help="role for psql (default: the owner role)")

    s = sub.add_parser("roles", help="create the owner and application database roles")
    s.add_argument("--superuser-url", required=True)
    s.add_argument("--owner", default="clinic_owner")
    s.add_argument("--app", default="clinic_app")
    s.add_argument("--database", default="clinic")

    sub.add_parser("permissions", help="print the role → permission matrix (Markdown)")

    from clinic.directory.cli import parsers_add as directory_parsers_add

    directory_parsers_add(sub)  # import patients, generate

    from clinic.billing.cli import parsers_add as billing_parsers_add

    billing_parsers_add(sub)  # billing overdue, bill-appointments, statement

    from clinic.core.operations import parsers_add as operations_parsers_add

    operations_parsers_add(sub)  # backup, restore, check

    from clinic.audit.cli import parsers_add as audit_parsers_add

    audit_parsers_add(sub)  # audit partitions, detach

    s = sub.add_parser("manage", help="Django's manage.py", add_help=False)
    s.add_argument("rest", nargs=argparse.REMAINDER)
    return p


COMMANDS = {
    "serve": cmd_serve,
    "run": cmd_run,
    "worker": cmd_worker,
    "migrate": cmd_migrate,
    "demo": cmd_demo,
    "createorg": cmd_createorg,
    "createuser": cmd_createuser,
    "token": cmd_token,
    "manage": cmd_manage,
    "permissions": cmd_permissions,
}


def _module_commands() -> None:
    from clinic.directory.cli import COMMANDS as directory_commands

    COMMANDS.update(directory_commands)
    from clinic.billing.cli import COMMANDS as billing_commands

    COMMANDS.update(billing_commands)
    from clinic.core.operations import COMMANDS as operations_commands

    COMMANDS.update(operations_commands)
    from clinic.audit.cli import COMMANDS as audit_commands

    COMMANDS.update(audit_commands)


_module_commands()


def main(argv: list[str] | None = None) -> int:
    args = parser_build().parse_args(argv)
    _home()
    _secrets_ensure()
    from clinic.core.i18n import messages_compile

    messages_compile()
    if args.command == "db":
        return cmd_db(args)
    if args.command == "roles":
        return cmd_roles(args)
    from clinic.core.errors import DomainError

    with Database():
        _django_setup()
        try:
            return COMMANDS[args.command](args) or 0
        except DomainError as exc:
            detail = f" {exc.details}" if exc.details else ""
            print(f"error: {exc.message}{detail}", file=sys.stderr)
            return 2


if __name__ == "__main__":
    sys.exit(main())
