"""The form that schedules a delivery."""

from django import forms

from predictions.services.export_presets import PRESET_CHOICES, preset_choices

from .models import WEEKDAYS, Delivery


class DeliveryForm(forms.Form):
    segment = forms.TypedChoiceField(coerce=int, label="Segment")
    # static/js/delivery_kind.js shows only the fieldset of the kind chosen (without JS both stay shown).
    kind = forms.ChoiceField(choices=Delivery.Kind.choices, label="Send to",
                             widget=forms.Select(attrs={"data-kind-fields": ""}))
    frequency = forms.ChoiceField(choices=Delivery.Frequency.choices, label="How often")
    weekday = forms.TypedChoiceField(choices=WEEKDAYS, coerce=int, required=False, empty_value=0,
                                     label="Day (once a week)")
    preset = forms.ChoiceField(choices=PRESET_CHOICES, label="Columns for")
    pseudonymise = forms.BooleanField(required=False, initial=True, label="Pseudonymise email and name")
    url = forms.CharField(required=False, max_length=2000, label="Webhook address (https://…)")
    endpoint_url = forms.CharField(required=False, max_length=2000,
                                   label="S3 endpoint (empty for AWS; e.g. https://s3.eu-central-1.wasabisys.com)")
    region = forms.CharField(required=False, max_length=50, label="Region")
    bucket = forms.CharField(required=False, max_length=255, label="Bucket")
    prefix = forms.CharField(required=False, max_length=500, label="Key prefix (folder)")
    access_key_id = forms.CharField(required=False, max_length=200, label="Access key id")
    secret_access_key = forms.CharField(required=False, max_length=500, widget=forms.PasswordInput,
                                        label="Secret access key")

    def __init__(self, *args, segments=(), personal_data: bool = True, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["segment"].choices = [(s.pk, s.name) for s in segments]
        # Only the presets this user can use are offered; the field accepts every preset so that the service
        # gives its reason for refusing one (a hand-made POST).
        self.fields["preset"].widget.choices = preset_choices(personal_data=personal_data)
