"""Forms of the account pages."""

from django import forms
from django.contrib.auth.forms import AuthenticationForm

from .throttle import LoginBlock, client_ip, login_attempt_check, login_attempt_succeeded
from .tokens import MAX_NAME_LENGTH

MAX_EXPIRES_DAYS = 3650  # the bound api_token_create enforces; here so the form says it before the service does


class LoginForm(AuthenticationForm):
    """Django's login form with the browser hints a password manager and a phone keyboard need, and
    brute-force throttling (accounts.throttle): too many attempts refuse the form before the password is checked."""

    error_messages = {
        **AuthenticationForm.error_messages,
        "throttled": "Too many failed logins. For your account's safety, try again in %(minutes)s.",
    }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.block: LoginBlock | None = None
        self.fields["username"].widget.attrs.update(
            {"autofocus": True, "autocomplete": "username", "autocapitalize": "none", "spellcheck": "false"}
        )
        self.fields["password"].widget.attrs.update({"autocomplete": "current-password"})

    def clean(self):
        username = self.cleaned_data.get("username")
        password = self.cleaned_data.get("password")
        if self.request is None or not (username and password):
            return super().clean()
        ip = client_ip(self.request)
        self.block = login_attempt_check(username=username, ip=ip)
        if self.block is not None:
            minutes = max(1, round(self.block.retry_after / 60))
            raise forms.ValidationError(
                self.error_messages["throttled"], code="throttled",
                params={"minutes": f"{minutes} minute{'s' if minutes != 1 else ''}"},
            )
        cleaned = super().clean()  # raises on a wrong password: the attempt stays counted
        login_attempt_succeeded(username=username, ip=ip)
        return cleaned


class ShopSwitchForm(forms.Form):
    """The shop switcher of the top bar: a shop slug, and the page to go back to."""

    shop = forms.SlugField(max_length=64)
    next = forms.CharField(required=False, max_length=2000)


class TokenCreateForm(forms.Form):
    """The "new API token" form. Only the shape is checked here; accounts.tokens.api_token_create decides the rest."""

    name = forms.CharField(
        max_length=MAX_NAME_LENGTH, help_text="What or who uses it, e.g. “CRM sync”.",
        error_messages={"required": "Give the token a name (what or who uses it)."},
    )
    expires_days = forms.IntegerField(
        label="Expires after (days)", required=False, min_value=1, max_value=MAX_EXPIRES_DAYS,
        help_text=f"1 to {MAX_EXPIRES_DAYS:,} days. Leave it blank for a token that does not expire.",
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["name"].widget.attrs.update({"autocomplete": "off", "spellcheck": "false"})
        self.fields["expires_days"].widget.attrs.update({"inputmode": "numeric", "placeholder": "never"})


class TokenRevokeForm(forms.Form):
    """The revoke button of one row of the tokens list."""

    token = forms.IntegerField(min_value=1)
