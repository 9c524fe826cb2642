"""The audit log as sentences: "Owner Demo changed the appointment of Emma Núñez (start, status)".

Events store table names, ids and row images; people read who did what to which record. Labels of
the records on a page are loaded with one query per table (`entries_present`), whatever the page
size. Only field *names* are shown, never their values: row images may hold clinical text.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from django.apps import apps
from django.db import models
from django.urls import NoReverseMatch, reverse
from django.utils.functional import Promise
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, pgettext_lazy

# columns written by the application itself, never by a person
_TECHNICAL_COLUMNS = {"id", "organization_id", "created_at", "updated_at", "search", "version"}


@dataclass(frozen=True)
class RecordKind:
    model: str  # app label.Model
    noun: Promise  # "appointment", for the filter and for records without a label
    related: tuple[str, ...] = ()  # select_related to build the label in the same query
    label: object = None  # callable(obj) -> str: a noun phrase naming the record
    url: object = None  # callable(obj) -> str | None


def _name(obj) -> str:
    return str(obj)


def _person(user) -> str:
    return (user.full_name or user.email) if user is not None else ""


def _url(name: str, **kwargs) -> str | None:
    try:
        return reverse(name, kwargs=kwargs)
    except NoReverseMatch:
        return None


def _patient_of(obj) -> str:
    patient = getattr(obj, "patient", None)
    return patient.display_name if patient is not None else ""


def _appointment_label(a) -> str:
    if a.patient is None:
        return _("a block of %(practitioner)s's time") % {"practitioner": a.practitioner}
    return _("the appointment of %(patient)s") % {"patient": a.patient.display_name}


def _invoice_label(i) -> str:
    if i.number:
        return _("invoice %(number)s") % {"number": i.number}
    return _("the draft invoice of %(patient)s") % {"patient": _patient_of(i)}


RECORD_KINDS: dict[str, RecordKind] = {
    "scheduling_appointment": RecordKind(
        "scheduling.Appointment",
        pgettext_lazy("audit record kind", "appointment"),
        ("patient", "practitioner"),
        _appointment_label,
        lambda a: _url("scheduling:appointment_detail", appointment_id=a.id),
    ),
    "directory_patient": RecordKind(
        "directory.Patient",
        pgettext_lazy("audit record kind", "patient"),
        (),
        lambda p: _("patient %(name)s") % {"name": p.display_name},
        lambda p: _url("directory:patient", patient_id=p.id),
    ),
    "directory_contact": RecordKind(
        "directory.Contact",
        pgettext_lazy("audit record kind", "contact"),
        (),
        lambda c: _("contact %(name)s") % {"name": c.display_name},
        lambda c: _url("directory:contact_edit", contact_id=c.id),
    ),
    "billing_invoice": RecordKind(
        "billing.Invoice",
        pgettext_lazy("audit record kind", "invoice"),
        ("patient",),
        _invoice_label,
        lambda i: _url("billing:invoice", invoice_id=i.id),
    ),
    "billing_invoiceline": RecordKind(
        "billing.InvoiceLine",
        pgettext_lazy("audit record kind", "invoice line"),
        ("invoice",),
        lambda line: (
            _("a line of invoice %(number)s") % {"number": line.invoice.number}
            if line.invoice.number
            else _("a line of a draft invoice")
        ),
        lambda line: _url("billing:invoice", invoice_id=line.invoice_id),
    ),
    "billing_payment": RecordKind(
        "billing.Payment",
        pgettext_lazy("audit record kind", "payment"),
        ("payer_patient",),
        lambda p: (
            _("a payment from %(payer)s") % {"payer": p.payer_patient.display_name}
            if p.payer_patient is not None
            else _("a payment")
        ),
    ),
    "billing_creditnote": RecordKind(
        "billing.CreditNote",
        pgettext_lazy("audit record kind", "credit note"),
        (),
        lambda c: _("credit note %(number)s") % {"number": c.number},
        lambda c: _url("billing:invoice", invoice_id=c.invoice_id),
    ),
    "care_treatmentplan": RecordKind(
        "care.TreatmentPlan",
        pgettext_lazy("audit record kind", "treatment plan"),
        ("patient",),
        # the plan's title may be clinical: it is named by its patient
        lambda t: _("the treatment plan of %(patient)s") % {"patient": _patient_of(t)},
        lambda t: _url("care:plan", plan_id=t.id),
    ),
    "care_consultation": RecordKind(
        "care.Consultation",
        pgettext_lazy("audit record kind", "consultation"),
        ("plan__patient",),
        lambda c: (
            _("consultation %(sequence)s of the plan of %(patient)s")
            % {"sequence": c.sequence, "patient": _patient_of(c.plan)}
        ),
        lambda c: _url("care:plan", plan_id=c.plan_id),
    ),
    "directory_practitioner": RecordKind(
        "directory.Practitioner",
        pgettext_lazy("audit record kind", "practitioner"),
        (),
        lambda p: _("practitioner %(name)s") % {"name": p.display_name},
        lambda p: _url("scheduling:availability_edit", practitioner_id=p.id),
    ),
    "directory_service": RecordKind(
        "directory.Service",
        pgettext_lazy("audit record kind", "service"),
        (),
        lambda s: _("service %(name)s") % {"name": s.name},
        lambda s: _url("directory:service_edit", service_id=s.id),
    ),
    "directory_location": RecordKind(
        "directory.Location",
        pgettext_lazy("audit record kind", "location"),
        (),
        lambda s: _("location %(name)s") % {"name": s.name},
        lambda s: _url("directory:location_edit", location_id=s.id),
    ),
    "directory_room": RecordKind(
        "directory.Room",
        pgettext_lazy("audit record kind", "room"),
        (),
        lambda s: _("room %(name)s") % {"name": s.name},
        lambda s: _url("directory:room_edit", room_id=s.id),
    ),
    "accounts_membership": RecordKind(
        "accounts.Membership",
        pgettext_lazy("audit record kind", "membership"),
        ("user",),
        lambda m: _("the membership of %(person)s") % {"person": _person(m.user)},
        lambda m: _url("web:members"),
    ),
    "accounts_invitation": RecordKind(
        "accounts.Invitation",
        pgettext_lazy("audit record kind", "invitation"),
        (),
        lambda i: _("the invitation of %(email)s") % {"email": i.email},
        lambda i: _url("web:members"),
    ),
    "accounts_user": RecordKind(
        "accounts.User",
        pgettext_lazy("audit record kind", "user account"),
        (),
        lambda u: _("the account of %(person)s") % {"person": _person(u)},
    ),
    "accounts_organization": RecordKind(
        "accounts.Organization",
        pgettext_lazy("audit record kind", "organization"),
        (),
        lambda o: _("the settings of %(name)s") % {"name": o.name},
    ),
    "accounts_apitoken": RecordKind(
        "accounts.ApiToken", pgettext_lazy("audit record kind", "API token")
    ),
    "scheduling_availabilityrule": RecordKind(
        "scheduling.AvailabilityRule", pgettext_lazy("audit record kind", "working hours")
    ),
    "scheduling_availabilityexception": RecordKind(
        "scheduling.AvailabilityException", pgettext_lazy("audit record kind", "time off")
    ),
    "scheduling_hold": RecordKind(
        "scheduling.Hold", pgettext_lazy("audit record kind", "slot hold")
    ),
    "billing_billingsettings": RecordKind(
        "billing.BillingSettings", pgettext_lazy("audit record kind", "billing settings")
    ),
    "notifications_delivery": RecordKind(
        "notifications.Delivery", pgettext_lazy("audit record kind", "message")
    ),
}

# the actions that are not row changes; the sentence names the actor and maybe the record
ACTION_SENTENCES = {
    "insert": gettext_lazy("{actor} created {record}"),
    "update": gettext_lazy("{actor} changed {record}"),
    "delete": gettext_lazy("{actor} deleted {record}"),
    "auth.login": gettext_lazy("{actor} signed in"),
    "auth.login_failed": gettext_lazy("A sign-in failed"),
    "auth.password_change": gettext_lazy("{actor} changed their password"),
    "auth.password_reset": gettext_lazy("{actor} reset their password"),
    "auth.password_reset_requested": gettext_lazy("{actor} asked for a password reset"),
    "auth.reauthenticated": gettext_lazy("{actor} confirmed their password"),
    "auth.reauthentication_failed": gettext_lazy("{actor} failed to confirm their password"),
    "auth.session_expired": gettext_lazy("A session of {actor} expired"),
    "auth.session_revoked": gettext_lazy("{actor} ended a session"),
    "auth.sessions_ended": gettext_lazy("{actor} ended their other sessions"),
    "auth.two_factor_enrolled": gettext_lazy("{actor} turned on two-step verification"),
    "auth.two_factor_disabled": gettext_lazy("{actor} turned off two-step verification"),
    "auth.two_factor_verified": gettext_lazy("{actor} passed two-step verification"),
    "auth.two_factor_failed": gettext_lazy("{actor} failed two-step verification"),
    "auth.two_factor_remembered": gettext_lazy("{actor} trusted this browser for sign-in"),
    "auth.two_factor_reset": gettext_lazy("{actor} reset the two-step verification of {record}"),
    "auth.recovery_code_used": gettext_lazy("{actor} signed in with a recovery code"),
    "auth.recovery_codes_regenerated": gettext_lazy("{actor} made new recovery codes"),
    "token.create": gettext_lazy("{actor} created an API token"),
    "membership.updated": gettext_lazy("{actor} changed {record}"),
    "invitation.sent": gettext_lazy("{actor} sent {record}"),
    "invitation.resent": gettext_lazy("{actor} sent {record} again"),
    "invitation.revoked": gettext_lazy("{actor} revoked {record}"),
    "invitation.accepted": gettext_lazy("{actor} accepted {record}"),
    "organization.settings_changed": gettext_lazy("{actor} changed {record}"),
    "organization.logo_changed": gettext_lazy("{actor} changed the logo"),
    "organization.session_policy_changed": gettext_lazy("{actor} changed the session limits"),
    "organization.two_factor_policy": gettext_lazy(
        "{actor} changed the two-step verification rule"
    ),
    "patient.view": gettext_lazy("{actor} opened the chart of {record}"),
    "appointment.status": gettext_lazy("{actor} changed the status of {record}"),
    "hold.create": gettext_lazy("{actor} held a slot"),
    "hold.confirm": gettext_lazy("{actor} confirmed a held slot"),
    "hold.release": gettext_lazy("{actor} released a held slot"),
    "treatment_plan.status": gettext_lazy("{actor} changed the status of {record}"),
    "billing.appointments_billed": gettext_lazy("{actor} billed appointments on {record}"),
    "notifications.unsubscribe": gettext_lazy("{record} unsubscribed from messages"),
}


@dataclass
class AuditEntry:
    event: object
    sentence: SafeString
    fields: list[str]


def record_kind_choices() -> list[tuple[str, str]]:
    """(table, noun) of the kinds of record a person can filter the log by, by noun."""
    return sorted(((t, str(k.noun)) for t, k in RECORD_KINDS.items()), key=lambda c: c[1])


def _field_label(field: models.Field) -> str:
    if field.is_relation and field.related_model is not None:
        kind = RECORD_KINDS.get(field.related_model._meta.db_table)
        if kind is not None:
            return str(kind.noun)
    return str(field.verbose_name)


def _changed_fields(event, model) -> list[str]:
    """Human labels of the columns an update changed (names only, never values)."""
    if event.action != "update" or not event.before or not event.after or model is None:
        return []
    columns = {f.column: f for f in model._meta.concrete_fields}
    labels = []
    for column in sorted(set(event.before) | set(event.after)):
        if column in _TECHNICAL_COLUMNS or event.before.get(column) == event.after.get(column):
            continue
        field = columns.get(column)
        # a column the model does not name for people (buffers, denormalised copies) is left out
        if field is None or not (isinstance(field.verbose_name, Promise) or field.is_relation):
            continue
        label = _field_label(field)
        if label not in labels:
            labels.append(label)
    return labels


def _records_load(events) -> dict[tuple[str, str], object]:
    """The records the events name, one query per table."""
    ids_by_table: dict[str, set[str]] = defaultdict(set)
    for e in events:
        if e.object_type in RECORD_KINDS and e.object_id:
            ids_by_table[e.object_type].add(e.object_id)
    found = {}
    for table, ids in ids_by_table.items():
        kind = RECORD_KINDS[table]
        if kind.label is None:
            continue
        model = apps.get_model(kind.model)
        qs = model._default_manager.filter(pk__in=ids)
        if kind.related:
            qs = qs.select_related(*kind.related)
        for obj in qs:
            found[(table, str(obj.pk))] = obj
    return found


def _actors_load(events) -> dict[str, str]:
    ids = {e.actor_id for e in events if e.actor_id}
    if not ids:
        return {}
    user_model = apps.get_model("accounts.User")
    return {str(u.id): _person(u) for u in user_model.objects.filter(id__in=ids)}


def entries_present(events) -> list[AuditEntry]:
    """Sentences for a page of events in a constant number of queries (one per table named)."""
    events = list(events)
    records = _records_load(events)
    actors = _actors_load(events)
    entries = []
    for e in events:
        kind = RECORD_KINDS.get(e.object_type)
        model = apps.get_model(kind.model) if kind else None
        obj = records.get((e.object_type, e.object_id))
        if obj is not None and kind.label is not None:
            label = kind.label(obj)
            url = kind.url(obj) if kind.url else None
        else:
            noun = kind.noun if kind else _("other")
            # phrased around "record" so that no article has to agree with the noun's gender
            label = (
                _("a “%(kind)s” record, since deleted") % {"kind": noun}
                if e.action == "delete" or (kind and kind.label and obj is None)
                else _("a “%(kind)s” record") % {"kind": noun}
            )
            url = None
        record = format_html('<a href="{}">{}</a>', url, label) if url else format_html("{}", label)
        actor = actors.get(str(e.actor_id)) if e.actor_id else None
        actor_html = format_html("<strong>{}</strong>", actor or _("Someone"))
        template = ACTION_SENTENCES.get(e.action)
        if template is None:
            template = gettext_lazy("{actor} acted on {record}")
        sentence = format_html(str(template), actor=actor_html, record=record)
        entries.append(AuditEntry(event=e, sentence=sentence, fields=_changed_fields(e, model)))
    return entries
