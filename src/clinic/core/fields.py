"""`EncryptedTextField`: text encrypted at rest with AES-GCM, one key id per value.

Keys come from `FIELD_ENCRYPTION_KEYS` (settings, else the environment variable of that name):
"kid1:<base64 32 bytes>,kid0:<base64 32 bytes>" — the first key encrypts, every listed key
decrypts (rotation: put the new key first, re-save the rows, then drop the old key). Without any
configured key a key derived from SECRET_KEY (kid "sk") is used, which is fine for development
and tests and must not be relied on in production (a changed SECRET_KEY makes the values
unreadable).

Stored form: "enc1:<kid>:<base64(nonce ‖ ciphertext ‖ tag)>". The column is plain text, so the
values can be re-encrypted in place; the organization id is bound as associated data by callers
that want it (not done here: the row's own id is not known before insert).
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import os

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import models

PREFIX = "enc1"


@functools.cache
def _keys() -> tuple[tuple[str, bytes], ...]:
    raw = getattr(settings, "FIELD_ENCRYPTION_KEYS", None) or os.environ.get(
        "FIELD_ENCRYPTION_KEYS", ""
    )
    keys: list[tuple[str, bytes]] = []
    for item in (p.strip() for p in raw.split(",") if p.strip()):
        kid, _, b64 = item.partition(":")
        try:
            key = base64.b64decode(b64, validate=True)
        except ValueError as exc:
            raise ImproperlyConfigured(f"FIELD_ENCRYPTION_KEYS: key {kid!r} is not base64") from exc
        if len(key) != 32 or not kid or ":" in kid:
            raise ImproperlyConfigured(f"FIELD_ENCRYPTION_KEYS: key {kid!r} must be 32 bytes")
        keys.append((kid, key))
    if not keys:
        derived = hashlib.sha256(
            b"clinic-field-encryption:" + settings.SECRET_KEY.encode()
        ).digest()
        keys.append(("sk", derived))
    return tuple(keys)


def encrypt(plaintext: str) -> str:
    kid, key = _keys()[0]
    nonce = os.urandom(12)
    sealed = AESGCM(key).encrypt(nonce, plaintext.encode(), kid.encode())
    return f"{PREFIX}:{kid}:{base64.b64encode(nonce + sealed).decode()}"


def decrypt(stored: str) -> str:
    if not stored.startswith(PREFIX + ":"):
        return stored  # written before encryption was enabled
    _prefix, kid, b64 = stored.split(":", 2)
    key = dict(_keys()).get(kid)
    if key is None:
        raise ImproperlyConfigured(f"no key {kid!r} in FIELD_ENCRYPTION_KEYS to decrypt a value")
    blob = base64.b64decode(b64)
    return AESGCM(key).decrypt(blob[:12], blob[12:], kid.encode()).decode()


class EncryptedTextField(models.TextField):
    """A text field whose database value is AES-GCM ciphertext. Not searchable or sortable."""

    def from_db_value(self, value, expression, connection):
        return None if value is None else decrypt(value)

    def get_prep_value(self, value):
        value = super().get_prep_value(value)
        if value is None or value == "":
            return value
        return encrypt(value)


class EncryptedJSONField(EncryptedTextField):
    """A JSON value (dict or list) stored as the AES-GCM ciphertext of its JSON text: clinical
    note sections. Not queryable by key; the whole value is read and written at once."""

    def from_db_value(self, value, expression, connection):
        text = super().from_db_value(value, expression, connection)
        return None if text is None else json.loads(text)

    def to_python(self, value):
        if isinstance(value, str):
            try:
                return json.loads(value)
            except ValueError:
                return value
        return value

    def get_prep_value(self, value):
        if value is None:
            return None
        return encrypt(json.dumps(value, ensure_ascii=False, sort_keys=True))

    def value_to_string(self, obj):
        return json.dumps(self.value_from_object(obj), ensure_ascii=False)
