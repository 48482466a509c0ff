"""Reads about shops and users."""

from django.contrib.auth.models import AbstractBaseUser

from ecomsight.errors import UserError

from .models import Role, Shop


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
