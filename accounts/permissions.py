"""Who may open which page: role and permission decorators for views, and personal-data access.

Every check reads the user's membership of the shop in question (the page's current shop): a role held
in another shop counts for nothing here. Logged-in users without the right get a 403 page, not a
redirect to the login form (which would suggest that logging in again helps). Anonymous users are sent
to log in."""

from collections.abc import Callable
from functools import wraps

from django.contrib.auth.models import AbstractBaseUser
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied

from .models import Shop
from .selectors import ROLE_RANK, shop_for_request, user_has_role, user_may

PERSONAL_DATA_PERMISSION = "accounts.view_personal_data"


def role_required(*roles: str) -> Callable:
    """View decorator: the user must hold, in the current shop, one of `roles` or a stronger role
    (admin > analyst > marketer). `@role_required("analyst")` lets analysts and admins in and answers a
    marketer with 403."""
    unknown = [r for r in roles if r not in ROLE_RANK]
    if not roles or unknown:
        # Fail at import time: a typo here would otherwise lock everyone out at run time.
        raise ValueError(f"role_required needs roles among {sorted(ROLE_RANK)}, got {roles!r}")

    def decorator(view):
        @wraps(view)
        def wrapped(request, *args, **kwargs):
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            shop = shop_for_request(request)  # NoShopGranted: the "ask an admin" page
            if not user_has_role(user=request.user, shop=shop, roles=roles):
                raise PermissionDenied(f"This page needs the {' or '.join(roles)} role in {shop.name}.")
            return view(request, *args, **kwargs)

        return wrapped

    return decorator


def permission_required_403(*perms: str) -> Callable:
    """View decorator: the user's role in the current shop must carry every permission in `perms`
    ("accounts.export_segments"); else 403."""
    if not perms:
        raise ValueError("permission_required_403 needs at least one permission")

    def decorator(view):
        @wraps(view)
        def wrapped(request, *args, **kwargs):
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            shop = shop_for_request(request)
            if not all(user_may(user=request.user, shop=shop, permission=p) for p in perms):
                raise PermissionDenied("You do not have permission to open this page.")
            return view(request, *args, **kwargs)

        return wrapped

    return decorator


def can_view_personal_data(user: AbstractBaseUser, shop: Shop | int | None) -> bool:
    """Whether `user` may see the email and name of `shop`'s customers (its admins)."""
    return bool(user.is_authenticated and user.is_active
                and user_may(user=user, shop=shop, permission=PERSONAL_DATA_PERMISSION))
