"""Bearer tokens for programs, the session for the browser (DRF enforces CSRF on session writes).

`BearerTokenAuthentication` comes first in DEFAULT_AUTHENTICATION_CLASSES, so a request without
credentials gets 401 with `WWW-Authenticate: Bearer realm="api"`."""

from __future__ import annotations

import time

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions

from accounts.tokens import TokenInvalid, api_token_authenticate, token_hash

from .throttling import TokenRateThrottle, token_ident

KEYWORD = "Bearer"


class BearerTokenAuthentication(authentication.BaseAuthentication):
    """`Authorization: Bearer <token>`. Sets request.user to the owner and request.auth to the ApiToken
    (with `.role`, the owner's current role, and `.shop`, the shop it acts for).

    Verified tokens are cached in the process briefly and invalidated everywhere at once on revocation
    or role changes (see accounts.tokens.api_token_authenticate): no database query per call."""

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].lower() != KEYWORD.lower().encode():
            return None  # not ours: the session may still authenticate the request
        if len(header) != 2:
            raise exceptions.AuthenticationFailed("Malformed Authorization header: expected 'Bearer <token>'.")
        try:
            plain = header[1].decode("ascii")
        except UnicodeDecodeError:
            raise exceptions.AuthenticationFailed("Invalid token.") from None
        token = bearer_token_check(request._request, plain)
        return token.user, token

    def authenticate_header(self, request) -> str:
        return f'{KEYWORD} realm="api"'


_CHECKED = "_ecomsight_bearer_checked"  # on the Django request: the outcome of its token check


def bearer_token_check(request, plain: str):
    """The ApiToken `plain` stands for, or AuthenticationFailed; checked (and counted against the token's rate
    limit) once per request: the outcome, an unexpected error included (the database down), is kept on the
    Django `request`, so that a hot path (ecomsight.api.hot) handing the call over to DRF does not count it
    twice, and DRF answers with what was found."""
    checked = getattr(request, _CHECKED, None)
    if checked is None:
        # The throttle's counter for this token goes along with the token check: one Redis round trip.
        counter = TokenRateThrottle().counter(token_ident(token_hash(plain)), time.time()) if plain else None
        try:
            checked = api_token_authenticate(plain=plain, count=counter)
        except TokenInvalid as exc:
            checked = exceptions.AuthenticationFailed(exc.message)
        except Exception as exc:  # noqa: BLE001 — raised again below, and again if DRF asks
            checked = exc
        setattr(request, _CHECKED, checked)
    if isinstance(checked, Exception):
        raise checked
    return checked


class BearerTokenScheme(OpenApiAuthenticationExtension):
    """Declares the Bearer scheme in the OpenAPI document (drf-spectacular finds it by import)."""

    target_class = "ecomsight.api.authentication.BearerTokenAuthentication"
    name = "bearerAuth"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer",
                "description": "An API token: `python manage.py create_token USER --name NAME --shop SLUG`."}
