"""Reads of consents: templates, a patient's consents, and whether an appointment's service is
covered by a valid consent (the check-in rule, clinical.handlers)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db.models import Prefetch, Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from clinic.accounts.models import Membership
from clinic.clinical.models import Consent, ConsentRequirement, ConsentStatus, ConsentTemplate
from clinic.clinical.selectors.notes import _uuid
from clinic.core.errors import NotFound
from clinic.directory.selectors import patient_for_actor


def consent_templates_list(*, active: bool | None = None, q: str = "") -> QuerySet:
    qs = ConsentTemplate.objects.prefetch_related(
        Prefetch(
            "requirements",
            queryset=ConsentRequirement.objects.select_related("service").order_by("service__name"),
        )
    )
    if active is not None:
        qs = qs.filter(is_active=active)
    if q:
        qs = qs.filter(Q(name__icontains=q) | Q(procedure__icontains=q))
    return qs.order_by("name", "id")


def consent_template_get(template_id: Any) -> ConsentTemplate:
    found = (
        consent_templates_list().filter(id=_uuid(template_id)).first()
        if _uuid(template_id)
        else None
    )
    if found is None:
        raise NotFound(_("Consent template not found."))
    return found


def consent_valid_q(now: dt.datetime | None = None) -> Q:
    now = now or timezone.now()
    return Q(status=ConsentStatus.SIGNED) & (Q(expires_at__isnull=True) | Q(expires_at__gt=now))


def patient_consents(patient_id: Any) -> QuerySet:
    """A patient's consents, newest first (without the signature: it is read one at a time)."""
    return (
        Consent.objects.filter(patient_id=patient_id)
        .defer("signature")
        .select_related("template", "contact", "recorded_by__user")
        .order_by("-signed_at", "-id")
    )


def consent_for_actor(actor: Membership, consent_id: Any, *, for_update: bool = False) -> Consent:
    """A consent of a patient `actor` may see, or 404."""
    consent_uuid = _uuid(consent_id)
    qs = Consent.objects.select_related("template", "contact", "patient", "recorded_by__user")
    if not actor.has("consent.view"):
        qs = qs.none()
    if for_update:
        qs = qs.select_for_update(of=("self",))
    found = qs.filter(id=consent_uuid).first() if consent_uuid else None
    if found is None:
        raise NotFound(_("Consent not found."))
    patient_for_actor(actor, found.patient_id)  # a patient login: only its own (else 404)
    return found


def consent_missing_for(*, patient_id: Any, service_id: Any, at=None) -> ConsentTemplate | None:
    """The first template the service requires that the patient has no valid consent of, or
    None when the service needs none or every one is signed (two queries)."""
    if service_id is None or patient_id is None:
        return None
    required = list(
        ConsentTemplate.objects.filter(
            is_active=True, requirements__service_id=service_id
        ).order_by("name", "id")
    )
    if not required:
        return None
    signed = set(
        Consent.objects.filter(consent_valid_q(at), patient_id=patient_id)
        .filter(template_id__in=[t.id for t in required])
        .values_list("template_id", flat=True)
    )
    return next((t for t in required if t.id not in signed), None)


def consent_is_valid(consent: Consent, now: dt.datetime | None = None) -> bool:
    now = now or timezone.now()
    return consent.status == ConsentStatus.SIGNED and (
        consent.expires_at is None or consent.expires_at > now
    )
