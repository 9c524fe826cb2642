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
