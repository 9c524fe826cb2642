from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from clinic.care.models import ConsultationType, FrequencyUnit
from clinic.directory.models import Modality


class PlanForm(forms.Form):
    """Field names are the API's, so the form data goes to the same service unchanged."""

    title = forms.CharField(label=_("Title"), max_length=200)
    practitioner_id = forms.ChoiceField(label=_("Responsible practitioner"))
    service_id = forms.ChoiceField(label=_("Default service"), required=False)
    location_id = forms.ChoiceField(label=_("Default location"), required=False)
    modality = forms.ChoiceField(label=_("Modality"), choices=Modality.choices)
    start_date = forms.DateField(
        label=_("Start date"), widget=forms.DateInput(attrs={"type": "date"})
    )
    end_date = forms.DateField(
        label=_("Expected end date"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    planned_consultations = forms.IntegerField(
        label=_("Planned consultations"), required=False, min_value=1, max_value=1000
    )
    frequency_count = forms.IntegerField(
        label=_("Frequency"), required=False, min_value=1, max_value=1000
    )
    frequency_unit = forms.ChoiceField(label=_("Per"), choices=FrequencyUnit.choices)
    reason = forms.CharField(
        label=_("Reason for referral"), required=False, widget=forms.Textarea(attrs={"rows": 2})
    )
    diagnosis_codes = forms.CharField(
        label=_("Diagnosis codes"),
        required=False,
        help_text=_("Separated by commas, e.g. M17.1, S83.5"),
    )
    goals = forms.CharField(
        label=_("Goals"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("One per line; add a target after a “|”, e.g. Climb stairs | 4 weeks"),
    )
    notes = forms.CharField(
        label=_("Notes"), required=False, widget=forms.Textarea(attrs={"rows": 2})
    )

    def __init__(self, *args, practitioners=(), services=(), locations=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["practitioner_id"].choices = [(p.id, p.display_name) for p in practitioners]
        self.fields["service_id"].choices = [("", "—")] + [(s.id, s.name) for s in services]
        self.fields["location_id"].choices = [("", "—")] + [(loc.id, loc.name) for loc in locations]

    def service_data(self) -> dict:
        data = dict(self.cleaned_data)
        data["diagnosis_codes"] = [
            c.strip() for c in data["diagnosis_codes"].split(",") if c.strip()
        ]
        goals = []
        for line in data["goals"].splitlines():
            if line.strip():
                text, _sep, target = line.partition("|")
                goals.append({"text": text.strip(), "target": target.strip()})
        data["goals"] = goals
        for key in ("service_id", "location_id"):
            data[key] = data[key] or None
        return data


class SlotForm(forms.Form):
    """Add a consultation at a free slot of the planner."""

    planned_start = forms.DateTimeField(widget=forms.HiddenInput)
    type = forms.ChoiceField(label=_("Type"), choices=ConsultationType.choices)
    location_id = forms.ChoiceField(label=_("Location"), required=False)
    modality = forms.ChoiceField(label=_("Modality"), choices=Modality.choices)

    def __init__(self, *args, locations=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["location_id"].choices = [("", "—")] + [(loc.id, loc.name) for loc in locations]


BULK_ACTIONS = [
    ("schedule", _("Schedule")),
    ("cancel", _("Cancel")),
    ("delete", _("Delete")),
    ("move", _("Move to…")),
]
