"""Who may call what: the caller's role (marketer < analyst < admin) within the shop it acts for.

A token carries its shop and its owner's current role *in that shop* (see accounts.tokens); a browser
session uses the shop chosen in the web app and the user's membership of it. Views declare the weakest role per method:
`required_roles = {"GET": "marketer", "POST": "analyst"}`."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from rest_framework.permissions import BasePermission

from accounts.models import Shop
from accounts.permissions import can_view_personal_data
from accounts.selectors import ROLE_RANK, shop_for_request, user_role

_ROLE_ATTR = "_ecomsight_api_role"
_SHOP_ATTR = "_ecomsight_api_shop"


def request_role(request) -> str | None:
    """The caller's role: the token's (computed when it was verified) or the session user's."""
    cached = getattr(request, _ROLE_ATTR, False)
    if cached is not False:
        return cached
    token = request.auth
    if token is not None:
        role = getattr(token, "role", None)
    else:  # a browser session: the user's role in the session's current shop
        role = user_role(user=request.user, shop=request_shop(request)) if request.user.is_authenticated else None
    role = None if role is None else str(role)
    setattr(request, _ROLE_ATTR, role)
    return role


def request_shop(request) -> Shop:
    """The shop the call acts within: the token's shop, or the session's current shop."""
    shop = getattr(request, _SHOP_ATTR, None)
    if shop is None:
        token = request.auth
        shop = token.shop if token is not None and hasattr(token, "shop") else shop_for_request(request._request)
        setattr(request, _SHOP_ATTR, shop)
    return shop


def request_personal_data(request) -> bool:
    """Whether the caller may see customers' email and name: the token's answer (computed when it was
    verified, so no permission queries per call) or the session user's."""
    token = request.auth
    if token is not None:
        return personal_data_for(token, request.user)
    return can_view_personal_data(request.user, request_shop(request))


def personal_data_for(token, user) -> bool:
    """A token's answer, computed when it was verified from its owner's role in the token's shop."""
    personal = getattr(token, "personal_data", None) if token is not None else None
    return can_view_personal_data(user, getattr(token, "shop_id", None)) if personal is None else bool(personal)


def role_at_least(role: str | None, wanted: str) -> bool:
    return role is not None and ROLE_RANK[role] >= ROLE_RANK[wanted]


class RolePermission(BasePermission):
    """The caller must be authenticated, act within a shop, and hold the view's role for the method."""

    message = "Your role does not allow this."

    def has_permission(self, request, view) -> bool:
        if not (request.user and request.user.is_authenticated):
            return False
        method = "GET" if request.method in ("HEAD", "OPTIONS") else request.method
        if not hasattr(view, method.lower()):
            return True  # DRF answers 405 next; a role error would hide that the method does not exist
        roles = getattr(view, "required_roles", {})
        wanted = roles.get(method) or roles.get("*", "admin")
        role = request_role(request)
        if not role_at_least(role, wanted):
            raise PermissionDenied(f"This needs the {wanted} role or a stronger one; your role is {role or 'none'}.")
        request_shop(request)  # raises NoShopGranted (403) for a session user without any shop
        return True
