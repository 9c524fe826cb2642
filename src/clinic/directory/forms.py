"""Page forms of the directory. They only collect and render; the rules live in the services
(field names are the API's, so the data goes to the same service functions unchanged, and a
`DomainError`'s field-named details come back next to the right fields)."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from clinic.directory.models import LANGUAGES, Modality, Relationship, RoomKind, Sex

_BLANK = [("", "—")]
COMMON_SPECIES = ["dog", "cat", "rabbit", "horse", "bird", "ferret", "guinea pig", "reptile"]


def _text(label, *, required=False, max_length=200, help_text="", **attrs):
    return forms.CharField(
        label=label,
        required=required,
        max_length=max_length,
        help_text=help_text,
        widget=forms.TextInput(attrs=attrs) if attrs else None,
    )


def _area(label, rows=3):
    return forms.CharField(label=label, required=False, widget=forms.Textarea(attrs={"rows": rows}))


class DirectoryForm(forms.Form):
    """`service_data()`: the submitted values, keyed by API field name."""

    def service_data(self) -> dict:
        return dict(self.cleaned_data)

    def errors_from(self, exc) -> None:
        """Put a DomainError's details next to the fields they name (or on top)."""
        details = exc.details if isinstance(exc.details, dict) else {}
        placed = False
        for name, messages in details.items():
            field = name.split(".")[-1] if name.startswith("contact.") else name
            if field in self.fields and isinstance(messages, list):
                for message in messages:
                    self.add_error(field, str(message))
                placed = True
        if not placed:
            self.add_error(None, exc.message)


class AddressForm(DirectoryForm):
    address_line1 = _text(_("Address"), autocomplete="address-line1")
    address_line2 = _text(_("Address (line 2)"), autocomplete="address-line2")
    postal_code = _text(_("Postal code"), max_length=20, autocomplete="postal-code")
    city = _text(_("City"), max_length=100, autocomplete="address-level2")
    region = _text(_("Region"), max_length=100)
    country = _text(_("Country"), max_length=2, autocomplete="country", size=3)


