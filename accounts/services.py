"""Writes about users and their memberships: creating users, their role in each shop, their password.

Every membership change (a user invited into a shop, their role there changed, their removal) writes an
audit row on the shop concerned."""

from collections.abc import Iterable

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import transaction

from ecomsight.errors import UserError

from .models import AuditLog, Membership, Role, Shop


def _role_checked(role: str) -> str:
    if role not in Role.values:
        raise UserError(f"Unknown role '{role}': choose one of {', '.join(Role.values)}.", field="role")
    return str(role)


def _staff_sync(user: AbstractBaseUser) -> None:
    # Django's admin site opens to superusers and to admins of at least one shop (it then shows only theirs).
    staff = user.is_superuser or Membership.objects.filter(user_id=user.pk, role=Role.ADMIN).exists()
    if user.is_staff != staff:
        user.is_staff = staff
        user.save(update_fields=["is_staff"])


@transaction.atomic
def membership_set(*, shop: Shop, user: AbstractBaseUser, role: str,
                   actor: AbstractBaseUser | None = None) -> Membership:
    """Make `user` a member of `shop` with `role` (invite them, or change their role there).

    Audited on the shop as "membership.create" or "membership.role_changed" (nothing when unchanged)."""
    role = _role_checked(role)
    membership = Membership.objects.select_for_update().filter(shop=shop, user=user).first()
    if membership is None:
        membership = Membership.objects.create(shop=shop, user=user, role=role)
        AuditLog.objects.create(shop=shop, user=actor, action="membership.create", target=user.get_username(),
                                details={"role": role})
    elif membership.role != role:
        old = membership.role
        membership.role = role
        membership.save(update_fields=["role"])
        AuditLog.objects.create(shop=shop, user=actor, action="membership.role_changed",
                                target=user.get_username(), details={"from": old, "to": role})
    _staff_sync(user)
    return membership


@transaction.atomic
def membership_remove(*, shop: Shop, user: AbstractBaseUser, actor: AbstractBaseUser | None = None) -> bool:
    """Remove `user` from `shop` (their tokens for it stop working at once). Idempotent; audited as
    "membership.remove". Returns whether there was a membership to remove."""
    membership = Membership.objects.select_for_update().filter(shop=shop, user=user).first()
    if membership is None:
        return False
    role = membership.role
    membership.delete()
    AuditLog.objects.create(shop=shop, user=actor, action="membership.remove", target=user.get_username(),
                            details={"role": role})
    _staff_sync(user)
    return True


@transaction.atomic
def user_create_or_update(
    *,
    username: str,
    role: str,
    password: str | None,
    shops: Iterable[Shop] | None,
    email: str = "",
    actor: AbstractBaseUser | None = None,
) -> AbstractBaseUser:
    """Create the user `username`, or update an existing one, with `role` in each of `shops`.

    `password` is checked with the configured password validators (None keeps an existing user's
    password; a new user needs one). `shops` replaces the user's memberships (each with `role`; None
    gives `role` in the shops the user already belongs to). An admin of any shop may open Django's admin
    site (is_staff), where they see their own shops only. Every membership change is audited. Raises
    UserError with a readable message on bad input. Accounts as a whole: superusers and the command line."""
    username = (username or "").strip()
    if not username:
        raise UserError("A username is needed.", field="username")
    role = _role_checked(role)

    User = get_user_model()
    user = User.objects.select_for_update().filter(username=username).first()
    created = user is None
    if created:
        user = User(username=username)
    if email:
        user.email = email

    if password is not None:
        # Validate against the user (UserAttributeSimilarityValidator compares with name and email).
        try:
            validate_password(password, user=user)
        except ValidationError as exc:
            raise UserError("Password refused: " + " ".join(exc.messages), field="password") from None
        user.set_password(password)
    elif created:
        raise UserError("A new user needs a password.", field="password")
    user.save()

    current = {m.shop_id: m for m in Membership.objects.filter(user=user).select_related("shop")}
    wanted = list(dict.fromkeys(shops)) if shops is not None else [m.shop for m in current.values()]
    for shop in wanted:
        membership_set(shop=shop, user=user, role=role, actor=actor)
    if shops is not None:
        keep = {shop.pk for shop in wanted}
        for shop_id, membership in current.items():
            if shop_id not in keep:
                membership_remove(shop=membership.shop, user=user, actor=actor)
    _staff_sync(user)
    return user


@transaction.atomic
def shop_currency_set(*, shop: Shop, currency: str, reason: str = "") -> None:
    """Give `shop` the currency its figures are written in (an ISO 4217 code), with an audit row. Nothing converts
    stored amounts: callers set it only for a shop that holds no orders yet (behavior.ingest.currency)."""
    if shop.currency == currency:
        return
    old, shop.currency = shop.currency, currency
    shop.save(update_fields=["currency"])
    AuditLog.objects.create(shop=shop, action="shop.currency_set", target=shop.slug,
                            details={"from": old, "to": currency, "reason": reason})
