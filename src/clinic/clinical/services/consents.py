"""Consents: templates (a new version whenever what a patient reads changes) and signatures.

A signature records who signed (the patient, or a parent/guardian/owner contact of theirs), the
name they typed and the drawing (a PNG, checked from its bytes and that something is drawn;
encrypted at rest), the witness, the exact text signed and the template's version, and the
expiry the template's validity gives. A consent is never edited: it may be withdrawn (dated,
with a reason). Appointments of a service that requires a template are held at check-in
without a valid consent (clinical.handlers → 409 `consent_required`)."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import io
from decimal import Decimal, InvalidOperation
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from clinic.accounts.models import Membership
from clinic.clinical import selectors
from clinic.clinical.models import (
    Consent,
    ConsentRequirement,
    ConsentSigner,
    ConsentStatus,
    ConsentTemplate,
)
from clinic.clinical.validation import text_clean
from clinic.core.errors import Conflict, field_error
from clinic.directory.selectors import (
    patient_for_actor,
    patient_responsible_contacts,
    services_list,
)

MAX_NAME = 200
MAX_TEXT = 20_000
MAX_SIGNATURE_BYTES = 200 * 1024
MAX_VALIDITY_DAYS = 3650
PNG_DATA_URL = "data:image/png;base64,"
# what a patient reads: a change of any of these is a new version of the template
READ_FIELDS = ("text", "risks", "alternatives", "estimated_cost")


def _cost(value: Any) -> Decimal | None:
    if value in (None, ""):
        return None
    try:
        cost = Decimal(str(value))
    except InvalidOperation:
        raise field_error("estimated_cost", _("Give an amount, e.g. 120.00.")) from None
    if not cost.is_finite() or cost < 0 or cost >= Decimal("100000000"):
        raise field_error("estimated_cost", _("Give an amount, e.g. 120.00."))
    return cost.quantize(Decimal("0.01"))


def _validity(value: Any) -> int | None:
    if value in (None, ""):
        return None
    if isinstance(value, bool):
        raise field_error("validity_days", _("Give a whole number of days."))
    try:
        days = int(value)
    except (TypeError, ValueError):
        raise field_error("validity_days", _("Give a whole number of days.")) from None
    if not 1 <= days <= MAX_VALIDITY_DAYS:
        raise field_error(
            "validity_days",
            _("Between 1 and %(max)d days, or empty for no expiry.") % {"max": MAX_VALIDITY_DAYS},
        )
    return days


def _services(value: Any) -> list:
    """The services named by id (each must be the organization's)."""
    if value in (None, ""):
        return []
    ids = [str(v) for v in (value if isinstance(value, list | tuple) else [value])]
    wanted = [selectors._uuid(i) for i in ids if selectors._uuid(i)]
    found = {str(s.id): s for s in services_list(status="all").filter(id__in=wanted)}
    unknown = [i for i in ids if i not in found]
    if unknown:
        raise field_error(
            "service_ids", _("Unknown service: %(ids)s.") % {"ids": ", ".join(unknown)}
        )
    return list(found.values())


def _requirements_set(template: ConsentTemplate, services: list) -> None:
    wanted = {s.id for s in services}
    ConsentRequirement.objects.filter(template=template).exclude(service_id__in=wanted).delete()
    have = set(
        ConsentRequirement.objects.filter(template=template).values_list("service_id", flat=True)
    )
    for service_id in wanted - have:
        ConsentRequirement.objects.create(template=template, service_id=service_id)


def _save(template: ConsentTemplate) -> ConsentTemplate:
    try:
        with transaction.atomic():
            template.save()
    except IntegrityError:
        raise Conflict(
            _("A consent template with this name exists already."), code="duplicate_name"
        ) from None
    return template


@transaction.atomic
def consent_template_create(*, actor: Membership, data: dict) -> ConsentTemplate:
    template = ConsentTemplate(
        name=text_clean(data.get("name"), "name", MAX_NAME, required=True),
        procedure=text_clean(data.get("procedure"), "procedure", MAX_NAME),
        text=text_clean(data.get("text"), "text", MAX_TEXT, required=True),
        risks=text_clean(data.get("risks"), "risks", MAX_TEXT),
        alternatives=text_clean(data.get("alternatives"), "alternatives", MAX_TEXT),
        estimated_cost=_cost(data.get("estimated_cost")),
        validity_days=_validity(data.get("validity_days")),
        is_active=bool(data.get("is_active", True)),
    )
    services = _services(data.get("service_ids"))
    _save(template)
    _requirements_set(template, services)
    return template


@transaction.atomic
def consent_template_update(*, actor: Membership, template_id: Any, data: dict) -> ConsentTemplate:
    """Change what is given; a change of what a patient reads makes a new version (consents
    signed before keep the text and version they were signed with)."""
    template = selectors.consent_template_get(template_id)
    template = ConsentTemplate.objects.select_for_update().get(id=template.id)
    cleaners = {
        "name": lambda v: text_clean(v, "name", MAX_NAME, required=True),
        "procedure": lambda v: text_clean(v, "procedure", MAX_NAME),
        "text": lambda v: text_clean(v, "text", MAX_TEXT, required=True),
        "risks": lambda v: text_clean(v, "risks", MAX_TEXT),
        "alternatives": lambda v: text_clean(v, "alternatives", MAX_TEXT),
        "estimated_cost": _cost,
        "validity_days": _validity,
        "is_active": bool,
    }
    changed_reading = False
    for name, clean in cleaners.items():
        if name in data:
            value = clean(data[name])
            if name in READ_FIELDS and value != getattr(template, name):
                changed_reading = True
            setattr(template, name, value)
    if changed_reading:
        template.version += 1
    services = _services(data["service_ids"]) if "service_ids" in data else None
    _save(template)
    if services is not None:
        _requirements_set(template, services)
    return template


def text_to_sign(template: ConsentTemplate) -> str:
    """The full text a signer reads: the template's text, risks, alternatives, cost."""
    parts = [template.text]
    if template.risks:
        parts.append(_("Risks") + "\n" + template.risks)
    if template.alternatives:
        parts.append(_("Alternatives") + "\n" + template.alternatives)
    if template.estimated_cost is not None:
        parts.append(_("Estimated cost") + f"\n{template.estimated_cost}")
    return "\n\n".join(parts)


def signature_clean(value: Any) -> str:
    """A drawn signature: a PNG data URL, at most 200 KB, with something drawn on it."""
    from PIL import Image, UnidentifiedImageError

    text = "" if value is None else str(value).strip()
    if not text.startswith(PNG_DATA_URL):
        raise field_error("signature", _("Draw the signature."))
    try:
        data = base64.b64decode(text[len(PNG_DATA_URL) :], validate=True)
    except (ValueError, binascii.Error):
        raise field_error(
            "signature", _("The signature could not be read: draw it again.")
        ) from None
    if len(data) > MAX_SIGNATURE_BYTES:
        raise field_error("signature", _("The signature drawing is too large."))
    try:
        with Image.open(io.BytesIO(data)) as image:
            if image.format != "PNG" or image.width * image.height > 4_000_000:
                raise UnidentifiedImageError
            # transparent background: the drawing is where alpha is not zero
            drawn = image.convert("RGBA").getchannel("A").getbbox()
    except (UnidentifiedImageError, OSError, ValueError):
        raise field_error(
            "signature", _("The signature could not be read: draw it again.")
        ) from None
    if drawn is None:
        raise field_error("signature", _("Draw the signature."))
    return text


@transaction.atomic
def consent_sign(
    *,
    actor: Membership,
    patient_id: Any,
    template_id: Any,
    signed_name: Any,
    signature: Any,
    signer: Any = ConsentSigner.PATIENT,
    contact_id: Any = None,
    witness_name: Any = "",
) -> Consent:
    patient = patient_for_actor(actor, patient_id)
    if template_id in (None, ""):
        raise field_error("template_id", _("Choose the consent to sign."))
    template = selectors.consent_template_get(template_id)
    if not template.is_active:
        raise Conflict(_("This consent template is no longer in use."), code="template_inactive")
    if signer not in ConsentSigner.values:
        raise field_error(
            "signer", _("Must be one of: %(values)s.") % {"values": ", ".join(ConsentSigner.values)}
        )
    contact = None
    if signer == ConsentSigner.CONTACT:
        contact_uuid = selectors._uuid(contact_id)
        contact = (
            patient_responsible_contacts(patient.id).filter(id=contact_uuid).first()
            if contact_uuid
            else None
        )
        if contact is None:
            raise field_error(
                "contact_id",
                _("Choose a parent, legal guardian or owner linked to this patient."),
            )
    elif contact_id not in (None, ""):
        raise field_error("contact_id", _("Only a guardian or owner signature names a contact."))
    name = text_clean(signed_name, "signed_name", MAX_NAME, required=True)
    drawing = signature_clean(signature)
    now = timezone.now()
    return Consent.objects.create(
        patient=patient,
        template=template,
        template_version=template.version,
        text_signed=text_to_sign(template),
        signer=signer,
        contact=contact,
        signed_name=name,
        signature=drawing,
        witness_name=text_clean(witness_name, "witness_name", MAX_NAME),
        recorded_by=actor,
        signed_at=now,
        expires_at=now + dt.timedelta(days=template.validity_days)
        if template.validity_days
        else None,
    )


@transaction.atomic
def consent_withdraw(*, actor: Membership, consent_id: Any, reason: Any = "") -> Consent:
    consent = selectors.consent_for_actor(actor, consent_id, for_update=True)
    if consent.status == ConsentStatus.WITHDRAWN:
        raise Conflict(_("This consent was already withdrawn."), code="consent_withdrawn")
    consent.status = ConsentStatus.WITHDRAWN
    consent.withdrawn_at = timezone.now()
    consent.withdrawn_reason = text_clean(reason, "reason", 500)
    consent.save(update_fields=["status", "withdrawn_at", "withdrawn_reason"])
    return consent


def consent_required_check(*, patient_id: Any, service_id: Any) -> None:
    """Refuse (409 `consent_required`, naming the template) an appointment's arrival, start or
    completion while its service needs a consent the patient has not validly signed."""
    missing = selectors.consent_missing_for(patient_id=patient_id, service_id=service_id)
    if missing is not None:
        raise Conflict(
            _("A signed consent “%(name)s” is needed before this appointment can go on.")
            % {"name": missing.name},
            code="consent_required",
            details={"template_id": str(missing.id), "template": missing.name},
        )
