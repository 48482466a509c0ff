"""API tokens: create, verify, revoke. Only a SHA-256 hash of a token is stored; the plain token is
shown once, when it is created.

A token acts for one shop with its owner's *current* role in that shop (their Membership of it): demoting
the owner there, deactivating them or removing them from the shop takes effect on the next request, without
touching the token.
SHA-256 (not a slow password hash) is right here: tokens are 256 random bits, nothing to guess, and
every API call verifies one."""

from __future__ import annotations

import hashlib
import logging
import secrets
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.core.cache import cache
from django.db import transaction
from django.db.models import OuterRef, Q, Subquery
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver
from django.utils import timezone

from ecomsight.errors import UserError

from .models import ApiToken, AuditLog, Membership, Role, Shop
from .selectors import role_allows, user_role

logger = logging.getLogger(__name__)

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
    """Create a token for `user` acting on `shop`. The user must hold a role and be granted the shop, and
    have no active token (neither revoked nor expired) of the same name there, whatever its case: names tell
    a user's tools apart on the list, to revoke the right one.

    Audited as "token.create" (with the prefix, never the secret)."""
    name = " ".join((name or "").split())
    if not name:
        raise UserError("Give the token a name (what or who uses it).", field="name")
    if len(name) > MAX_NAME_LENGTH:
        raise UserError(f"A token name can be at most {MAX_NAME_LENGTH} characters.", field="name")
    if not user.is_active:
        raise UserError(f"User '{user.get_username()}' is inactive.", field="user")
    if user_role(user=user, shop=shop) is None:
        raise UserError(f"User '{user.get_username()}' is not a member of the shop '{shop.slug}': give them a "
                        "role in it with create_user --role ROLE --shop SLUG.", field="shop")
    expires_at = None
    if expires_days is not None:
        if not 1 <= expires_days <= 3650:
            raise UserError("A token expires after 1 to 3650 days.", field="expires_days")
        expires_at = timezone.now() + timedelta(days=expires_days)
    # The owner's row is locked so that two requests at once cannot both pass the check below; a unique
    # index cannot say "active" (expiry is a matter of time).
    get_user_model().objects.select_for_update().only("pk").get(pk=user.pk)
    now = timezone.now()
    if (ApiToken.objects.filter(user=user, shop=shop, name__iexact=name, revoked_at__isnull=True)
            .filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now)).exists()):
        raise UserError(f"{user.get_username()} already has an active token named “{name}” for {shop.name}: give "
                        "this one another name, or revoke that one first.", field="name")
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


def _cache_key(key_hash: str) -> str:
    return f"api-token:{key_hash}"


def tokens_forget(key_hashes) -> None:
    """Drop verified tokens from the cache once the change commits (revoked; owner's role changed or removed):
    their next call is verified against the database again."""
    keys = [_cache_key(h) for h in key_hashes]
    if keys:
        # Now, and again when the change commits: a call verified meanwhile may have cached the old row.
        cache.delete_many(keys)
        transaction.on_commit(lambda: cache.delete_many(keys))


def tokens_forget_for(*, user_id: int, shop_id: int | None = None) -> None:
    """`tokens_forget` for every token of a user (in one shop)."""
    tokens = ApiToken.objects.filter(user_id=user_id)
    if shop_id is not None:
        tokens = tokens.filter(shop_id=shop_id)
    tokens_forget(list(tokens.values_list("key_hash", flat=True)))


# Whoever writes (services, Django admin, a shell), the saved row drops the cached tokens it could change.
@receiver([post_save, post_delete], sender=ApiToken, dispatch_uid="api_token_forget_token")
def _token_changed(sender, instance: ApiToken, **kwargs) -> None:
    tokens_forget([instance.key_hash])


@receiver([post_save, post_delete], sender=Membership, dispatch_uid="api_token_forget_membership")
def _membership_changed(sender, instance: Membership, **kwargs) -> None:
    tokens_forget_for(user_id=instance.user_id, shop_id=instance.shop_id)


