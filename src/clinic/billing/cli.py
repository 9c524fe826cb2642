"""`clinic billing overdue|bill-appointments|statement`: billing's commands.

`clinic.cli` registers them (`parsers_add`, `COMMANDS`); nothing here touches Django before the
command runs (the entry point sets Django up first).
"""

from __future__ import annotations

import datetime as dt
import sys


def parsers_add(sub) -> None:
    s = sub.add_parser("billing", help="billing: overdue invoices, bill appointments, statements")
    bsub = s.add_subparsers(dest="billing_action", required=True)
    p = bsub.add_parser("overdue", help="list the invoices past their due date")
    p.add_argument("--org", required=True, help="organization slug")
    p.add_argument("--as-of", type=dt.date.fromisoformat, help="YYYY-MM-DD (default today)")
    p = bsub.add_parser(
        "bill-appointments", help="draft invoices for completed appointments not billed yet"
    )
    p.add_argument("--org", required=True)
    p.add_argument("--from", dest="date_from", type=dt.date.fromisoformat, required=True)
    p.add_argument("--to", dest="date_to", type=dt.date.fromisoformat, required=True)
    p.add_argument("--user", help="act as this member (default: an owner)")
    p = bsub.add_parser("statement", help="a patient's statement as CSV on standard output")
    p.add_argument("--org", required=True)
    p.add_argument("--patient", required=True, help="patient id")
    p.add_argument("--from", dest="date_from", type=dt.date.fromisoformat, required=True)
    p.add_argument("--to", dest="date_to", type=dt.date.fromisoformat, required=True)


def _actor(org, email: str | None = None):
    """The member to act as (inside the organization's tenant context: RLS applies)."""
    from clinic.accounts.models import Membership

    qs = Membership.objects.select_related("organization", "user").filter(is_active=True)
    if email:
        return qs.filter(user__email=email.lower()).first()
    return qs.filter(role="owner").first()


def cmd_billing(args) -> int:
    from clinic.accounts.selectors import organization_by_slug
    from clinic.core.tenancy import tenant_context

    org = organization_by_slug(args.org)
    if org is None:
        print(f"No organization with slug '{args.org}'.", file=sys.stderr)
        return 2
    with tenant_context(org.id):
        actor = _actor(org, getattr(args, "user", None))
        if args.billing_action == "overdue":
            from clinic.billing.selectors import invoices_overdue

            rows = list(invoices_overdue(args.as_of))
            for inv in rows:
                payer = inv.bill_to_contact or inv.patient
                print(
                    f"{inv.number}\t{payer.display_name}\t{inv.due_date}\t"
                    f"{inv.days_overdue} days\t{inv.balance:.2f} {inv.currency}"
                )
            print(f"{len(rows)} overdue invoice(s).")
            return 0
        if args.billing_action == "bill-appointments":
            from clinic.billing.services import appointments_bill

            if actor is None:
                print("No member to act as.", file=sys.stderr)
                return 2
            invoices = appointments_bill(
                actor=actor, date_from=args.date_from, date_to=args.date_to
            )
            print(f"{len(invoices)} draft invoice(s) created.")
            return 0
        from clinic.billing.exports import statement_csv
        from clinic.billing.selectors import Account, statement_build
        from clinic.directory.models import Patient

        patient = Patient.objects.filter(id=args.patient).first()
        if patient is None:
            print("No such patient.", file=sys.stderr)
            return 2
        account = Account("patient", patient.id, patient.display_name, patient.preferred_language)
        statement = statement_build(account, date_from=args.date_from, date_to=args.date_to)
        sys.stdout.write(statement_csv(statement, account.language or org.default_locale))
        return 0


COMMANDS = {"billing": cmd_billing}
