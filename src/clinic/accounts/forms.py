from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

_CODE_ATTRS = {"autocomplete": "one-time-code", "inputmode": "numeric", "autocapitalize": "off"}


class TwoFactorCodeForm(forms.Form):
    code = forms.CharField(
        label=_("Code from the app"), max_length=16, widget=forms.TextInput(attrs=_CODE_ATTRS)
    )


class TwoFactorDisableForm(forms.Form):
    password = forms.CharField(
        label=_("Password"), widget=forms.PasswordInput(attrs={"autocomplete": "current-password"})
    )
    code = forms.CharField(
        label=_("Code from the app or a recovery code"),
        max_length=64,
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "autocapitalize": "off"}),
    )


class ReauthenticateForm(forms.Form):
    password = forms.CharField(
        label=_("Password"),
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password", "autofocus": True}),
    )
    code = forms.CharField(
        label=_("Code from the app or a recovery code"),
        max_length=64,
        required=False,
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "autocapitalize": "off"}),
    )


_PASSWORD_HELP = _(
    "At least 12 characters, not like your email or name, not a common password, not only digits."
)


class InvitationAcceptForm(forms.Form):
    name = forms.CharField(
        label=_("Your name"),
        max_length=200,
        required=False,
        widget=forms.TextInput(attrs={"autocomplete": "name"}),
    )
    password = forms.CharField(
        label=_("Choose a password"),
        max_length=1024,
        strip=False,
        help_text=_PASSWORD_HELP,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )


class OrganizationSettingsForm(forms.Form):
    """The organization settings page; every rule is checked again by the service."""

    name = forms.CharField(label=_("Name"), max_length=200)
    address = forms.CharField(
        label=_("Address"), max_length=500, required=False, widget=forms.Textarea(attrs={"rows": 3})
    )
    phone = forms.CharField(
        label=_("Phone"),
        max_length=40,
        required=False,
        widget=forms.TextInput(attrs={"type": "tel", "dir": "ltr"}),
    )
    email = forms.EmailField(
        label=_("Email"), required=False, widget=forms.EmailInput(attrs={"dir": "ltr"})
    )
    registration_number = forms.CharField(
        label=_("Registration number"), max_length=50, required=False
    )
    tax_number = forms.CharField(label=_("VAT number"), max_length=50, required=False)
    time_zone = forms.CharField(
        label=_("Time zone"),
        max_length=64,
        help_text=_("An IANA zone, e.g. Europe/Paris."),
        widget=forms.TextInput(attrs={"dir": "ltr", "list": "time-zones"}),
    )
    default_locale = forms.ChoiceField(label=_("Language"), choices=())
    currency = forms.CharField(
        label=_("Currency"),
        max_length=3,
        help_text=_("ISO 4217 code, e.g. EUR."),
        widget=forms.TextInput(attrs={"dir": "ltr"}),
    )
    payment_terms_days = forms.IntegerField(
        label=_("Invoice payment terms (days)"), min_value=0, max_value=365
    )
    bank_iban = forms.CharField(
        label=_("IBAN"), max_length=42, required=False, widget=forms.TextInput(attrs={"dir": "ltr"})
    )
    bank_bic = forms.CharField(
        label=_("BIC"), max_length=11, required=False, widget=forms.TextInput(attrs={"dir": "ltr"})
    )
    logo = forms.FileField(
        label=_("Logo"),
        required=False,
        help_text=_("PNG or JPEG, at most 512 KB."),
        widget=forms.ClearableFileInput(attrs={"accept": "image/png,image/jpeg"}),
    )
    logo_remove = forms.BooleanField(label=_("Remove the logo"), required=False)

    def __init__(self, *args, locales=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["default_locale"].choices = list(locales)
