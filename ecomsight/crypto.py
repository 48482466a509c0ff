"""Encryption at rest of personal data (customers' email and name), with `cryptography`'s Fernet, and the
blind index that finds a customer by email.

Keys come from the environment:

- PERSONAL_DATA_KEYS: comma-separated Fernet keys (32 url-safe base64 bytes each,
  `python -c "from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())"`). The first
  encrypts; every one decrypts (MultiFernet), so a key is rotated by putting a new one first, running
  `python manage.py rotate_personal_data_keys` (re-encrypts every value with the first key), then removing the
  old one.
- PERSONAL_DATA_INDEX_KEY: the key of the blind index, any long random string, kept beside PERSONAL_DATA_KEYS
  but separate from them: rotating the encryption keys leaves the index as it is. Changing it means running
  `rotate_personal_data_keys` too (it recomputes every index); lookups by email miss until it has.

Without them (development and tests only) both are derived from SECRET_KEY; production settings require them
(keep them apart from the database's backups).

Values are standard Fernet tokens (AES-128-CBC + HMAC-SHA256, a random IV and the time of encryption):
`MultiFernet.encrypt`, nothing hand-built, so equal values give different tokens. A lookup by email therefore
goes through `email_index`, an HMAC-SHA256 of the normalised email (stripped, lower case) under the index key,
stored beside the token (Customer.email_index); `Customer.objects.filter(email=…)` is refused with a message
saying so. The index reveals which customers share an email (what any blind index reveals), never the email.
Importing the same file again stays a no-op because the import compares decrypted values and keeps the stored
token when the value did not change (behavior/ingest/postgres.py). Empty values stay empty (nothing to hide,
and "has an email" stays a plain comparison)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core import checks
from django.core.exceptions import FieldError
from django.db import models
from django.db.models.lookups import Exact

# Version byte 0x80 and the first 4 bytes of a timestamp (zero until 2106), base64url-encoded: every Fernet token
# starts so. LEGACY_PREFIX: the deterministic tokens stored before (timestamp 0); rotation re-encrypts them.
TOKEN_PREFIX = "gAAAAA"
LEGACY_PREFIX = "gAAAAAAAAAAA"


@lru_cache(maxsize=4)
def _keys(raw: str, secret: str) -> tuple[bytes, ...]:
    if raw.strip():
        keys = tuple(k.strip().encode() for k in raw.split(",") if k.strip())
        for key in keys:
            Fernet(key)  # a malformed key fails here, at the first use, with cryptography's message
        return keys
    return (base64.urlsafe_b64encode(hashlib.sha256(b"ecomsight.personal-data:" + secret.encode()).digest()),)


def _setting(name: str) -> str:
    raw = getattr(settings, name, None)
    if raw is None:
        raw = os.environ.get(name, "")
    return raw if isinstance(raw, str) else ",".join(raw)


def personal_keys() -> tuple[bytes, ...]:
    """The configured keys, the encrypting one first."""
    return _keys(_setting("PERSONAL_DATA_KEYS"), settings.SECRET_KEY)


@lru_cache(maxsize=4)
def _multi(keys: tuple[bytes, ...]) -> MultiFernet:
    return MultiFernet([Fernet(k) for k in keys])


def personal_encrypt(value: str | None) -> str:
    """The stored form of a personal value: a Fernet token under the first key ("" for an empty value)."""
    if not value:
        return ""
    return _multi(personal_keys()).encrypt(value.encode("utf-8")).decode("ascii")


def is_token(value: str | None) -> bool:
    return bool(value) and value.startswith(TOKEN_PREFIX)


def personal_decrypt(value: str | None) -> str:
    """The plain value of a stored one. A value that is not a token (stored before encryption was on) is
    returned as it is; the rotation command encrypts those."""
    if not is_token(value):
        return value or ""
    try:
        return _decrypted(value, personal_keys())
    except InvalidToken:
        raise InvalidToken("A personal value cannot be decrypted with PERSONAL_DATA_KEYS: is a key missing?") \
            from None


# A stored token does not change until its value does, so the pages a process serves again (the first pages of
# the list, a customer's page) decrypt from here: about 30 µs a value otherwise (bench/personal_data.py).
# 20,000 values, a few MB.
@lru_cache(maxsize=20_000)
def _decrypted(token: str, keys: tuple[bytes, ...]) -> str:
    return _multi(keys).decrypt(token.encode("ascii")).decode("utf-8")


def personal_seal(data: bytes) -> bytes:
    """`data` holding personal values, encrypted under the first key (a Fernet token), for copies kept outside
    PostgreSQL (a cached page of the at-risk list): they stay encrypted at rest wherever they are kept."""
    return _multi(personal_keys()).encrypt(data)


def personal_unseal(token: bytes) -> bytes:
    """What personal_seal sealed (any configured key); InvalidToken when no key opens it."""
    return _multi(personal_keys()).decrypt(token)


def personal_reencrypt(value: str | None) -> str:
    """The value as rotation writes it: unchanged when it is a token of the first key already; a token of an
    older key is re-encrypted under the first (MultiFernet.rotate); legacy plaintext and the deterministic
    tokens stored before are encrypted afresh."""
    if not value:
        return ""
    if not is_token(value) or value.startswith(LEGACY_PREFIX):
        return personal_encrypt(personal_decrypt(value))
    keys = personal_keys()
    try:
        Fernet(keys[0]).decrypt(value.encode("ascii"))
        return value
    except InvalidToken:
        pass
    try:
        return _multi(keys).rotate(value.encode("ascii")).decode("ascii")
    except InvalidToken:
        raise InvalidToken("A personal value cannot be decrypted with PERSONAL_DATA_KEYS: is a key missing?") \
            from None


@lru_cache(maxsize=4)
def _index_key(raw: str, secret: str) -> bytes:
    if raw.strip():
        return raw.strip().encode("utf-8")
    return hashlib.sha256(b"ecomsight.email-index:" + secret.encode()).digest()


def email_normalise(email: str | None) -> str:
    """What two spellings of one address share: stripped, lower case."""
    return (email or "").strip().lower()


def email_index(email: str | None) -> str:
    """The blind index of an email: HMAC-SHA256 (hex) of the normalised address under PERSONAL_DATA_INDEX_KEY;
    "" for no email."""
    normalised = email_normalise(email)
    if not normalised:
        return ""
    key = _index_key(_setting("PERSONAL_DATA_INDEX_KEY"), settings.SECRET_KEY)
    return hmac.new(key, normalised.encode("utf-8"), hashlib.sha256).hexdigest()


INDEX_KEY_MIN_CHARS = 32  # `secrets.token_urlsafe(32)` gives 43


@checks.register(checks.Tags.security, deploy=True)
def personal_data_keys_check(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    """`check --deploy`: every PERSONAL_DATA_KEYS entry is a Fernet key (a malformed one only failed at the first
    page, export or import touching an email: a 500), and PERSONAL_DATA_INDEX_KEY is long enough not to be
    guessed (with it, a copy of the database tells which emails are customers). Unset keys are the
    development default (production settings refuse to start without them)."""
    problems: list[checks.CheckMessage] = []
    keys = [k.strip() for k in _setting("PERSONAL_DATA_KEYS").split(",") if k.strip()]
    for position, key in enumerate(keys, start=1):
        try:
            Fernet(key.encode())
        except ValueError as exc:  # binascii.Error is a ValueError
            problems.append(checks.Error(
                f"PERSONAL_DATA_KEYS: key {position} of {len(keys)} is not a Fernet key ({exc}).",
                hint='Generate one with `python -c "from cryptography.fernet import Fernet; '
                     'print(Fernet.generate_key().decode())"`.', id="ecomsight.E001"))
    index_key = _setting("PERSONAL_DATA_INDEX_KEY").strip()
    if index_key and len(index_key) < INDEX_KEY_MIN_CHARS:
        problems.append(checks.Warning(
            f"PERSONAL_DATA_INDEX_KEY has {len(index_key)} characters; use a random string of at least "
            f"{INDEX_KEY_MIN_CHARS}.",
            hint='For example `python -c "import secrets; print(secrets.token_urlsafe(32))"`, then run '
                 "`python manage.py rotate_personal_data_keys` to recompute the index.", id="ecomsight.W001"))
    return problems


class _EncryptedExact(Exact):
    """`field=""` still works (has a value or not); any other value would silently match nothing."""

    def get_prep_lookup(self):
        if self.rhs not in ("", None):
            name = getattr(getattr(self.lhs, "target", None), "name", "this field")
            raise FieldError(f"{name} is stored encrypted with a random IV: equal values have "
                             "different tokens. Look customers up by email with email_index "
                             "(behavior.selectors.customer_by_email).")
        return super().get_prep_lookup()


class EncryptedTextField(models.TextField):
    """A text column stored encrypted (personal_encrypt) and read back decrypted. Lookups on it: only
    `isnull` and equality with "" mean anything; others are refused (see email_index for lookups by email)."""

    def get_lookup(self, lookup_name):
        if lookup_name == "exact":
            return _EncryptedExact
        if lookup_name == "isnull":
            return super().get_lookup(lookup_name)
        return None  # Django: "Unsupported lookup … for EncryptedTextField"

    def from_db_value(self, value, expression, connection):
        return personal_decrypt(value) if value is not None else value

    def to_python(self, value):
        return personal_decrypt(value) if isinstance(value, str) else value

    def get_prep_value(self, value):
        if value is None or (isinstance(value, str) and is_token(value)):
            return value  # already the stored form (a rotation, a token kept by an import)
        value = super().get_prep_value(value)
        return value if value is None else personal_encrypt(value)
