"""Roles and the permission matrix: the one place that says who may do what.

A permission is "resource.action". Object scoping (a practitioner's own patients, a patient's own
record) is applied by each module's access helpers on top of this matrix.
"""

from __future__ import annotations

from django.db import models
from django.utils.translation import pgettext_lazy


class Role(models.TextChoices):
    OWNER = "owner", pgettext_lazy("role", "Owner")
    ADMIN = "admin", pgettext_lazy("role", "Admin")
    MANAGER = "manager", pgettext_lazy("role", "Manager")
    PRACTITIONER = "practitioner", pgettext_lazy("role", "Practitioner")
    ASSISTANT = "assistant", pgettext_lazy("role", "Assistant")
    PATIENT = "patient", pgettext_lazy("role", "Patient")


STAFF_ROLES = frozenset({Role.OWNER, Role.ADMIN, Role.MANAGER, Role.PRACTITIONER, Role.ASSISTANT})

_ADMINISTRATION = {
    "organization.view",
    "organization.update",
    "membership.view",
    "membership.manage",
    "audit.view",
}
_STAFF_BASICS = {"organization.view", "membership.view", "token.manage_own", "home.view"}

# Directory (clinic/directory): every staff role reads it; front desk (assistant, manager) keeps
# patients and their contacts up to date; owners and admins run the places, people and services.
_DIRECTORY_READ = {
    "patient.view",
    "contact.view",
    "practitioner.view",
    "service.view",
    "location.view",
    "room.view",
}
_PATIENT_WRITE = {"patient.create", "patient.update", "contact.create", "contact.update"}
_PATIENT_MANAGE = {"patient.archive", "contact.archive", "service.export"}
_DIRECTORY_ADMIN = {
    "patient.import",
    "patient.export",
    "location.create",
    "location.update",
    "location.archive",
    "room.create",
    "room.update",
    "room.archive",
    "practitioner.create",
    "practitioner.update",
    "practitioner.archive",
    "service.create",
    "service.update",
    "service.archive",
}
_DIRECTORY_ALL = _DIRECTORY_READ | _PATIENT_WRITE | _PATIENT_MANAGE | _DIRECTORY_ADMIN

PERMISSIONS: dict[Role, frozenset[str]] = {
    Role.OWNER: frozenset(_STAFF_BASICS | _ADMINISTRATION | _DIRECTORY_ALL),
    Role.ADMIN: frozenset(_STAFF_BASICS | _ADMINISTRATION | _DIRECTORY_ALL),
    Role.MANAGER: frozenset(_STAFF_BASICS | _DIRECTORY_READ | _PATIENT_WRITE | _PATIENT_MANAGE),
    Role.PRACTITIONER: frozenset(_STAFF_BASICS | _DIRECTORY_READ),
    Role.ASSISTANT: frozenset(_STAFF_BASICS | _DIRECTORY_READ | _PATIENT_WRITE),
    # patient.view is narrowed to their own record and the patients they are responsible for
    # (directory.selectors.patients_visible_to).
    Role.PATIENT: frozenset({"organization.view", "token.manage_own", "home.view", "patient.view"}),
}

# Notifications (clinic/notifications): everyone has their own notification centre; front desk
# and managers follow the messages sent to patients and send failed ones again; owners and
# admins set reminders, channels and quiet hours; staff who may edit patients edit their contact
# preferences.
_NOTIFY_OWN = {"notification.view"}
_DELIVERY_DESK = {"delivery.view", "delivery.retry", "contact_preference.update"}
_NOTIFY_ADMIN = {"contact_preference.view", "notification_settings.update"}
for _role, _perms in {
    Role.OWNER: _NOTIFY_OWN | _DELIVERY_DESK | _NOTIFY_ADMIN,
    Role.ADMIN: _NOTIFY_OWN | _DELIVERY_DESK | _NOTIFY_ADMIN,
    Role.MANAGER: _NOTIFY_OWN | _DELIVERY_DESK | {"contact_preference.view"},
    Role.PRACTITIONER: _NOTIFY_OWN | {"contact_preference.view"},
    Role.ASSISTANT: _NOTIFY_OWN | _DELIVERY_DESK | {"contact_preference.view"},
    Role.PATIENT: _NOTIFY_OWN,
}.items():
    PERMISSIONS[_role] = PERMISSIONS[_role] | frozenset(_perms)


