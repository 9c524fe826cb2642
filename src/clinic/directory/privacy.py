"""The directory's personal data about a patient (core/privacy.py): the identity on the patient
row, and the contacts linked to it. Erasure keeps the row and its record number — invoices,
appointments and the clinical record point at it — and empties everything that names or
reaches the person."""

from __future__ import annotations

from datetime import timedelta

from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from clinic.core.privacy import Erased, Outcome, personal_data, retention_rule
from clinic.directory.models import Contact, Patient, PatientContact, PatientImport

ERASED_NAME = "—"  # what lists show instead of a name; no word to translate or search for

# Patient columns that identify the person (emptied on erasure; replaced in audit images)
PATIENT_IDENTITY = (
    "given_name",
    "family_name",
    "preferred_name",
    "date_of_birth",
    "gender_identity",
    "phone",
    "email",
    "notes",
    "microchip",
    "photo",
    "address_line1",
    "address_line2",
    "city",
    "postal_code",
    "region",
)
CONTACT_IDENTITY = (
    "given_name",
    "family_name",
    "phone",
    "email",
    "notes",
    "address_line1",
    "address_line2",
    "city",
    "postal_code",
    "region",
)
_ADDRESS = ("address_line1", "address_line2", "city", "postal_code", "region", "country")


def identity_export(patient: Patient) -> dict:
    fields = (
        "mrn",
        "given_name",
        "family_name",
        "preferred_name",
        "date_of_birth",
        "sex",
        "gender_identity",
        "phone",
        "email",
        "preferred_language",
        "species",
        "breed",
        "microchip",
        *_ADDRESS,
        "created_at",
    )
    return {name: getattr(patient, name) for name in fields}


def identity_erase(patient: Patient) -> Erased:
    """Empty the identity (the record number and, for a person, the birth year stay), archive
    the record, delete the photo file after commit (the login is ended by accounts)."""
    locked = Patient.objects.select_for_update().get(id=patient.id)
    photo = locked.photo
    born = locked.date_of_birth
    for name in PATIENT_IDENTITY:
        field = Patient._meta.get_field(name)
        setattr(locked, name, None if field.null else "")
    locked.given_name = ERASED_NAME
    if not locked.species:
        # a human record keeps a family name and a birth date (database rule): a dash, and the
        # year only — enough for the kept clinical record's age-dependent ranges
        locked.family_name = ERASED_NAME
        locked.date_of_birth = born.replace(month=1, day=1) if born else None
    locked.archived_at = locked.archived_at or timezone.now()
    locked.save()
    if photo:
        transaction.on_commit(lambda: default_storage.delete(photo))
    return Erased(1, {"directory_patient": [patient.id]})


def _links(patient: Patient):
    return PatientContact.objects.filter(patient=patient)


def contacts_export(patient: Patient) -> list[dict]:
    return [
        {
            "relationship": link.relationship,
            "given_name": link.contact.given_name,
            "family_name": link.contact.family_name,
            "phone": link.contact.phone,
            "email": link.contact.email,
            "may_receive_clinical_info": link.may_receive_clinical_info,
        }
        for link in _links(patient).select_related("contact").order_by("created_at")
    ]


def contacts_erase(patient: Patient) -> Erased:
    """A contact who is only this patient's is emptied and archived; a contact shared with
    another patient (a parent of two children) keeps their details for the other one."""
    erased = Erased()
    for link in _links(patient).select_related("contact"):
        contact = link.contact
        shared = PatientContact.objects.filter(contact=contact).exclude(patient=patient).exists()
        if not shared:
            contact = Contact.objects.select_for_update().get(id=contact.id)
            for name in CONTACT_IDENTITY:
                setattr(contact, name, "")
            contact.given_name = ERASED_NAME
            contact.archived_at = contact.archived_at or timezone.now()
            contact.save()
            erased.count += 1
            erased.rows.setdefault("directory_contact", []).append(contact.id)
    return erased


def imports_purge(cutoff) -> int:
    """Uploaded patient lists left behind (failed or abandoned imports): the file's text goes;
    the import's counts and messages stay."""
    return (
        PatientImport.objects.filter(created_at__lt=cutoff).exclude(content="").update(content="")
    )


def register() -> None:
    retention_rule(
        "directory.import_uploads",
        holds=_("Uploaded patient lists (CSV) of imports"),
        keep=timedelta(days=7),
        purge=imports_purge,
    )
    personal_data(
        "directory.identity",
        holds=_("Identity: names, date of birth, contact details, address, photo, notes"),
        outcome=Outcome.ANONYMISED,
        count=lambda patient: 1,
        export=identity_export,
        erase=identity_erase,
        audit={"directory_patient": PATIENT_IDENTITY},
        order=10,
    )
    personal_data(
        "directory.contacts",
        holds=_("Contacts (guardians, owners, emergency contacts) of this patient only"),
        outcome=Outcome.ANONYMISED,
        count=lambda patient: _links(patient).count(),
        export=contacts_export,
        erase=contacts_erase,
        audit={"directory_contact": CONTACT_IDENTITY},
        order=20,
    )
