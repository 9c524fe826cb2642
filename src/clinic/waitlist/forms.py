"""The waitlist settings form: weights and thresholds in percent (how staff think of them),
stored as fractions; the ranges themselves are checked once, in services.settings_update."""

from __future__ import annotations

from decimal import Decimal

from django import forms
from django.utils.translation import gettext_lazy as _

PERCENT_FIELDS = (
    "weight_wait",
    "weight_urgency",
    "weight_referral",
    "decline_penalty",
    "match_threshold",
)


def _percent(label, help_text=""):
    return forms.DecimalField(
        label=label,
        help_text=help_text,
        min_value=0,
        max_value=100,
        decimal_places=1,
        widget=forms.NumberInput(attrs={"step": "0.5", "inputmode": "decimal"}),
    )


class WaitlistSettingsForm(forms.Form):
    weight_wait = _percent(_("Waiting time (%)"), _("Share of the score earned by waiting."))
    weight_urgency = _percent(_("Urgency (%)"))
    weight_referral = _percent(_("Referral (%)"))
    decline_penalty = _percent(
        _("Penalty per declined offer (%)"), _("Taken off the score for each offer declined.")
    )
    wait_full_days = forms.IntegerField(
        label=_("Days of waiting for the full waiting-time share"), min_value=1, max_value=3650
    )
    match_threshold = _percent(
        _("Lowest match score for an automatic offer (%)"),
        _("Freed slots are offered only to entries that match at least this well."),
    )
    offer_hold_minutes = forms.IntegerField(
        label=_("An offer holds the slot for (minutes)"), min_value=5, max_value=2880
    )
    offer_lead_minutes = forms.IntegerField(
        label=_("No offer closer to the slot than (minutes)"), min_value=0, max_value=10080
    )

    @classmethod
    def initial_from(cls, settings) -> dict:
        initial = {name: getattr(settings, name) for name in cls.base_fields}
        for name in PERCENT_FIELDS:
            value = (Decimal(str(initial[name])) * 100).quantize(Decimal("0.1"))
            initial[name] = value.to_integral() if value == value.to_integral() else value
        return initial

    def to_settings(self) -> dict:
        data = dict(self.cleaned_data)
        for name in PERCENT_FIELDS:
            data[name] = Decimal(data[name]) / 100
        return data
