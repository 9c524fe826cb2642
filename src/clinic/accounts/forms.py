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


class SessionPolicyForm(forms.Form):
    session_idle_minutes = forms.IntegerField(
        label=_("Sign out after inactivity (minutes)"), min_value=5, max_value=480
    )
    session_absolute_hours = forms.IntegerField(
        label=_("Sign out in any case after (hours)"), min_value=1, max_value=72
    )
