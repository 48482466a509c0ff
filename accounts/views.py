"""Login, logout, the shop switcher and the API tokens page."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.core.cache import cache
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template import loader
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.debug import sensitive_variables
from django.views.decorators.http import require_http_methods, require_POST

from ecomsight.errors import UserError

from .forms import LoginForm, ShopSwitchForm, TokenCreateForm, TokenRevokeForm
from .models import ApiToken, Role
from .permissions import role_required
from .selectors import api_token_list, shop_for_request, shop_for_user_get, user_role
from .tokens import IssuedToken, api_token_create, api_token_revoke


class LoginView(auth_views.LoginView):
    """Django's login view; a throttled attempt answers 429 with Retry-After and the form's message."""

    template_name = "accounts/login.html"
    authentication_form = LoginForm
    redirect_authenticated_user = True

    def form_invalid(self, form):
        response = super().form_invalid(form)
        if getattr(form, "block", None) is not None:
            response.status_code = 429
            response["Retry-After"] = str(form.block.retry_after)
        return response


class LogoutView(auth_views.LogoutView):
    """Logout by POST only (Django 5 refuses GET), so a link or an image tag cannot log anyone out. The login page
    it leads to says so: without a word, a user cannot tell a logout from a session that ended by itself."""

    def post(self, request: HttpRequest, *args, **kwargs) -> HttpResponse:
        response = super().post(request, *args, **kwargs)
        messages.info(request, "You are logged out.")
        return response


def _same_site(request: HttpRequest, target: str) -> str:
    """`target` when it is an address of this site, else the dashboard: a shop switch never leads elsewhere."""
    safe = url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    )
    return target if target and safe else "/"


@require_http_methods(["GET", "POST"])
def shop_switch(request: HttpRequest) -> HttpResponse:
    """POST: remember the shop chosen in the top bar, if the user has been granted it; else 404.

    The form is in the top bar of every page, so a GET (the address typed, a bookmark, a reload) goes back to
    the page named by `next`, or the dashboard, switching nothing: a link must not change the shop."""
    if request.method == "GET":
        return redirect(_same_site(request, request.GET.get("next", "")))
    form = ShopSwitchForm(request.POST)
    if not form.is_valid():
        raise Http404("No such shop.")
    # 404 rather than 403 for a shop the user is not granted: do not reveal which shops exist.
    shop = shop_for_user_get(user=request.user, slug=form.cleaned_data["shop"])
    if shop is None:
        raise Http404("No such shop.")
    request.session["shop"] = shop.slug
    messages.success(request, f"Now working on {shop.name}.")
    return redirect(_same_site(request, form.cleaned_data["next"]))


# ---- API tokens -----------------------------------------------------------------------------------
# Everyone with a role manages their own tokens for the current shop; admins also see and revoke the other
# users' tokens of that shop. Anything else answers 404, so that other people's tokens are never revealed.


@dataclass(frozen=True)
class TokenRow:
    token: ApiToken
    status: str  # "active", "expired" or "revoked"
    badge: str  # the badge class of the status


_STATUS_BADGE = {"active": "succeeded", "expired": "neutral", "revoked": "neutral"}


def _token_row(token: ApiToken, now) -> TokenRow:
    if token.revoked_at is not None:
        status = "revoked"
    elif token.expires_at is not None and token.expires_at <= now:
        status = "expired"
    else:
        status = "active"
    return TokenRow(token=token, status=status, badge=_STATUS_BADGE[status])


# The secret of a token just created waits for the redirect's GET in the cache (Redis), under a random key
# kept in the session: never in a URL, a message or the session's database row, and gone after this long
# should that GET never come.
_ISSUED_SECONDS = 300
_ISSUED_SESSION_KEY = "token_issued"


def _issued_cache_key(key: str) -> str:
    return f"token-issued:{key}"


@sensitive_variables("stored")
def _issued_pop(request: HttpRequest, rows: list[TokenRow]) -> IssuedToken | None:
    """The token created by this session's last POST, once: the first GET after it takes it."""
    key = request.session.pop(_ISSUED_SESSION_KEY, None)
    if not key:
        return None
    stored = cache.get(_issued_cache_key(key))
    cache.delete(_issued_cache_key(key))
    token = next((r.token for r in rows if stored and r.token.pk == stored["token_id"]), None)
    if token is None:
        messages.warning(request, "Your new token could not be shown (too long before this page opened). It is on "
                                  "the list: revoke it and create another.")
        return None
    return IssuedToken(token=token, plain=stored["plain"])


@role_required("marketer")
@require_http_methods(["GET", "POST"])
@sensitive_variables("issued")  # never in an error report, should rendering fail
def token_list(request: HttpRequest) -> HttpResponse:
    """The current shop's tokens (the user's own; every one for admins); POST creates one for the user.

    A created token redirects back here (POST/redirect/GET), and that one GET shows its secret: reloading
    the page then neither shows it again nor resends the form, which made a second token."""
    shop = shop_for_request(request)
    is_admin = user_role(user=request.user, shop=shop) == Role.ADMIN
    form = TokenCreateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            issued = api_token_create(user=request.user, shop=shop, name=form.cleaned_data["name"],
                                      expires_days=form.cleaned_data["expires_days"], actor=request.user)
        except UserError as exc:
            form.add_error(exc.field if exc.field in form.fields else None, exc.message)
        else:
            key = secrets.token_urlsafe(24)
            cache.set(_issued_cache_key(key), {"token_id": issued.token.pk, "plain": issued.plain}, _ISSUED_SECONDS)
            request.session[_ISSUED_SESSION_KEY] = key
            return redirect(reverse("accounts:tokens") + "#new-token")
    now = timezone.now()
    rows = [_token_row(t, now) for t in api_token_list(user=request.user, shop=shop)]
    issued = _issued_pop(request, rows) if request.method == "GET" else None
    response = render(request, "accounts/tokens.html", {
        "shop": shop, "form": form, "rows": rows, "is_admin": is_admin, "issued": issued,
        "me_url": request.build_absolute_uri(reverse("api-v1:me")),
    })
    if issued is not None:
        response["Cache-Control"] = "no-store"  # the secret must not stay in a browser's or a proxy's cache
    return response


@role_required("marketer")
@require_POST
def token_revoke(request: HttpRequest) -> HttpResponse:
    """Revoke the token whose id is posted (the list asks to confirm first). One's own token, or for admins
    any of the current shop's; anything else answers 404, like a token that does not exist.

    The id travels in the form, not the URL: the action then has a single address that answers GET with 405."""
    form = TokenRevokeForm(request.POST)
    if not form.is_valid():
        raise Http404("No such token.")
    shop = shop_for_request(request)
    token = get_object_or_404(api_token_list(user=request.user, shop=shop),
                              pk=form.cleaned_data["token"])
    if token.revoked_at is not None:
        messages.info(request, f"“{token.name}” was already revoked.")
    else:
        api_token_revoke(token=token, actor=request.user)
        messages.success(request, f"Revoked “{token.name}” ({token.prefix}…). Tools using it are refused from "
                                  "their next request on.")
    return redirect("accounts:tokens")


def server_error(request: HttpRequest) -> HttpResponse:
    """handler500: the API's error format under /api/, else the 500 page; never a traceback or any detail."""
    if request.path_info.startswith("/api/"):
        return JsonResponse({"status": 500, "code": "server_error", "field": None,
                             "message": "Something went wrong on our side. It has been logged; try again later."},
                            status=500)
    # No context processors: the layout must render even when the database is what failed.
    return HttpResponse(loader.get_template("500.html").render(), status=500)
