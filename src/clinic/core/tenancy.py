"""The tenant context: which organization (and user) the current unit of work acts for.

It is set twice, on purpose: in PostgreSQL (`app.org_id` with `set_config(..., true)`, local to
the transaction, so it is safe behind a transaction-pooling proxy) where row-level security
reads it, and in a context variable that the tenant-scoped managers read. Requests, CLI commands
and background tasks all go through `tenant_activate`.
"""

from __future__ import annotations

import contextlib
import contextvars
import uuid
from dataclasses import dataclass

from django.db import connections, transaction


@dataclass(frozen=True)
class TenantState:
    org_id: uuid.UUID | None = None
    user_id: uuid.UUID | None = None


_state: contextvars.ContextVar[TenantState] = contextvars.ContextVar(
    "tenant_state",
    default=TenantState(),  # noqa: B039 - frozen dataclass: immutable
)


class TenantNotSet(RuntimeError):
    """A tenant-scoped query ran with no organization in context."""


def current_org_id() -> uuid.UUID | None:
    return _state.get().org_id


def current_user_id() -> uuid.UUID | None:
    return _state.get().user_id


def require_org_id() -> uuid.UUID:
    org_id = current_org_id()
    if org_id is None:
        raise TenantNotSet("no organization is set for this unit of work")
    return org_id


def _set_db(settings: dict[str, str | None], using: str = "default") -> None:
    connection = connections[using]
    if not connection.in_atomic_block:
        raise RuntimeError("the tenant context must be set inside a transaction")
    names = list(settings)
    with connection.cursor() as cur:
        cur.execute(
            "SELECT " + ", ".join("set_config(%s, %s, true)" for _ in names),
            [v for name in names for v in (name, settings[name] or "")],
        )


def request_meta(
    *, request_id: str | None, ip: str | None, user_agent: str | None
) -> dict[str, str | None]:
    """Who is asking, for the audit triggers, as settings; nobody is the tenant yet."""
    return {
        "app.request_id": request_id,
        "app.ip": ip,
        "app.user_agent": (user_agent or "")[:500],
        "app.org_id": None,
        "app.user_id": None,
        "app.token_hash": None,
    }


def settings_activate(settings: dict[str, str | None], using: str = "default") -> None:
    """Apply settings such as `request_meta`'s (transaction-local). Clears any tenant left on a
    reused connection or an enclosing transaction: each request starts as nobody."""
    _set_db(settings, using)


def tenant_activate(
    org_id: uuid.UUID | str | None,
    user_id: uuid.UUID | str | None = None,
    *,
    using: str = "default",
) -> contextvars.Token:
    """Set the tenant for the rest of the current transaction; returns a token for reset."""
    org = uuid.UUID(str(org_id)) if org_id else None
    user = uuid.UUID(str(user_id)) if user_id else None
    _set_db(
        {
            "app.org_id": str(org) if org else None,
            "app.user_id": str(user) if user else None,
            "app.token_hash": None,  # a token lookup's visibility ends once the tenant is known
        },
        using,
    )
    return _state.set(TenantState(org, user))


def tenant_state_set(org_id: uuid.UUID | None, user_id: uuid.UUID | None) -> contextvars.Token:
    """The context-variable half of `tenant_activate`, for a caller that has already set the
    database half in the same round trip (the bearer-token authentication)."""
    return _state.set(TenantState(org_id, user_id))


def tenant_reset(token: contextvars.Token) -> None:
    _state.reset(token)


def token_hash_activate(key_hash: str, using: str = "default") -> None:
    """Lets the RLS policy of API tokens reveal the one token whose secret the caller holds."""
    _set_db({"app.token_hash": key_hash}, using)


@contextlib.contextmanager
def tenant_state_isolated():
    """Whatever tenant the body sets is forgotten afterwards (one request, one task)."""
    token = _state.set(TenantState())
    try:
        yield
    finally:
        _state.reset(token)


@contextlib.contextmanager
def tenant_context(org_id, user_id=None, *, using: str = "default"):
    """Open a transaction acting for one organization (CLI commands, tasks, tests)."""
    with transaction.atomic(using=using):
        token = tenant_activate(org_id, user_id, using=using)
        try:
            yield
        finally:
            tenant_reset(token)
