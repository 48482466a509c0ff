"""API tokens: create, verify, revoke. Only a SHA-256 hash of a token is stored; the plain token is
shown once, when it is created.

A token acts for one shop with its owner's *current* role: demoting the owner, deactivating them or
taking the shop away from them takes effect on the next request, without touching the token.
SHA-256 (not a slow password hash) is right here: tokens are 256 random bits, nothing to guess, and
every API call verifies one."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from ecomsight.errors import UserError

from .models import ApiToken, AuditLog, Role, Shop
from .selectors import user_role

TOKEN_PREFIX = "es_"
PREFIX_LENGTH = 12  # ApiToken.prefix: enough to recognise a token in a list, far too little to use it
# last_used_at is written at most this often per token: a busy client would otherwise write on every call.
LAST_USED_PRECISION = timedelta(seconds=60)
MAX_NAME_LENGTH = 100


class TokenInvalid(UserError):
    """The presented token is unknown, expired, revoked, or its owner may no longer use it."""

    code = "authentication_failed"


@dataclass(frozen=True)
class IssuedToken:
    """A newly created token: the stored row and the plain secret (shown once, never stored)."""

    token: ApiToken
    plain: str


def token_hash(plain: str) -> str:
    """The stored form of a token: SHA-256 as 64 hex digits."""
    return hashlib.sha256(plain.encode("utf-8", "surrogatepass")).hexdigest()


@transaction.atomic
def api_token_create(*, user: AbstractBaseUser, shop: Shop, name: str, expires_days: int | None = None,
                     actor: AbstractBaseUser | None = None) -> IssuedToken:
    """Create a token for `user` acting on `shop`. The user must hold a role and be granted the shop.

    Audited as "token.create" (with the prefix, never the secret)."""
    name = " ".join((name or "").split())
    if not name:
        raise UserError("Give the token a name (what or who uses it).", field="name")
    if len(name) > MAX_NAME_LENGTH:
        raise UserError(f"A token name can be at most {MAX_NAME_LENGTH} characters.", field="name")
    if not user.is_active:
        raise UserError(f"User '{user.get_username()}' is inactive.", field="user")
    if user_role(user=user) is None:
        raise UserError(f"User '{user.get_username()}' has no role: give them one with create_user --role.",
                        field="user")
    if not (user.is_superuser or user.shops.filter(pk=shop.pk).exists()):
        raise UserError(f"User '{user.get_username()}' is not granted the shop '{shop.slug}'.", field="shop")
    expires_at = None
    if expires_days is not None:
        if not 1 <= expires_days <= 3650:
            raise UserError("A token expires after 1 to 3650 days.", field="expires_days")
        expires_at = timezone.now() + timedelta(days=expires_days)
    plain = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken.objects.create(user=user, shop=shop, name=name, prefix=plain[:PREFIX_LENGTH],
                                    key_hash=token_hash(plain), expires_at=expires_at)
    AuditLog.objects.create(shop=shop, user=actor or user, action="token.create", target=name,
                            details={"token_id": token.pk, "prefix": token.prefix, "owner": user.get_username(),
                                     "expires_at": expires_at.isoformat() if expires_at else None})
    return IssuedToken(token=token, plain=plain)


@transaction.atomic
def api_token_revoke(*, token: ApiToken, actor: AbstractBaseUser | None = None) -> ApiToken:
    """Revoke a token now (idempotent: revoking twice keeps the first time). Audited as "token.revoke"."""
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
        AuditLog.objects.create(shop=token.shop, user=actor, action="token.revoke", target=token.name,
                                details={"token_id": token.pk, "prefix": token.prefix})
    return token


def _role_annotations() -> dict:
    # The owner's role as three EXISTS in the same query as the token: one round trip per API call.
    memberships = get_user_model().groups.through.objects.filter(user_id=OuterRef("user_id"))
    return {f"is_{role.value}": Exists(memberships.filter(group__name=role.value)) for role in Role}


def api_token_verify(*, plain: str) -> ApiToken:
    """The token row for `plain`, with `.role` set to its owner's current role; raises TokenInvalid.

    Refused: unknown tokens, expired or revoked ones, inactive owners, owners without a role, and
    owners no longer granted the token's shop. `last_used_at` is updated at most once a minute."""
    if not plain or len(plain) > 200:
        raise TokenInvalid("Invalid token.")
    granted = Shop.members.through.objects.filter(user_id=OuterRef("user_id"), shop_id=OuterRef("shop_id"))
    token = (
        ApiToken.objects.select_related("user", "shop")
        .annotate(granted=Exists(granted), **_role_annotations())
        .filter(key_hash=token_hash(plain))
        .first()
    )
    if token is None:
        raise TokenInvalid("Invalid token.")
    now = timezone.now()
    if token.revoked_at is not None:
        raise TokenInvalid("This token has been revoked.")
    if token.expires_at is not None and token.expires_at <= now:
        raise TokenInvalid("This token has expired.")
    user = token.user
    if not user.is_active:
        raise TokenInvalid("The token's owner is inactive.")
    if not (token.granted or user.is_superuser):
        raise TokenInvalid("The token's owner is no longer granted its shop.")
    if user.is_superuser:
        token.role = Role.ADMIN.value
    else:
        token.role = next((r.value for r in (Role.ADMIN, Role.ANALYST, Role.MARKETER)
                           if getattr(token, f"is_{r.value}")), None)
    if token.role is None:
        raise TokenInvalid("The token's owner has no role.")
    if token.last_used_at is None or now - token.last_used_at >= LAST_USED_PRECISION:
        # Conditional, so concurrent calls of one token write it once.
        ApiToken.objects.filter(pk=token.pk).filter(
            Q(last_used_at__isnull=True) | Q(last_used_at__lte=now - LAST_USED_PRECISION)
        ).update(last_used_at=now)
        token.last_used_at = now
    return token
