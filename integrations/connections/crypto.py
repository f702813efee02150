"""Encryption at rest for credentials (OAuth tokens), with key rotation.

Values are stored as ``enc:fernet:<key id>:<Fernet token>``. The key id (the first 12 hex
digits of the key's SHA-256) says which key encrypted a value, so old keys can be retired once
``manage.py rotate_encryption_keys`` has re-encrypted everything with the newest one.

Keys come from ``FIELD_ENCRYPTION_KEYS`` (comma-separated Fernet keys, newest first). With no
keys configured, development (``DEBUG``) derives one from ``SECRET_KEY``; production refuses.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from cryptography.fernet import Fernet, InvalidToken
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import models

PREFIX = "enc:fernet:"


class DecryptionError(Exception):
    """A stored value could not be decrypted with any configured key."""


@dataclass(frozen=True)
class _Key:
    key_id: str
    fernet: Fernet


def _key_id(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()[:12]


@lru_cache(maxsize=8)
def _load_keys(configured: tuple[str, ...], secret_key: str, debug: bool) -> tuple[_Key, ...]:
    raws: list[bytes] = [k.strip().encode() for k in configured if k.strip()]
    if not raws:
        if not debug:
            raise ImproperlyConfigured(
                "FIELD_ENCRYPTION_KEYS must be set when DEBUG is off (see the README)."
            )
        # Development only: a stable key derived from SECRET_KEY so `make run` needs no setup.
        raws = [base64.urlsafe_b64encode(hashlib.sha256(b"c1-dev:" + secret_key.encode()).digest())]
    keys = []
    for raw in raws:
        try:
            keys.append(_Key(_key_id(raw), Fernet(raw)))
        except ValueError as exc:
            raise ImproperlyConfigured(
                "FIELD_ENCRYPTION_KEYS holds a value that is not a Fernet key "
                "(32 url-safe base64-encoded bytes)."
            ) from exc
    return tuple(keys)


def _keys() -> tuple[_Key, ...]:
    return _load_keys(
        tuple(settings.FIELD_ENCRYPTION_KEYS), settings.SECRET_KEY, bool(settings.DEBUG)
    )


def encrypt_str(plaintext: str) -> str:
    newest = _keys()[0]
    token = newest.fernet.encrypt(plaintext.encode()).decode()
    return f"{PREFIX}{newest.key_id}:{token}"


def decrypt_str(value: str) -> str:
    if not value.startswith(PREFIX):
        raise DecryptionError("value is not encrypted")
    key_id, _, token = value[len(PREFIX) :].partition(":")
    keys = _keys()
    # The named key first; then the others, in case a key id collides or was mislabelled.
    ordered = sorted(keys, key=lambda k: k.key_id != key_id)
    for key in ordered:
        try:
            return key.fernet.decrypt(token.encode()).decode()
        except InvalidToken:
            continue
    raise DecryptionError(f"no configured key decrypts a value encrypted with key {key_id}")


def needs_rotation(value: str) -> bool:
    """True if ``value`` was not encrypted with the newest key."""
    return not value.startswith(f"{PREFIX}{_keys()[0].key_id}:")


class EncryptedJSONField(models.TextField):  # type: ignore[type-arg]
    """A JSON object stored encrypted. Never filter or order by it: the database sees noise."""

    description = "Encrypted JSON"
    # For django-stubs: the attribute holds and accepts JSON values, not strings.
    _pyi_private_set_type: Any
    _pyi_private_get_type: Any

    def from_db_value(self, value: str | None, expression: Any, connection: Any) -> Any:
        if value is None:
            return None
        return json.loads(decrypt_str(value))

    def to_python(self, value: Any) -> Any:
        if isinstance(value, str) and value.startswith(PREFIX):
            return json.loads(decrypt_str(value))
        return value

    def get_prep_value(self, value: Any) -> str | None:
        if value is None:
            return None
        return encrypt_str(json.dumps(value, sort_keys=True, separators=(",", ":")))

    def value_to_string(self, obj: models.Model) -> str:
        # Fixtures and serialisers get the ciphertext, never the secret.
        prepped = self.get_prep_value(self.value_from_object(obj))
        return prepped or ""


def mask(secret: str | None) -> str:
    """A secret as shown to people: its last four characters."""
    if not secret:
        return ""
    return f"••••{secret[-4:]}" if len(secret) > 8 else "••••"
