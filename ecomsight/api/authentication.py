"""Bearer tokens for programs, the session for the browser (DRF enforces CSRF on session writes).

`BearerTokenAuthentication` comes first in DEFAULT_AUTHENTICATION_CLASSES, so a request without
credentials gets 401 with `WWW-Authenticate: Bearer realm="api"`."""

from __future__ import annotations

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions

from accounts.tokens import TokenInvalid, api_token_verify

KEYWORD = "Bearer"


class BearerTokenAuthentication(authentication.BaseAuthentication):
    """`Authorization: Bearer <token>`. Sets request.user to the owner and request.auth to the ApiToken
    (with `.role`, the owner's current role, and `.shop`, the shop it acts for), verified against the
    database on every call (accounts.tokens.api_token_verify)."""

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
        try:
            token = api_token_verify(plain=plain)
        except TokenInvalid as exc:
            raise exceptions.AuthenticationFailed(exc.message) from None
        return token.user, token

    def authenticate_header(self, request) -> str:
        return f'{KEYWORD} realm="api"'


class BearerTokenScheme(OpenApiAuthenticationExtension):
    """Declares the Bearer scheme in the OpenAPI document (drf-spectacular finds it by import)."""

    target_class = "ecomsight.api.authentication.BearerTokenAuthentication"
    name = "bearerAuth"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer",
                "description": "An API token: from the web app's API tokens page (`/accounts/tokens/`) or "
                               "`python manage.py create_token USER --name NAME --shop SLUG`."}
