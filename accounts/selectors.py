"""Reads about shops and users."""

from collections.abc import Iterable

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest

from ecomsight.errors import UserError

from .models import ApiToken, Role, Shop

# Each role includes the permissions of the weaker ones (see accounts/migrations/0002_roles.py).
ROLE_RANK = {Role.MARKETER.value: 1, Role.ANALYST.value: 2, Role.ADMIN.value: 3}


class ShopNotFound(UserError):
    """The shop asked for does not exist, or there is no way to choose one."""


def shop_get(*, slug: str | None = None) -> Shop:
    """The shop named by `slug`; without one, the only shop (an error when there are several)."""
    if slug:
        try:
            return Shop.objects.get(slug=slug)
        except Shop.DoesNotExist:
            known = ", ".join(Shop.objects.values_list("slug", flat=True)) or "none yet"
            raise ShopNotFound(f"No shop '{slug}'. Known shops: {known}.") from None
    shops = list(Shop.objects.all()[:2])
    if len(shops) == 1:
        return shops[0]
    if not shops:
        raise ShopNotFound("There is no shop yet: import data with --shop SLUG to create one.")
    raise ShopNotFound("There are several shops: choose one with --shop SLUG.")


def shop_list_for_user(*, user: AbstractBaseUser) -> list[Shop]:
    """The shops a user may see: those granted to them (superusers see every shop)."""
    if not user.is_authenticated:
        return []
    if user.is_superuser:
        return list(Shop.objects.all())
    return list(user.shops.all())


def user_role(*, user: AbstractBaseUser) -> str | None:
    """The strongest role of a user: admin > analyst > marketer (None without any)."""
    if not user.is_authenticated:
        return None
    if user.is_superuser:
        return Role.ADMIN
    names = set(user.groups.values_list("name", flat=True))
    for role in (Role.ADMIN, Role.ANALYST, Role.MARKETER):
        if role.value in names:
            return role.value
    return None


class NoShopGranted(PermissionDenied):
    """A logged-in user who has not been granted any shop yet (pages show "ask an admin")."""


# Cached on the request: the layout's context processor and the view both ask for the shop.
_REQUEST_CACHE_ATTR = "_ecomsight_shop"


def shop_for_request(request: HttpRequest) -> Shop:
    """The shop a page works on: the one chosen in the session if the user may see it, else their first.

    A slug in the session is only a preference: it is checked against the user's grants on every
    request, so a stale or tampered session never reaches another tenant's data.
    Raises NoShopGranted (a PermissionDenied) when the user has no shop at all."""
    user = request.user
    if not user.is_authenticated:
        raise PermissionDenied("Log in to see a shop.")
    slug = request.session.get("shop")
    cached = getattr(request, _REQUEST_CACHE_ATTR, None)
    if cached is not None and cached[0] == (user.pk, slug):
        return cached[1]
    shops = shop_list_for_user(user=user)
    if not shops:
        raise NoShopGranted("You have not been granted any shop yet. Ask an admin to give you access to one.")
    shop = next((s for s in shops if s.slug == slug), shops[0])
    setattr(request, _REQUEST_CACHE_ATTR, ((user.pk, slug), shop))
    return shop


def shop_for_user_get(*, user: AbstractBaseUser, slug: str) -> Shop | None:
    """The shop `slug` if `user` may see it, else None (whether it exists or not: no tenant leaks)."""
    return next((s for s in shop_list_for_user(user=user) if s.slug == slug), None)


def user_has_role(*, user: AbstractBaseUser, roles: Iterable[str]) -> bool:
    """Whether the user holds one of `roles` or a stronger one.

    Roles are ordered (marketer < analyst < admin) and each includes the permissions of the ones
    below it (see the roles migration), so an admin may do whatever an analyst may."""
    role = user_role(user=user)
    if role is None:
        return False
    wanted = [ROLE_RANK[r] for r in roles]
    return bool(wanted) and ROLE_RANK[role] >= min(wanted)


def api_token_list(*, user: AbstractBaseUser, shop: Shop) -> QuerySet[ApiToken]:
    """The tokens of `shop` that `user` may see and revoke: their own, or every one for an admin."""
    tokens = ApiToken.objects.filter(shop=shop).select_related("user")
    return tokens if user_role(user=user) == Role.ADMIN else tokens.filter(user=user)
