from __future__ import annotations

import gc

from django.db import connections

from clinic.core.database import role_safety_problem


def field_keys_problem() -> str | None:
    """Why encrypted fields and documents could not be written (no key, a malformed key)."""
    from django.conf import settings

    from clinic.core.fields import field_key_problems

    problems = field_key_problems(settings.FIELD_ENCRYPTION_KEYS or "")
    return "; ".join(problems) if problems else None


def serving_refused_reason(using: str = "default") -> str | None:
    """Why the app must not serve: no usable field-encryption key, or a database role that
    could see past RLS; None when it may."""
    keys = field_keys_problem()
    if keys:
        return f"field encryption: {keys} (set FIELD_ENCRYPTION_KEYS)"
    return role_refused_reason(using)


def role_refused_reason(using: str = "default") -> str | None:
    """Why the app must not serve on this connection (its role could see past RLS), or None."""
    connection = connections[using]
    try:
        return role_safety_problem(connection)
    finally:
        if not connection.in_atomic_block:
            connection.close()  # the check ran before serving; workers open their own


def startup_objects_freeze() -> None:
    """Load what the first requests would load lazily (URL patterns, the API's views and
    schemas, translations), then move everything alive out of the cyclic garbage collector's
    reach. A full collection otherwise rescans those hundreds of thousands of long-lived objects
    whenever requests allocate a lot (slot search, calendar): measured on the slot search, a full
    collection every ~6 requests cost ~28 ms each before, a few ms after."""
    from django.conf import settings
    from django.urls import get_resolver
    from django.utils import translation

    get_resolver().url_patterns  # noqa: B018 - imports every view and builds the API routers
    for code, _name in settings.LANGUAGES:
        with translation.override(code):
            translation.gettext("Appointment not found.")
    gc.collect()
    gc.freeze()
