"""Moved to `clinic.core.fields` (clinical text uses it too); kept so billing's models and
migrations keep their field path `clinic.billing.fields.EncryptedTextField`."""

from __future__ import annotations

from clinic.core import fields as _core
from clinic.core.fields import PREFIX, decrypt, encrypt

__all__ = ["PREFIX", "EncryptedTextField", "decrypt", "encrypt"]


class EncryptedTextField(_core.EncryptedTextField):
    """The core field under its old path (billing migration 0001 names this class)."""
