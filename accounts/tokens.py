"""API tokens: create, verify, revoke. Only a SHA-256 hash of a token is stored; the plain token is
shown once, when it is created.

A token acts for one shop with its owner's *current* role in that shop (their Membership of it): demoting
the owner there, deactivating them or removing them from the shop takes effect on the next request (in
other web processes, within API_SYNC_SECONDS: see api_token_authenticate), without touching the token.
SHA-256 (not a slow password hash) is right here: tokens are 256 random bits, nothing to guess, and
every API call verifies one."""

from __future__ import annotations

import hashlib
import logging
import secrets
import time
from dataclasses import dataclass
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser, Group
from django.core.cache import cache
from django.db import transaction
from django.db.models import Q
from django.db.models.base import ModelState
from django.db.models.signals import m2m_changed, post_delete, post_save
from django.utils import timezone

from ecomsight.api import shared
from ecomsight.api.rediscache import generation_publish, redis_client, shared_cache_available
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
    """Create a token for `user` acting on `shop`. The user must hold a role and be granted the shop.

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
        auth_cache_invalidate()  # the save's signal does it too; a revocation must not depend on one
    return token


def _owner_role(user: AbstractBaseUser, shop_id: int) -> str | None:
    # The owner's membership of the token's shop (one indexed query); a role in another shop counts for nothing.
    if user.is_superuser:
        return Role.ADMIN.value
    return Membership.objects.filter(user_id=user.pk, shop_id=shop_id).values_list("role", flat=True).first()


def _last_used_touch(token: ApiToken, now) -> None:
    if token.last_used_at is None or now - token.last_used_at >= LAST_USED_PRECISION:
        # Conditional, so concurrent calls of one token (and several processes) write it once.
        ApiToken.objects.filter(pk=token.pk).filter(
            Q(last_used_at__isnull=True) | Q(last_used_at__lte=now - LAST_USED_PRECISION)
        ).update(last_used_at=now)
        token.last_used_at = now


def api_token_verify(*, plain: str) -> ApiToken:
    """The token row for `plain`, read from the database, with `.role` set to its owner's current role
    and `.personal_data` to whether the owner may see customers' email and name; raises TokenInvalid.

    Refused: unknown tokens, expired or revoked ones, inactive owners, owners without a role, and
    owners no longer granted the token's shop. `last_used_at` is updated at most once a minute.
    API requests go through `api_token_authenticate`, which caches this answer briefly."""
    if not plain or len(plain) > 200:
        raise TokenInvalid("Invalid token.")
    # Simple indexed queries: the token (unique hash) with its owner and shop, then the owner's groups,
    # then the grant; a refused token stops at the first that fails.
    token = ApiToken.objects.select_related("user", "shop").filter(key_hash=token_hash(plain)).first()
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
    token.role = _owner_role(user, token.shop_id)
    if token.role is None:
        raise TokenInvalid("The token's owner is no longer a member of its shop.")
    token.personal_data = role_allows(token.role, "view_personal_data")
    _last_used_touch(token, now)
    return token


# ---- the per-process cache of verified tokens ---------------------------------------------------------
#
# Every API call verifies its token; reading it from PostgreSQL costs more than most endpoints. A verified
# token is kept in the process for AUTH_CACHE_SECONDS. Anything that could change the answer (revoking or
# saving a token, a user's groups, permissions, shops or active flag) replaces a shared *generation* in the
# Django cache (Redis); every call checks the generation as of this process's last sync with Redis (at most
# API_SYNC_SECONDS old, see ecomsight.api.shared) and trusts only entries verified under the same one. So
# revocation and role changes take effect on the next request in the process that made them and within
# API_SYNC_SECONDS (0.1 s) in every other; only writes that bypass signals (QuerySet.update, raw SQL) wait
# out the TTL.

AUTH_CACHE_SECONDS = 30.0
AUTH_CACHE_MAX_ENTRIES = 10_000
GENERATION_KEY = "api-auth:generation"


@dataclass(frozen=True)
class _Verified:
    token: ApiToken  # with .user, .shop, .role and .personal_data; handed out as copies only
    generation: object
    verified_at: float  # time.monotonic()


_verified: dict[str, _Verified] = {}


_UNAVAILABLE = object()


def auth_generation(*, count: tuple[str, int] | None = None) -> tuple[object, int | None]:
    """The shared generation (None before the first change) and, with `count`, a (key, ttl) counter (the
    API's throttle) incremented and its value (None when not counted: the cache is down).

    With Redis both come from ecomsight.api.shared: as of its last sync, at most API_SYNC_SECONDS old, so
    most calls make no round trip. Otherwise (LocMem in the demo) one cache GET and the cache's counter."""
    try:
        if redis_client() is None:
            return cache.get(GENERATION_KEY), None
        counted = shared.count(*count) if count is not None else None
        generation = shared.generation(GENERATION_KEY)
    except Exception:  # noqa: BLE001 — a cache outage must not lock every client out
        logger.warning("cache unavailable: verifying API tokens against the database", exc_info=True)
        return _UNAVAILABLE, None
    if generation is shared.UNAVAILABLE:
        return _UNAVAILABLE, counted
    return generation, counted


def auth_cache_invalidate() -> None:
    """Forget every verified token in every process: call after anything that could change who a token
    acts as (revocation, role, grants, permissions, active flag). Done now and again when the current
    transaction commits, so no process can cache the state from before the commit in between."""
    _verified.clear()
    generation_publish(GENERATION_KEY, what="an API token invalidation")


def _clone(instance):
    # What copy.copy does for a model instance (Model.__getstate__ copies its state and related-object cache),
    # without the pickle protocol's round trip through the app registry, nor copy.copy of the ModelState:
    # plain dict copies (the three clones of a call were 4 % of an at-risk call's CPU with __getstate__).
    fresh = object.__new__(type(instance))
    state = instance.__dict__.copy()
    model_state = object.__new__(ModelState)
    model_state.__dict__.update(instance._state.__dict__)
    model_state.fields_cache = dict(instance._state.fields_cache)
    state["_state"] = model_state
    fresh.__dict__.update(state)
    return fresh


def _copy(token: ApiToken) -> ApiToken:
    # Each request gets its own instances: a view that changed one must not change the cached one.
    fresh = _clone(token)
    fresh.user, fresh.shop = _clone(token.user), _clone(token.shop)
    return fresh


def api_token_authenticate(*, plain: str, count: tuple[str, int] | None = None) -> ApiToken:
    """`api_token_verify` for API requests: the same answers, served from a per-process cache for up to
    AUTH_CACHE_SECONDS while nothing that could change them happened (see above). No round trip on most
    calls (the generation is synced with Redis every API_SYNC_SECONDS); no database query while cached
    except the once-a-minute `last_used_at` write.

    `count`: a (key, ttl) counter to increment (the API's throttle, see ecomsight.api.shared); the token
    returned carries `.counted = (key, its value)`, or `(key, None)` when it could not be counted."""
    if not plain or len(plain) > 200:
        raise TokenInvalid("Invalid token.")
    if not shared_cache_available():
        return _counted(api_token_verify(plain=plain), count, None)
    generation, counted = auth_generation(count=count)
    if generation is _UNAVAILABLE:
        return _counted(api_token_verify(plain=plain), count, counted)
    key = token_hash(plain)
    entry = _verified.get(key)
    clock = time.monotonic()
    if entry is None or entry.generation != generation or clock - entry.verified_at > AUTH_CACHE_SECONDS:
        # Read the generation before the database: a change committed after our read bumps it again.
        token = api_token_verify(plain=plain)
        if len(_verified) >= AUTH_CACHE_MAX_ENTRIES:
            _verified.clear()
        _verified[key] = _Verified(token=token, generation=generation, verified_at=clock)
        return _counted(_copy(token), count, counted)
    token = entry.token
    now = timezone.now()
    if token.expires_at is not None and token.expires_at <= now:
        _verified.pop(key, None)
        raise TokenInvalid("This token has expired.")
    _last_used_touch(token, now)
    return _counted(_copy(token), count, counted)


def _counted(token: ApiToken, count: tuple[str, int] | None, value: int | None) -> ApiToken:
    token.counted = (count[0], value) if count is not None else None
    return token


def _invalidate_on_change(**kwargs) -> None:
    if kwargs.get("action", "post_").startswith("post_"):  # m2m_changed fires pre_ and post_; act once
        auth_cache_invalidate()


def _connect_invalidation() -> None:
    user_model = get_user_model()
    uid = "accounts.tokens.invalidate"
    for model in (ApiToken, user_model, Group, Shop, Membership):
        post_save.connect(_invalidate_on_change, sender=model, dispatch_uid=f"{uid}.save.{model.__name__}")
        post_delete.connect(_invalidate_on_change, sender=model, dispatch_uid=f"{uid}.delete.{model.__name__}")
    for through in (user_model.groups.through, user_model.user_permissions.through, Group.permissions.through,
                    Shop.members.through):
        m2m_changed.connect(_invalidate_on_change, sender=through, dispatch_uid=f"{uid}.m2m.{through.__name__}")


_connect_invalidation()
shared.generation_watch(GENERATION_KEY)