class PatientForm(AddressForm):
    given_name = _text(_("Given name"), required=True, max_length=100)
    family_name = _text(_("Family name"), max_length=100)
    preferred_name = _text(_("Preferred name"), max_length=100)
    date_of_birth = forms.CharField(
        label=_("Date of birth"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text=_("Required for human patients."),
    )
    sex = forms.ChoiceField(
        label=_("Sex"), choices=Sex.choices, initial=Sex.UNKNOWN, required=False
    )
    gender_identity = _text(_("Gender identity"), max_length=50)
    phone = _text(_("Phone"), max_length=40, type="tel", autocomplete="tel")
    email = _text(_("Email"), max_length=254, type="email", autocomplete="email")
    preferred_language = forms.ChoiceField(
        label=_("Preferred language"), choices=_BLANK + LANGUAGES, required=False
    )
    mrn = _text(_("Medical record number"), max_length=32)
    species = _text(_("Species"), max_length=50, list="species-list")
    breed = _text(_("Breed"), max_length=100)
    microchip = _text(_("Microchip"), max_length=40, inputmode="numeric")
    weight_kg = _text(_("Weight (kg)"), max_length=12, inputmode="decimal")
    neutered = forms.ChoiceField(
        label=_("Neutered"),
        required=False,
        choices=[("", _("Unknown")), ("true", _("Yes")), ("false", _("No"))],
    )
    notes = _area(_("Notes"))
    force = forms.BooleanField(
        label=_("This is a different person: create the record anyway"), required=False
    )

    IDENTITY = (
        "given_name",
        "family_name",
        "preferred_name",
        "date_of_birth",
        "sex",
        "gender_identity",
        "mrn",
    )
    CONTACT = ("phone", "email", "preferred_language")
    ADDRESS = ("address_line1", "address_line2", "postal_code", "city", "region", "country")
    ANIMAL = ("species", "breed", "microchip", "weight_kg", "neutered")

    def __init__(self, *args, creating: bool = True, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["family_name"].help_text = _("Required for human patients.")
        if creating:
            self.fields["mrn"].help_text = _("Leave empty to generate one.")
        else:
            self.fields["mrn"].required = True
            del self.fields["force"]

    def groups(self):
        return [
            (_("Identity"), [self[n] for n in self.IDENTITY]),
            (_("Contact details"), [self[n] for n in self.CONTACT]),
            (_("Address"), [self[n] for n in self.ADDRESS]),
            (_("Animal patients"), [self[n] for n in self.ANIMAL]),
        ]

    def service_data(self) -> dict:
        data = dict(self.cleaned_data)
        data.pop("force", None)
        if not data.get("mrn"):
            data.pop("mrn", None)
        return data


class ContactForm(AddressForm):
    given_name = _text(_("Given name"), max_length=100)
    family_name = _text(_("Family name"), max_length=100)
    phone = _text(_("Phone"), max_length=40, type="tel")
    email = _text(_("Email"), max_length=254, type="email")
    preferred_language = forms.ChoiceField(
        label=_("Preferred language"), choices=_BLANK + LANGUAGES, required=False
    )
    notes = _area(_("Notes"), rows=2)


class LinkForm(DirectoryForm):
    """Link a contact to a patient: an existing one (`contact_id`) or a new one."""

    relationship = forms.ChoiceField(label=_("Relationship"), choices=Relationship.choices)
    is_primary = forms.BooleanField(label=_("Primary contact"), required=False)
    may_receive_clinical_info = forms.BooleanField(
        label=_("May receive clinical information"), required=False
    )
    contact_id = forms.CharField(required=False, widget=forms.HiddenInput)
    given_name = _text(_("Given name"), max_length=100)
    family_name = _text(_("Family name"), max_length=100)
    phone = _text(_("Phone"), max_length=40, type="tel")
    email = _text(_("Email"), max_length=254, type="email")

    def service_data(self) -> dict:
        data = self.cleaned_data
        out = {
            "relationship": data["relationship"],
            "is_primary": data["is_primary"],
            "may_receive_clinical_info": data["may_receive_clinical_info"],
        }
        if data.get("contact_id"):
            out["contact_id"] = data["contact_id"]
        else:
            out["contact"] = {
                k: data[k] for k in ("given_name", "family_name", "phone", "email") if data[k]
            }
        return out


class LocationForm(AddressForm):
    name = _text(_("Name"), required=True)
    time_zone = _text(_("Time zone"), max_length=64, list="time-zones", placeholder="Europe/Paris")
    phone = _text(_("Phone"), max_length=40, type="tel")

    def service_data(self) -> dict:
        data = dict(self.cleaned_data)
        if not data.get("time_zone"):
            data.pop("time_zone")
        return data


class RoomForm(DirectoryForm):
    location_id = forms.ChoiceField(label=_("Location"))
    name = _text(_("Name"), required=True, max_length=100)
    kind = forms.ChoiceField(label=_("Kind"), choices=RoomKind.choices)
    capacity = forms.CharField(
        label=_("Capacity"), initial=1, widget=forms.NumberInput(attrs={"min": 1, "max": 1000})
    )

    def __init__(self, *args, locations=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["location_id"].choices = [(str(loc.id), loc.name) for loc in locations]


class ServiceForm(DirectoryForm):
    name = _text(_("Name"), required=True)
    code = _text(_("Code"), max_length=32)
    duration_minutes = forms.CharField(
        label=_("Duration (minutes)"), widget=forms.NumberInput(attrs={"min": 1, "max": 1440})
    )
    buffer_before_minutes = forms.CharField(
        label=_("Buffer before (minutes)"),
        required=False,
        initial=0,
        widget=forms.NumberInput(attrs={"min": 0, "max": 240}),
    )
    buffer_after_minutes = forms.CharField(
        label=_("Buffer after (minutes)"),
        required=False,
        initial=0,
        widget=forms.NumberInput(attrs={"min": 0, "max": 240}),
    )
    price = _text(_("Price"), required=True, max_length=14, inputmode="decimal")
    tax_rate = _text(_("Tax rate (%)"), max_length=6, inputmode="decimal")
    modality = forms.ChoiceField(label=_("Modality"), choices=Modality.choices)
    colour = forms.CharField(
        label=_("Colour"), initial="#0b63c5", widget=forms.TextInput(attrs={"type": "color"})
    )
    description = _area(_("Description"), rows=2)
    practitioner_ids = forms.MultipleChoiceField(
        label=_("Delivered by"), required=False, widget=forms.CheckboxSelectMultiple
    )

    def __init__(self, *args, practitioners=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["practitioner_ids"].choices = [
            (str(p.id), p.display_name) for p in practitioners
        ]


class PractitionerForm(DirectoryForm):
    display_name = _text(_("Display name"), required=True)
    membership_id = forms.ChoiceField(label=_("Login (member)"), required=False)
    discipline = _text(_("Discipline"), max_length=100)
    specialties = _text(_("Specialties"), max_length=1000, help_text=_("Separated by commas."))
    credential_kind = _text(
        _("Licence or registration"), max_length=50, placeholder=_("e.g. RPPS, NPI, licence")
    )
    credential_number = _text(_("Number"), max_length=64)
    colour = forms.CharField(
        label=_("Colour"), initial="#0b63c5", widget=forms.TextInput(attrs={"type": "color"})
    )
    default_location_id = forms.ChoiceField(label=_("Default location"), required=False)
    service_ids = forms.MultipleChoiceField(
        label=_("Services delivered"), required=False, widget=forms.CheckboxSelectMultiple
    )

    def __init__(self, *args, memberships=(), locations=(), services=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["membership_id"].choices = _BLANK + [
            (str(m.id), m.user.full_name or m.user.email) for m in memberships
        ]
        self.fields["default_location_id"].choices = _BLANK + [
            (str(loc.id), loc.name) for loc in locations
        ]
        self.fields["service_ids"].choices = [(str(s.id), s.name) for s in services]

    def service_data(self) -> dict:
        data = dict(self.cleaned_data)
        kind, number = data.pop("credential_kind"), data.pop("credential_number")
        data["credentials"] = [{"kind": kind, "number": number}] if kind or number else []
        data["membership_id"] = data["membership_id"] or None
        data["default_location_id"] = data["default_location_id"] or None
        return data


class ImportForm(forms.Form):
    file = forms.FileField(
        label=_("CSV file"), help_text=_("UTF-8 or Windows encoding, comma or semicolon separated.")
    )
    date_format = forms.ChoiceField(
        label=_("Dates are written"),
        choices=[("iso", _("2024-12-31")), ("dmy", _("31/12/2024")), ("mdy", _("12/31/2024"))],
    )
    skip_invalid = forms.BooleanField(
        label=_("Import the valid rows even if some rows are invalid"), required=False
    )
    allow_duplicates = forms.BooleanField(
        label=_("Accept rows with the same name and date of birth as an existing patient"),
        required=False,
    )
