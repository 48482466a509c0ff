"""Forms of the marketer's pages: a segment's name, and the options of an export."""

from django import forms

from predictions.services.export_presets import PRESET_CHOICES
from predictions.services.segments import MAX_CONTROL_PCT


class SegmentNameForm(forms.Form):
    name = forms.CharField(max_length=200, label="Segment name",
                           widget=forms.TextInput(attrs={"placeholder": "e.g. Win-back, March", "autocomplete": "off"}))
    # The at-risk list's filter, as its URL query string (see AtRiskFilter.to_query_string).
    query = forms.CharField(required=False, widget=forms.HiddenInput)


class ExportForm(forms.Form):
    pseudonymise = forms.BooleanField(required=False, label="Pseudonymise email and name")
    control = forms.IntegerField(
        required=False, min_value=0, max_value=MAX_CONTROL_PCT, initial=0, label="Hold back a control group (%)",
        help_text="A random share of the customers left out of the file, to measure the campaign's effect later.",
        error_messages={"min_value": "The control group must be a whole percent between 0 and 50.",
                        "max_value": "The control group must be a whole percent between 0 and 50.",
                        "invalid": "The control group must be a whole percent between 0 and 50."},
    )
    preset = forms.ChoiceField(choices=PRESET_CHOICES, required=False, label="Columns for",
                               error_messages={"invalid_choice": "Choose one of the listed campaign tools."})
