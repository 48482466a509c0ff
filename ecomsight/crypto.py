"""Encryption at rest of personal data (customers' email and name), with `cryptography`'s Fernet.

Keys come from the environment: PERSONAL_DATA_KEYS, comma-separated Fernet keys (32 url-safe base64 bytes
each, `python -c "from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())"`). The
first encrypts; every one decrypts (MultiFernet), so a key is rotated by putting a new one first, running
`python manage.py rotate_personal_data_keys` (re-encrypts every value with the first key), then removing
the old one. Without the variable the key is derived from SECRET_KEY (development and tests only: set it in
production, and keep it apart from the database's backups).

Tokens are Fernet tokens (AES-128-CBC + HMAC-SHA256, decrypted by Fernet/MultiFernet), made *deterministic*:
the IV is an HMAC of the plaintext under a key derived from the encryption key, and the timestamp is 0. The
same value under the same key is then the same token, which is what keeps importing the same file twice a
no-op (the writers compare stored values) and lets `Customer.objects.filter(email=...)` find a customer: the
token is its own blind index (an HMAC of the value sits in its IV). `email_lookup_values` gives the token
under every configured key, so lookups still work in the middle of a rotation. The cost, equal values give
equal tokens, is what any blind index reveals too. Empty values stay empty (nothing to hide, and "has an
email" stays a plain comparison)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import struct
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from django.conf import settings
from django.db import models

TOKEN_PREFIX = "gAAAAAAAAAAA"  # version byte 0x80 and a zero timestamp (9 bytes), base64url-encoded
_VERSION = b"\x80"


@lru_cache(maxsize=4)
def _keys(raw: str, secret: str) -> tuple[bytes, ...]:
    if raw.strip():
        keys = tuple(k.strip().encode() for k in raw.split(",") if k.strip())
        for key in keys:
            Fernet(key)  # a malformed key fails here, at the first use, with cryptography's message
        return keys
    return (base64.urlsafe_b64encode(hashlib.sha256(b"ecomsight.personal-data:" + secret.encode()).digest()),)


def personal_keys() -> tuple[bytes, ...]:
    """The configured keys, the encrypting one first."""
    raw = getattr(settings, "PERSONAL_DATA_KEYS", None)
    if raw is None:
        raw = os.environ.get("PERSONAL_DATA_KEYS", "")
    return _keys(raw if isinstance(raw, str) else ",".join(raw), settings.SECRET_KEY)


@lru_cache(maxsize=4)
def _multi(keys: tuple[bytes, ...]) -> MultiFernet:
    return MultiFernet([Fernet(k) for k in keys])


def _token(plain: bytes, key: bytes) -> str:
    """A Fernet token of `plain` under `key` with a deterministic IV and a zero timestamp (see above)."""
    raw = base64.urlsafe_b64decode(key)
    signing_key, encryption_key = raw[:16], raw[16:]
    iv = hmac.new(hashlib.sha256(b"ecomsight.iv:" + raw).digest(), plain, hashlib.sha256).digest()[:16]
    padder = padding.PKCS7(algorithms.AES.block_size).padder()
    padded = padder.update(plain) + padder.finalize()
    encryptor = Cipher(algorithms.AES(encryption_key), modes.CBC(iv)).encryptor()
    body = _VERSION + struct.pack(">Q", 0) + iv + encryptor.update(padded) + encryptor.finalize()
    return base64.urlsafe_b64encode(body + hmac.new(signing_key, body, hashlib.sha256).digest()).decode("ascii")


def personal_encrypt(value: str | None) -> str:
    """The stored form of a personal value: a token under the first key ("" for an empty value)."""
    if not value:
        return ""
    return _token(value.encode("utf-8"), personal_keys()[0])


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


# Tokens are deterministic, so the pages a process serves again (the first pages of the list, a customer's
# page) decrypt from here: about 30 µs a value otherwise (bench/personal_data.py). 20,000 values, a few MB.
@lru_cache(maxsize=20_000)
def _decrypted(token: str, keys: tuple[bytes, ...]) -> str:
    return _multi(keys).decrypt(token.encode("ascii")).decode("utf-8")


def personal_reencrypt(value: str | None) -> str:
    """The value encrypted under the first key (what rotation writes); legacy plaintext is encrypted."""
    return personal_encrypt(personal_decrypt(value))


def email_lookup_values(email: str) -> list[str]:
    """The stored forms `email` can have under the configured keys (one per key: lookups work mid-rotation)."""
    if not email:
        return [""]
    return [_token(email.encode("utf-8"), key) for key in personal_keys()]


class EncryptedTextField(models.TextField):
    """A text column stored encrypted (personal_encrypt) and read back decrypted. Equality lookups work
    (tokens are deterministic); ordering, LIKE and ranges on it do not mean anything."""

    def from_db_value(self, value, expression, connection):
        return personal_decrypt(value) if value is not None else value

    def to_python(self, value):
        return personal_decrypt(value) if isinstance(value, str) else value

    def get_prep_value(self, value):
        if value is None or (isinstance(value, str) and is_token(value)):
            return value  # already stored form (a lookup by email_lookup_values, a rotation)
        value = super().get_prep_value(value)
        return value if value is None else personal_encrypt(value)
