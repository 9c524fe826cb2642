"""Row makers for the row-level security proof (tests/core/test_rls.py).

The proof needs at least one row of each organization in every tenant table. Each function
here takes a persona (an owner, with the tenant active) and writes rows through the module's
services; add one when you add a tenant table.
"""

from __future__ import annotations

ROW_MAKERS: list = []


def row_maker(func):
    ROW_MAKERS.append(func)
    return func


@row_maker
def accounts_and_core_rows(persona, api):
    # a token (accounts_apitoken) made with an Idempotency-Key (core_idempotencyrecord); the
    # persona's membership and the audit events exist already
    response = api.post(
        "auth/tokens",
        persona,
        json={"name": "rls"},
        headers={"HTTP_IDEMPOTENCY_KEY": f"rls-{persona.org.slug}"},
    )
    assert response.status_code == 201, response.content
