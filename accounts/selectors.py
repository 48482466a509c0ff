"""Reads about shops and users."""

from collections.abc import Iterable

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.crypto import salted_hmac

from ecomsight.errors import UserError

from .models import ApiToken, AuditLog, Membership, Role, Shop

# Each role includes the permissions of the weaker ones.
ROLE_RANK = {Role.MARKETER.value: 1, Role.ANALYST.value: 2, Role.ADMIN.value: 3}
# What each role may do in the shops where a membership gives it (codenames of Shop.Meta.permissions).
ROLE_PERMISSIONS: dict[str, frozenset[str]] = {
    "marketer": frozenset({"export_segments"}),
    "analyst": frozenset({"export_segments", "import_data", "manage_models"}),
    "admin": frozenset({"export_segments", "import_data", "manage_models", "view_personal_data", "manage_users"}),
}


def customer_id_hash(*, shop_id: int, external_id: str) -> str:
    """What is kept of an erased customer's id (the audit row "customer.erase", privacy.services): a keyed hash
    (HMAC-SHA256 with SECRET_KEY) of the shop and the id. It proves a given id was erased, and lets imports refuse
    it again (`erased_customer_hashes`), without storing it; unkeyed, a short id could be found by trying all."""
    return salted_hmac("ecomsight.privacy.erasure", f"{shop_id}:{external_id}", algorithm="sha256").hexdigest()


def erased_customer_hashes(*, shop_id: int) -> set[str]:
    """The hashes (`customer_id_hash`) of every customer id erased from the shop."""
    return set(AuditLog.objects.filter(shop_id=shop_id, action="customer.erase").values_list("target", flat=True))


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


def user_role(*, user: AbstractBaseUser, shop: Shop | int | None) -> str | None:
    """The user's role *in `shop`*, from their membership of it (superusers: admin everywhere); None when
    they are not a member, or without a shop. The one place every permission check reads a role from."""
    if not user.is_authenticated or not user.is_active or shop is None:
        return None
    if user.is_superuser:
        return Role.ADMIN.value
    shop_id = shop if isinstance(shop, int) else shop.pk
    return Membership.objects.filter(user_id=user.pk, shop_id=shop_id).values_list("role", flat=True).first()


def role_allows(role: str | None, permission: str) -> bool:
    """Whether `role` carries `permission` ("export_segments", "view_personal_data", ...)."""
    return role is not None and permission in ROLE_PERMISSIONS.get(str(role), ())


def user_may(*, user: AbstractBaseUser, shop: Shop | int | None, permission: str) -> bool:
    """Whether `user`'s role in `shop` carries `permission` (accounts.<codename> or the bare codename)."""
    return role_allows(user_role(user=user, shop=shop), permission.removeprefix("accounts."))


def admin_shop_ids(*, user: AbstractBaseUser) -> list[int]:
    """The shops `user` administers (every shop for a superuser)."""
    if not user.is_authenticated or not user.is_active:
        return []
    if user.is_superuser:
        return list(Shop.objects.values_list("pk", flat=True))
    return list(Membership.objects.filter(user_id=user.pk, role=Role.ADMIN).values_list("shop_id", flat=True))


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


def user_has_role(*, user: AbstractBaseUser, shop: Shop | None, roles: Iterable[str]) -> bool:
    """Whether the user holds, in `shop`, one of `roles` or a stronger one.

    Roles are ordered (marketer < analyst < admin) and each includes the permissions of the ones
    below it (see ROLE_PERMISSIONS), so an admin may do whatever an analyst may."""
    role = user_role(user=user, shop=shop)
    if role is None:
        return False
    wanted = [ROLE_RANK[r] for r in roles]
    return bool(wanted) and ROLE_RANK[role] >= min(wanted)


def api_token_list(*, user: AbstractBaseUser, shop: Shop) -> QuerySet[ApiToken]:
    """The tokens of `shop` that `user` may see and revoke: their own, or every one for an admin."""
    tokens = ApiToken.objects.filter(shop=shop).select_related("user")
    return tokens if user_role(user=user, shop=shop) == Role.ADMIN else tokens.filter(user=user)
