"""Forms of the marketer's pages (a segment's name, the options of an export) and of the analyst's (training)."""

from django import forms

from predictions.services.export_presets import PRESET_CHOICES
from predictions.services.segments import MAX_CONTROL_PCT
from predictions.services.training import ALGORITHMS, DEFAULT_ALGORITHMS

ALGORITHM_LABELS = {
    "recency": "Recency alone (baseline)",
    "rfm_logreg": "RFM logistic regression (baseline)",
    "bgnbd": "BG/NBD (label-free)",
    "paretonbd": "Pareto/NBD (label-free)",
    "long_horizon": "Shorter-horizon model blended with Pareto/NBD or BG/NBD",
    "lgbm": "LightGBM",
    "lstm": "LSTM (sequence model)",
    "ensemble": "Ensemble",
    "event_gru": "Event-level GRU (each customer's last events and orders)",
}


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
    include_ordered_since_scoring = forms.BooleanField(
        required=False, label="Include customers who ordered since their score",
        help_text="Left out by default: their score was computed before that order (they are re-scored within "
                  "minutes).")
    include_flagged = forms.BooleanField(
        required=False, label="Include flagged customers",
        help_text="Left out by default: flagged for refund abuse or bot-like sessions (their page says why).")
    preset = forms.ChoiceField(choices=PRESET_CHOICES, required=False, label="Columns for",
                               error_messages={"invalid_choice": "Choose one of the listed campaign tools."})


class TrainForm(forms.Form):
    task = forms.ChoiceField(choices=[("both", "Both: churn and purchase"), ("churn", "Churn"),
                                      ("purchase", "Purchase")], initial="both", label="Predict")
    horizon = forms.IntegerField(min_value=1, max_value=730, label="Horizon (days)")
    algorithms = forms.MultipleChoiceField(
        choices=[(a, ALGORITHM_LABELS.get(a, a)) for a in ALGORITHMS], widget=forms.CheckboxSelectMultiple,
        initial=[a for a in DEFAULT_ALGORITHMS if a != "lstm"], label="Algorithms",
        help_text="All chosen algorithms are compared on the same validation data; the LSTM takes the longest.")
