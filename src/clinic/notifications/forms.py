from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from clinic.notifications.models import Category


def _int_list(value: str, *, label) -> list[int]:
    items = [v.strip() for v in (value or "").replace(";", ",").split(",") if v.strip()]
    try:
        return [int(v) for v in items]
    except ValueError as exc:
        raise forms.ValidationError(
            _("Whole numbers separated by commas, e.g. %(example)s.") % {"example": label}
        ) from exc


class OrganizationSettingsForm(forms.Form):
    reminder_hours = forms.CharField(
        label=_("Reminders before the appointment (hours)"),
        required=False,
        help_text=_("Comma-separated, e.g. 24, 2. Empty: no reminders."),
    )
    overdue_reminder_days = forms.CharField(
        label=_("Overdue invoice reminders (days after the due date)"),
        required=False,
        help_text=_("Comma-separated, e.g. 7, 30."),
    )
    email_enabled = forms.BooleanField(label=_("Send emails"), required=False)
    sms_enabled = forms.BooleanField(label=_("Send text messages"), required=False)
    quiet_hours_start = forms.TimeField(
        label=_("Quiet hours from"), required=False, widget=forms.TimeInput(attrs={"type": "time"})
    )
    quiet_hours_end = forms.TimeField(
        label=_("Quiet hours until"), required=False, widget=forms.TimeInput(attrs={"type": "time"})
    )
    reply_to = forms.EmailField(label=_("Reply-to address"), required=False)

    def clean_reminder_hours(self):
        hours = _int_list(self.cleaned_data["reminder_hours"], label="24, 2")
        return [h * 60 for h in hours]

    def clean_overdue_reminder_days(self):
        return _int_list(self.cleaned_data["overdue_reminder_days"], label="7, 30")


class UserSettingsForm(forms.Form):
    categories = forms.MultipleChoiceField(
        label=_("Notify me about"),
        choices=Category.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    email_copies = forms.BooleanField(
        label=_("Also send me an email for each notification"), required=False
    )


class ContactPreferenceForm(forms.Form):
    email_enabled = forms.BooleanField(label=_("Email"), required=False)
    sms_enabled = forms.BooleanField(label=_("Text messages"), required=False)
    reminders_enabled = forms.BooleanField(label=_("Appointment reminders"), required=False)
    language = forms.ChoiceField(
        label=_("Language of messages"),
        required=False,
        choices=[
            ("", _("As in the record")),
            ("en", "English"),
            ("fr", "Français"),
            ("ar", "العربية"),
        ],
    )
    quiet_hours_start = forms.TimeField(
        label=_("Quiet hours from"), required=False, widget=forms.TimeInput(attrs={"type": "time"})
    )
    quiet_hours_end = forms.TimeField(
        label=_("Quiet hours until"), required=False, widget=forms.TimeInput(attrs={"type": "time"})
    )