def _grant(extra: dict[Role, set[str]]) -> None:
    """Add a module's permissions to the matrix (one block per module below)."""
    for role, perms in extra.items():
        PERMISSIONS[role] = PERMISSIONS[role] | frozenset(perms)


# Care (clinic/care): practitioners run the plans they are responsible for (object scoping in
# care.selectors.plans_visible_to); assistants plan and schedule consultations but do not
# change plans or their goals; patients read their own active plans.
_PLAN_READ = {"treatment_plan.view", "consultation.view"}
_PLAN_WRITE = {
    "treatment_plan.create",
    "treatment_plan.update",
    "treatment_plan.goals",
    "treatment_plan.status",
}
_CONSULTATION_WRITE = {"consultation.manage", "consultation.schedule"}
_grant(
    {
        Role.OWNER: _PLAN_READ | _PLAN_WRITE | _CONSULTATION_WRITE,
        Role.ADMIN: _PLAN_READ | _PLAN_WRITE | _CONSULTATION_WRITE,
        Role.MANAGER: _PLAN_READ | _PLAN_WRITE | _CONSULTATION_WRITE,
        Role.PRACTITIONER: _PLAN_READ | _PLAN_WRITE | _CONSULTATION_WRITE,
        Role.ASSISTANT: _PLAN_READ | _CONSULTATION_WRITE,
        Role.PATIENT: _PLAN_READ,
    }
)


# Scheduling (clinic/scheduling): staff read schedules; a practitioner sees and books their own
# schedule only (object scoping in scheduling.selectors) unless granted *.view_all; front desk
# (assistant, manager) schedules for everyone; only owners, admins and managers may book
# outside availability. Patients see their own appointments and book them through holds.
_SCHEDULE_READ = {"appointment.view", "slot.view", "availability.view", "calendar.view"}
_SCHEDULE_DESK = {
    "appointment.book",
    "appointment.update",
    "appointment.cancel",
    "hold.create",
    "hold.confirm",
}
_SCHEDULE_ALL = {"appointment.view_all", "calendar.view_all", "availability.view_all"}
_SCHEDULE_MANAGE = {"availability.manage", "icsfeed.manage", "appointment.override_availability"}
_SCHEDULE_ADMIN = _SCHEDULE_READ | _SCHEDULE_DESK | _SCHEDULE_ALL | _SCHEDULE_MANAGE
for _role, _perms in {
    Role.OWNER: _SCHEDULE_ADMIN | {"scheduling.settings"},
    Role.ADMIN: _SCHEDULE_ADMIN | {"scheduling.settings"},
    Role.MANAGER: _SCHEDULE_ADMIN,
    Role.PRACTITIONER: _SCHEDULE_READ | _SCHEDULE_DESK | {"availability.manage", "icsfeed.manage"},
    Role.ASSISTANT: _SCHEDULE_READ | _SCHEDULE_DESK | _SCHEDULE_ALL,
    Role.PATIENT: {"appointment.view", "slot.view", "hold.create", "hold.confirm"},
}.items():
    PERMISSIONS[_role] = PERMISSIONS[_role] | frozenset(_perms)

# Time off and closures (clinic/scheduling/timeoff): staff see time off (a practitioner only
# their own unless granted availability.view_all); a practitioner requests their own; owners,
# admins and managers decide, record time off for anyone (approved at once if they say so),
# resolve the affected appointments and manage closures.
_TIME_OFF_DECIDE = {"time_off.view", "time_off.request", "time_off.decide", "closure.manage"}
_grant(
    {
        Role.OWNER: _TIME_OFF_DECIDE,
        Role.ADMIN: _TIME_OFF_DECIDE,
        Role.MANAGER: _TIME_OFF_DECIDE,
        Role.PRACTITIONER: {"time_off.view", "time_off.request"},
        Role.ASSISTANT: {"time_off.view"},
    }
)


