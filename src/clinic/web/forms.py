from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from clinic.accounts.models import TwoFactorPolicy


class LoginForm(forms.Form):
    email = forms.EmailField(
        label=_("Email"),
        widget=forms.EmailInput(attrs={"autocomplete": "username", "autofocus": True}),
    )
    password = forms.CharField(
        label=_("Password"), widget=forms.PasswordInput(attrs={"autocomplete": "current-password"})
    )
    organization = forms.SlugField(
        label=_("Organization"),
        required=False,
        help_text=_("Leave empty if you belong to one organization."),
    )


class TwoFactorLoginForm(forms.Form):
    code = forms.CharField(
        label=_("Code"),
        max_length=64,
        help_text=_("The 6-digit code from your authenticator app, or one of your recovery codes."),
        widget=forms.TextInput(
            attrs={
                "autocomplete": "one-time-code",
                "autofocus": True,
                "autocapitalize": "off",
                "spellcheck": "false",
            }
        ),
    )
    remember = forms.BooleanField(label=_("Remember this device"), required=False)


class TwoFactorPolicyForm(forms.Form):
    two_factor_required = forms.ChoiceField(
        label=_("Two-factor sign-in required for"), choices=TwoFactorPolicy.choices
    )


# The members page's organization security settings, beside TwoFactorPolicyForm.
class SessionPolicyForm(forms.Form):
    session_idle_minutes = forms.IntegerField(
        label=_("Sign out after inactivity (minutes)"), min_value=5, max_value=480
    )
    session_absolute_hours = forms.IntegerField(
        label=_("Sign out in any case after (hours)"), min_value=1, max_value=72
    )


# The members page's invitation form (clinic.accounts.staff_views.invitation_send).
class InvitationForm(forms.Form):
    email = forms.EmailField(label=_("Email"), max_length=254)
    role = forms.ChoiceField(label=_("Role"), choices=())

    def __init__(self, *args, roles=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["role"].choices = [(r.value, r.label) for r in roles]
