"""Row-level security is the second wall: prove it holds with raw SQL as the application role."""

from __future__ import annotations

import pytest
from django.db import connection, connections, transaction
from psycopg import errors as pg_errors
from psycopg import sql

from clinic.core.database import role_safety_problem
from clinic.core.security import tenant_models
from clinic.core.tenancy import tenant_activate
from tests.rls_rows import ROW_MAKERS

pytestmark = pytest.mark.django_db

TENANT_TABLES = sorted(m._meta.db_table for m in tenant_models())


@pytest.fixture
def two_clinics(api, owner_a, practitioner_a, owner_b):
    """Rows in every tenant table for both clinics, made by the row makers in tests/rls_rows.py."""
    for persona in (owner_a, owner_b):
        for make in ROW_MAKERS:
            with transaction.atomic():
                tenant_activate(persona.org.id, persona.user.id)
                make(persona, api)
    return owner_a, owner_b


def _count(table: str, where: str = "", params=()) -> int:
    with connection.cursor() as cur:
        cur.execute(
            sql.SQL("SELECT count(*) FROM {} " + where)
            .format(sql.Identifier(table))
            .as_string(cur.connection),
            params,
        )
        return cur.fetchone()[0]


def test_every_tenant_table_has_forced_rls_and_a_policy():
    assert "accounts_membership" in TENANT_TABLES and "audit_auditevent" in TENANT_TABLES
    with connection.cursor() as cur:
        cur.execute(
            "SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity, "
            "  (SELECT count(*) FROM pg_policy p WHERE p.polrelid = c.oid) "
            "FROM pg_class c WHERE c.relname = ANY(%s)",
            [TENANT_TABLES],
        )
        rows = {r[0]: r[1:] for r in cur.fetchall()}
    assert set(rows) == set(TENANT_TABLES)
    for table, (enabled, forced, policies) in rows.items():
        assert enabled and forced and policies >= 1, table


def test_every_table_with_an_organization_column_is_a_tenant_table():
    with connection.cursor() as cur:
        cur.execute(
            "SELECT table_name FROM information_schema.columns "
            "WHERE table_schema = 'public' AND column_name = 'organization_id'"
        )
        tables = {r[0] for r in cur.fetchall()}
    assert tables <= set(TENANT_TABLES), tables - set(TENANT_TABLES)


@pytest.mark.parametrize("table", TENANT_TABLES)
def test_no_tenant_set_sees_no_rows(table, two_clinics):
    with transaction.atomic():
        tenant_activate(None)
        assert _count(table) == 0


@pytest.mark.parametrize("table", TENANT_TABLES)
def test_clinic_a_sees_none_of_clinic_b(table, two_clinics):
    owner_a, owner_b = two_clinics
    with transaction.atomic():
        tenant_activate(owner_a.org.id)
        assert _count(table, "WHERE organization_id = %s", [owner_b.org.id]) == 0
        assert _count(table, "WHERE organization_id = %s", [owner_a.org.id]) > 0, (
            f"no row in {table}: add a row maker for it in tests/rls_rows.py"
        )


def test_writes_into_another_tenant_are_refused(two_clinics):
    owner_a, owner_b = two_clinics
    with pytest.raises(Exception) as excinfo, transaction.atomic():
        tenant_activate(owner_a.org.id)
        with connection.cursor() as cur:
            cur.execute(
                "UPDATE accounts_membership SET role = 'owner' WHERE organization_id = %s "
                "RETURNING id",
                [owner_b.org.id],
            )
            assert cur.fetchall() == []
            cur.execute(
                "INSERT INTO accounts_membership (id, organization_id, user_id, role, "
                "is_active, created_at) VALUES (gen_random_uuid(), %s, %s, 'owner', "
                "true, now())",
                [owner_b.org.id, owner_a.user.id],
            )
    assert "row-level security" in str(excinfo.value)


@pytest.mark.django_db(databases=["default", "owner"])
def test_application_role_is_safe_and_owner_role_is_refused():
    assert role_safety_problem(connections["default"]) is None
    problem = role_safety_problem(connections["owner"])
    assert problem and "owns" in problem


@pytest.mark.django_db(databases=["default", "owner"])
def test_startup_check_refuses_the_owner_role():
    from clinic.core.startup import serving_refused_reason

    assert serving_refused_reason("default") is None
    assert "owns" in serving_refused_reason("owner")


def test_application_role_cannot_change_audit_rows(two_clinics):
    owner_a, _ = two_clinics
    for statement in (
        "UPDATE audit_auditevent SET action = 'x'",
        "DELETE FROM audit_auditevent",
        "TRUNCATE audit_auditevent",
    ):
        with pytest.raises(Exception) as excinfo, transaction.atomic():
            tenant_activate(owner_a.org.id)
            with connection.cursor() as cur:
                cur.execute(statement)
        assert isinstance(excinfo.value.__cause__, pg_errors.InsufficientPrivilege), statement