# Billing (clinic/billing): owners, admins, managers and assistants handle billing; voids, credit
# notes and refunds are for owners, admins and managers; settings and tax rates for owners and
# admins. A practitioner sees the invoices of their own appointments only if the organization
# grants it (BillingSettings.practitioners_see_own_invoices, applied in
# billing.selectors.invoices_visible_to); a patient login sees its own accounts' invoices,
# payments and statements.
_BILLING_DESK = {
    "invoice.view",
    "invoice.manage",
    "invoice.issue",
    "payment.view",
    "payment.create",
    "statement.view",
    "insurance.view",
    "insurance.manage",
    "billing.bill_appointments",
}
_BILLING_CORRECT = {"invoice.void", "payment.refund"}
_BILLING_ADMIN = {"billing.settings", "tax_rate.manage"}
for _role, _perms in {
    Role.OWNER: _BILLING_DESK | _BILLING_CORRECT | _BILLING_ADMIN,
    Role.ADMIN: _BILLING_DESK | _BILLING_CORRECT | _BILLING_ADMIN,
    Role.MANAGER: _BILLING_DESK | _BILLING_CORRECT,
    Role.ASSISTANT: _BILLING_DESK,
    Role.PRACTITIONER: {"invoice.view"},
    Role.PATIENT: {"invoice.view", "payment.view", "statement.view"},
}.items():
    PERMISSIONS[_role] = PERMISSIONS[_role] | frozenset(_perms)


# Clinical record (clinic/clinical): who sees that encounters and notes exist. Reading and writing
# their content is narrowed further by clinical.selectors (a practitioner's caseload; owners and
# admins read everything; managers and assistants see dates, authors and statuses only).
# Patients see nothing clinical yet.
_CLINICAL_SEE = {"encounter.view", "note.view"}
_CLINICAL_WRITE = {"encounter.create", "note.write"}
_grant(
    {
        Role.OWNER: _CLINICAL_SEE | _CLINICAL_WRITE | {"clinical.access_log", "clinical.settings"},
        Role.ADMIN: _CLINICAL_SEE | _CLINICAL_WRITE | {"clinical.access_log", "clinical.settings"},
        Role.PRACTITIONER: _CLINICAL_SEE | _CLINICAL_WRITE,
        Role.MANAGER: _CLINICAL_SEE,
        Role.ASSISTANT: _CLINICAL_SEE,
    }
)


# The record's lists (allergies, alerts, problem list, vital signs) are clinical content: the
# clinical roles only, a practitioner for their caseload (clinical.selectors.record_patient).
# The issue keeps clinical content from managers and assistants by default, alerts included.
_RECORD_SEE = {"allergy.view", "alert.view", "condition.view", "observation.view"}
_RECORD_EDIT = {"allergy.edit", "alert.edit", "condition.edit", "observation.edit"}
_grant({role: _RECORD_SEE | _RECORD_EDIT for role in (Role.OWNER, Role.ADMIN, Role.PRACTITIONER)})
# The FHIR export hands over the whole record at once (to another system): the same roles, and
# the same caseload rule, as the record's lists.
_grant({role: {"record.export"} for role in (Role.OWNER, Role.ADMIN, Role.PRACTITIONER)})
# Documents (letters, reports, scans) are clinical content too: the same roles and caseload rule.
_grant(
    {
        role: {"document.view", "document.upload"}
        for role in (Role.OWNER, Role.ADMIN, Role.PRACTITIONER)
    }
)
# Consents: the front desk and practitioners collect signatures (often on a tablet at the desk)
# and see who signed what; owners and admins write the templates.
_CONSENT_DESK = {"consent.view", "consent.record"}
_grant(
    {
        Role.OWNER: _CONSENT_DESK | {"consent_template.manage"},
        Role.ADMIN: _CONSENT_DESK | {"consent_template.manage"},
        Role.MANAGER: _CONSENT_DESK,
        Role.PRACTITIONER: _CONSENT_DESK,
        Role.ASSISTANT: _CONSENT_DESK,
    }
)
# The care team: who assigns practitioners to a patient by hand (their caseload).
_grant({role: {"care_team.manage"} for role in (Role.OWNER, Role.ADMIN, Role.MANAGER)})
# Break-glass: a practitioner opens a time-limited, audited access to a record outside their
# caseload (owners and admins read every record already).
_grant({Role.PRACTITIONER: {"record.break_glass"}})
# Waitlist (clinic/waitlist): the front desk and practitioners keep the list and make offers;
# owners and admins tune the scoring weights and offer times.
_WAITLIST_DESK = {"waitlist.view", "waitlist.manage"}
_grant(
    {
        Role.OWNER: _WAITLIST_DESK | {"waitlist.settings"},
        Role.ADMIN: _WAITLIST_DESK | {"waitlist.settings"},
        Role.MANAGER: _WAITLIST_DESK,
        Role.PRACTITIONER: _WAITLIST_DESK,
        Role.ASSISTANT: _WAITLIST_DESK,
    }
)