@receiver([post_save, post_delete], sender=settings.AUTH_USER_MODEL, dispatch_uid="api_token_forget_user")
def _user_changed(sender, instance, created: bool = False, **kwargs) -> None:
    if not created:  # deactivated, superuser flag, deleted: a new user has no tokens yet
        tokens_forget_for(user_id=instance.pk)


def _last_used_touch(token: ApiToken, now) -> bool:
    """Write last_used_at when it is older than LAST_USED_PRECISION; whether it wrote."""
    if token.last_used_at is not None and now - token.last_used_at < LAST_USED_PRECISION:
        return False
    # Conditional, so concurrent calls of one token (and several processes) write it once.
    ApiToken.objects.filter(pk=token.pk).filter(
        Q(last_used_at__isnull=True) | Q(last_used_at__lte=now - LAST_USED_PRECISION)
    ).update(last_used_at=now)
    token.last_used_at = now
    return True


def api_token_verify(*, plain: str) -> ApiToken:
    """The token row for `plain`, read from the database, with `.role` set to its owner's current role
    and `.personal_data` to whether the owner may see customers' email and name; raises TokenInvalid.

    Refused: unknown tokens, expired or revoked ones, inactive owners, owners without a role, and
    owners no longer granted the token's shop. `last_used_at` is updated at most once a minute.

    A verified token is kept in Django's cache (Redis) under `api-token:<hash>` for API_TOKEN_CACHE_SECONDS:
    verifying costs two ORM model loads and a join (about 1.3 ms of CPU, most of an API call), a cache read
    a tenth of that. A revocation, a membership change or a change of the owner drops the entry when it
    commits (`tokens_forget`), so those take effect on the next request; the expiry date is checked on every
    call; anything else (a token row edited in SQL) within API_TOKEN_CACHE_SECONDS."""
    if not plain or len(plain) > 200:
        raise TokenInvalid("Invalid token.")
    key_hash = token_hash(plain)
    now = timezone.now()
    token = cache.get(_cache_key(key_hash)) if settings.API_TOKEN_CACHE_SECONDS else None
    if token is not None and (token.expires_at is None or token.expires_at > now):
        if _last_used_touch(token, now):  # the cached copy too, or each call of the next seconds would write
            cache.set(_cache_key(key_hash), token, settings.API_TOKEN_CACHE_SECONDS)
        return token
    # One indexed query: the token (unique hash) with its owner, its shop and the owner's membership of that
    # shop (a role in another shop counts for nothing). order_by("pk"): Membership's default order would join
    # the shop to sort one row.
    membership = Membership.objects.filter(user_id=OuterRef("user_id"), shop_id=OuterRef("shop_id")).order_by("pk")
    # The owner's password hash is never read here (deferred: a use would load it), so it never reaches the cache.
    token = (ApiToken.objects.select_related("user", "shop").defer("user__password").filter(key_hash=key_hash)
             .annotate(member_role=Subquery(membership.values("role")[:1])).order_by("pk").first())
    if token is None:
        raise TokenInvalid("Invalid token.")
    if token.revoked_at is not None:
        raise TokenInvalid("This token has been revoked.")
    if token.expires_at is not None and token.expires_at <= now:
        raise TokenInvalid("This token has expired.")
    user = token.user
    if not user.is_active:
        raise TokenInvalid("The token's owner is inactive.")
    token.role = Role.ADMIN.value if user.is_superuser else token.member_role
    if token.role is None:
        raise TokenInvalid("The token's owner is no longer a member of its shop.")
    token.personal_data = role_allows(token.role, "view_personal_data")
    _last_used_touch(token, now)
    if settings.API_TOKEN_CACHE_SECONDS:
        cache.set(_cache_key(key_hash), token, settings.API_TOKEN_CACHE_SECONDS)
    return token
