"""Writes about users: creating them, their role, password and shops."""

from collections.abc import Iterable

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser, Group
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import transaction

from ecomsight.errors import UserError

from .models import AuditLog, Role, Shop
from .selectors import user_role


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
    """Create the user `username`, or update an existing one, with exactly one role.

    `password` is checked with the configured password validators (None keeps an existing user's
    password; a new user needs one). `shops` replaces the user's grants (None leaves them as they
    are). The admin role also gives access to Django's admin site (is_staff). Role changes are
    written to the audit log. Raises UserError with a readable message on bad input."""
    username = (username or "").strip()
    if not username:
        raise UserError("A username is needed.", field="username")
    if role not in Role.values:
        raise UserError(f"Unknown role '{role}': choose one of {', '.join(Role.values)}.", field="role")

    User = get_user_model()
    user = User.objects.select_for_update().filter(username=username).first()
    created = user is None
    if created:
        user = User(username=username)
    old_role = None if created else _role_name(user)
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

    # Superusers keep their admin-site access whatever their role group says.
    user.is_staff = role == Role.ADMIN or user.is_superuser
    user.save()

    # One role per user: drop the other role groups, so that a demotion really takes effect.
    role_groups = {g.name: g for g in Group.objects.filter(name__in=Role.values)}
    if role not in role_groups:
        raise UserError(f"The '{role}' group is missing: run `python manage.py migrate`.", field="role")
    user.groups.remove(*[g for name, g in role_groups.items() if name != role])
    user.groups.add(role_groups[role])

    new_role = _role_name(user)
    if new_role != old_role:
        AuditLog.objects.create(
            user=actor,
            action="user.role_changed",
            target=username,
            details={"from": old_role, "to": new_role, "created": created},
        )

    if shops is not None:
        shops = list(shops)
        before = set(user.shops.values_list("slug", flat=True))
        user.shops.set(shops)
        after = {s.slug for s in shops}
        if before != after:
            AuditLog.objects.create(
                user=actor,
                action="user.shops_changed",
                target=username,
                details={"from": sorted(before), "to": sorted(after)},
            )
    return user


def _role_name(user: AbstractBaseUser) -> str | None:
    role = user_role(user=user)
    return None if role is None else str(role)