# Privacy (clinic/privacy): a patient's personal data exported (access request) or erased —
# decisions for those answerable for the clinic's data, never the desk.
_grant({role: {"personal_data.export", "patient.erase"} for role in (Role.OWNER, Role.ADMIN)})


# Today's figures (appointments, no-shows, revenue) on the home page, and the reports to come:
# for those who run the clinic.
_grant({role: {"report.view"} for role in (Role.OWNER, Role.ADMIN, Role.MANAGER)})


# Managing members (clinic.accounts.services.member_update, invitations): a role with
# `membership.manage` grants, and manages members holding, only these roles — a manager never
# makes (or touches) an owner or an admin; only an owner makes or touches an owner.
GRANTABLE_ROLES: dict[Role, frozenset[Role]] = {
    Role.OWNER: frozenset(Role),
    Role.ADMIN: frozenset(Role) - {Role.OWNER},
    Role.MANAGER: frozenset(Role) - {Role.OWNER, Role.ADMIN},
}
# managers invite and manage the front desk and practitioners (see GRANTABLE_ROLES)
PERMISSIONS[Role.MANAGER] = PERMISSIONS[Role.MANAGER] | {"membership.manage"}
# resetting a member's two-factor sign-in stays with owners and admins (the database function
# app_two_factor_reset checks the same)
for _role in (Role.OWNER, Role.ADMIN):
    PERMISSIONS[_role] = PERMISSIONS[_role] | {"membership.reset_two_factor"}


# inviting someone with these roles asks for the password again (as role changes do): an
# unattended session must not bring in a new owner
REAUTH_TO_GRANT = frozenset({Role.OWNER, Role.ADMIN})


def roles_grantable(role: str) -> frozenset[Role]:
    """The roles a member with `role` may give, and whose holders they may manage."""
    return GRANTABLE_ROLES.get(Role(role), frozenset())


def staff_roles_grantable(role: str) -> list[Role]:
    """The staff roles (invitations, role changes) a member with `role` may give, in order."""
    grantable = roles_grantable(role)
    return [r for r in Role if r in STAFF_ROLES and r in grantable]


def role_permissions(role: str) -> frozenset[str]:
    return PERMISSIONS[Role(role)]


def role_has(role: str, permission: str) -> bool:
    return permission in PERMISSIONS[Role(role)]


def all_permissions() -> list[str]:
    return sorted(set().union(*PERMISSIONS.values()))


def permission_table_markdown() -> str:
    """The matrix as a Markdown table (docs/permissions.md is generated from this)."""
    roles = list(Role)
    lines = ["| permission | " + " | ".join(r.value for r in roles) + " |"]
    lines.append("|---" * (len(roles) + 1) + "|")
    for perm in all_permissions():
        marks = " | ".join("✔" if perm in PERMISSIONS[r] else "" for r in roles)
        lines.append(f"| `{perm}` | {marks} |")
    return "\n".join(lines) + "\n"
