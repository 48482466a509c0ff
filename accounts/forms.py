"""Forms of the account pages."""

from django import forms
from django.contrib.auth.forms import AuthenticationForm


class LoginForm(AuthenticationForm):
    """Django's login form with the browser hints a password manager and a phone keyboard need."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["username"].widget.attrs.update(
            {"autofocus": True, "autocomplete": "username", "autocapitalize": "none", "spellcheck": "false"}
        )
        self.fields["password"].widget.attrs.update({"autocomplete": "current-password"})


class ShopSwitchForm(forms.Form):
    """The shop switcher of the top bar: a shop slug, and the page to go back to."""

    shop = forms.SlugField(max_length=64)
    next = forms.CharField(required=False, max_length=2000)
