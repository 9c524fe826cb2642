"""Passwords that the application role cannot read.

The application role has no SELECT on `accounts_user.password` (column privileges, set in
`clinic.core.security`); every SELECT the ORM makes returns NULL in its place
(`PasswordField`). A password is checked without the hash leaving the database:

1. `app_password_params(user)` returns the stored hash *without its digest* (algorithm, cost
   parameters and salt) and the digest's length;
2. the candidate password is hashed here with exactly those parameters (Argon2 is not available
   inside PostgreSQL);
3. `app_password_check(user, candidate)` compares the two encodings in the database.

Both are SECURITY DEFINER functions owned by the owner role. An attacker who can run SQL as the
application role learns salts but no digest: nothing to crack offline, only the online oracle
that the login throttle already limits. Sessions are bound to the password through
`app_password_fingerprint(user)`: a SHA-256 of the stored hash keyed with a secret that only the
owner role can read, so a password change still ends every other session.
"""

from __future__ import annotations

import copy

from django.contrib.auth.hashers import get_hasher, identify_hasher
from django.db import connection


def _candidate_encoding(raw_password: str, prefix: str, digest_length: int) -> str | None:
    """`raw_password` hashed with the stored hash's algorithm, parameters and salt."""
    placeholder = f"{prefix}${'A' * max(digest_length, 1)}"
    try:
        hasher = identify_hasher(placeholder)
        decoded = hasher.decode(placeholder)
    except (ValueError, AssertionError, Exception):  # unknown or malformed: never verifies
        return None
    if hasher.algorithm == "argon2":
        params = decoded["params"]  # time, memory, parallelism, hash length, type, as stored
        hasher = copy.copy(hasher)
        hasher.params = lambda: params
        return hasher.encode(raw_password, decoded["salt"])
    if "iterations" in decoded:
        return hasher.encode(raw_password, decoded["salt"], decoded["iterations"])
    return hasher.encode(raw_password, decoded["salt"])


def password_params(user_id) -> tuple[str, int] | None:
    with connection.cursor() as cur:
        cur.execute("SELECT prefix, digest_length FROM app_password_params(%s)", [user_id])
        row = cur.fetchone()
    return (row[0], row[1]) if row and row[0] is not None else None


def password_verify(user, raw_password: str | None) -> bool:
    """Whether `raw_password` is `user`'s password; upgrades the stored hash when the preferred
    algorithm or its cost changed (like Django's check_password)."""
    if raw_password is None or user.pk is None:
        return False
    if user.password is not None:  # set in this process (set_password): Django's own check
        from django.contrib.auth.hashers import check_password

        return check_password(raw_password, user.password)
    params = password_params(user.pk)
    if params is None:
        get_hasher().encode(raw_password, get_hasher().salt())  # same cost as a real check
        return False
    candidate = _candidate_encoding(raw_password, *params)
    if candidate is None:
        return False
    with connection.cursor() as cur:
        cur.execute("SELECT app_password_check(%s, %s)", [user.pk, candidate])
        (ok,) = cur.fetchone()
    if ok:
        preferred = get_hasher("default")
        if identify_hasher(candidate).algorithm != preferred.algorithm or preferred.must_update(
            candidate
        ):
            user.set_password(raw_password)
            user.save(update_fields=["password"])
    return bool(ok)


def password_fingerprint(user_id) -> str:
    """A keyed digest of the stored hash: changes whenever the password does."""
    with connection.cursor() as cur:
        cur.execute("SELECT app_password_fingerprint(%s)", [user_id])
        row = cur.fetchone()
    return (row[0] if row else None) or ""
