"""`EncryptedTextField`: text encrypted at rest with AES-GCM, one key id per value.

Keys come from `FIELD_ENCRYPTION_KEYS` (settings, read from the environment or from the file
`var/field_encryption_keys` that `clinic` writes on first run): "kid1:<base64 32 bytes>,kid0:…" —
the first key encrypts, every listed key decrypts. Rotation: put a new key first, run
`clinic keys rotate` (re-encrypts every value and document in batches, resumable), then drop
the old key. No key configured is an error at start-up (system check clinic.E012) and on first
use: never a silent fallback to a key derived from SECRET_KEY.

Values written by earlier versions with the key derived from SECRET_KEY (kid "sk") can still be
read, so that `clinic keys rotate` can move them to a configured key; nothing new is ever
encrypted with it.

Stored form: "enc1:<kid>:<base64(nonce ‖ ciphertext ‖ tag)>". The column is plain text, so the
values can be re-encrypted in place.
"""

from __future__ import annotations

import base64
import binascii
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
        raise ImproperlyConfigured(
            "FIELD_ENCRYPTION_KEYS is not set: clinical and payment data cannot be encrypted. "
            "Run `clinic` once to write var/field_encryption_keys, or set the variable."
        )
    return tuple(keys)


LEGACY_KID = "sk"


def _key_for(kid: str) -> bytes | None:
    """The key of id `kid` for decrypting; "sk" (the old SECRET_KEY-derived key) when not
    configured under that id, so its values stay readable until rotated."""
    key = dict(_keys()).get(kid)
    if key is None and kid == LEGACY_KID:
        key = hashlib.sha256(b"clinic-field-encryption:" + settings.SECRET_KEY.encode()).digest()
    return key


def keys_reset() -> None:
    """Forget the keys read so far (after FIELD_ENCRYPTION_KEYS changed: tests, rotation)."""
    _keys.cache_clear()


def field_key_problems(raw: str) -> list[str]:
    """What is wrong with a FIELD_ENCRYPTION_KEYS value ("kid:<base64 32 bytes>,…")."""
    problems = []
    items = [p.strip() for p in raw.split(",") if p.strip()]
    if not items:
        return ["FIELD_ENCRYPTION_KEYS is not set"]
    for item in items:
        kid, _, b64 = item.partition(":")
        try:
            key = base64.b64decode(b64, validate=True)
        except (ValueError, binascii.Error):
            problems.append(f"key {kid!r} is not base64")
            continue
        if len(key) != 32 or not kid or ":" in kid:
            problems.append(f"key {kid!r} must be 32 bytes with a non-empty id")
    return problems


def encrypt(plaintext: str) -> str:
    kid, key = _keys()[0]
    nonce = os.urandom(12)
    sealed = AESGCM(key).encrypt(nonce, plaintext.encode(), kid.encode())
    return f"{PREFIX}:{kid}:{base64.b64encode(nonce + sealed).decode()}"


def decrypt(stored: str) -> str:
    if not stored.startswith(PREFIX + ":"):
        return stored  # written before encryption was enabled
    _prefix, kid, b64 = stored.split(":", 2)
    key = _key_for(kid)
    if key is None:
        raise ImproperlyConfigured(f"no key {kid!r} in FIELD_ENCRYPTION_KEYS to decrypt a value")
    blob = base64.b64decode(b64)
    return AESGCM(key).decrypt(blob[:12], blob[12:], kid.encode()).decode()


def key_id_current() -> str:
    """The id of the key new values are sealed with."""
    return _keys()[0][0]


def seal(data: bytes) -> tuple[bytes, str]:
    """A file's bytes sealed with the current key: (nonce ‖ ciphertext ‖ tag, key id)."""
    kid, key = _keys()[0]
    nonce = os.urandom(12)
    return nonce + AESGCM(key).encrypt(nonce, data, kid.encode()), kid


def unseal(blob: bytes, kid: str) -> bytes:
    """The bytes `seal` sealed with key `kid`."""
    key = _key_for(kid)
    if key is None:
        raise ImproperlyConfigured(f"no key {kid!r} in FIELD_ENCRYPTION_KEYS to decrypt a file")
    return AESGCM(key).decrypt(blob[:12], blob[12:], kid.encode())


def encrypted_columns() -> list[tuple[str, str, str]]:
    """(table, primary-key column, column) of every encrypted model field (a field class named
    Encrypted…): what backups inspect and `clinic keys rotate` re-encrypts."""
    from django.apps import apps

    return sorted(
        (model._meta.db_table, model._meta.pk.column, f.column)
        for model in apps.get_models()
        for f in model._meta.concrete_fields
        if type(f).__name__.startswith("Encrypted")
    )


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
